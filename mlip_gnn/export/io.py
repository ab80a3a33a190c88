"""Exporting a trained potential to TorchScript (or an AOTInductor package), and loading
any model source.

A model source is an exported TorchScript file, an AOTInductor ``.pt2`` package, a
checkpoint (``best.pt`` / ``last.pt``) or a run directory (its ``best.pt``, else
``last.pt``). The exported TorchScript file is loaded with
``torch.jit.load`` alone; its metadata is the JSON extra file :data:`METADATA_FILE`
(also kept as the scripted attribute ``metadata_json``).
"""

from __future__ import annotations

import copy
import datetime
import json
import os
import zipfile
from pathlib import Path
from typing import Any, Callable, Dict, Tuple

import torch

import mlip_gnn
from mlip_gnn.errors import MlipGnnError
from mlip_gnn.export.aoti import AOTIUnavailableError, export_aoti, is_aoti, load_aoti
from mlip_gnn.export.deployed import DeployedPotential, engine_interface
from mlip_gnn.model import DTYPES
from mlip_gnn.modelio import (CheckpointError, ModelSpec, build_from_spec, find_checkpoint,
                              model_from_checkpoint)
from mlip_gnn.modelio.checkpoint import is_archive
from mlip_gnn.utils.files import atomic_write

__all__ = ["ModelFileError", "METADATA_FILE", "UNITS", "FORMAT_VERSION", "deploy",
           "export_model", "export_potential", "load_model", "read_metadata",
           "is_torchscript", "resolve_model_path", "EXPORT_FORMATS"]

METADATA_FILE = "metadata.json"
FORMAT = "mlip_gnn.torchscript"
# 2: the model spec's architecture under "architecture" (1: builder arguments under
# "model_kwargs", beside a second copy of species, r_max, dtype and E0s)
FORMAT_VERSION = 2
UNITS = {"length": "Å", "energy": "eV", "forces": "eV/Å",
         "stress": "eV/Å³ (ASE sign: positive = tensile)", "virial": "eV"}


class ModelFileError(MlipGnnError, ValueError):
    """Raised when a model path is missing, is neither a TorchScript export nor a
    checkpoint, was written in a newer format, or a run directory holds no checkpoint."""


def is_torchscript(path: os.PathLike) -> bool:
    """True for a TorchScript archive (``torch.jit.save``), False for anything else."""
    try:
        with zipfile.ZipFile(path) as archive:
            return any(name.endswith("/constants.pkl") or "/code/" in name
                       for name in archive.namelist())
    except (zipfile.BadZipFile, OSError):
        return False


def resolve_model_path(path: os.PathLike) -> Path:
    """A run directory → its ``best.pt`` (else ``last.pt``); a file → itself."""
    try:
        return find_checkpoint(path)
    except CheckpointError as exc:
        raise ModelFileError(str(exc)) from None


def _symbols(atomic_numbers) -> list:
    from ase.data import chemical_symbols

    return [chemical_symbols[int(z)] for z in atomic_numbers]


def _module_spec(model: torch.nn.Module) -> ModelSpec:
    """The spec of an in-memory potential that came without one (no architecture)."""
    dtype = {v: k for k, v in DTYPES.items()}.get(model.e0.dtype)
    if dtype is None:
        raise ModelFileError(f"model dtype {model.e0.dtype} is not one of {sorted(DTYPES)}")
    e0s = dict(zip(model.atomic_numbers, model.e0.detach().cpu().tolist()))
    return ModelSpec(model.atomic_numbers, float(model.r_max), dtype, e0s)


def _metadata(spec: ModelSpec, extra: Dict[str, Any]) -> Dict[str, Any]:
    symbols = _symbols(spec.species)
    return {
        "format": FORMAT, "format_version": FORMAT_VERSION,
        "package": "mlip_gnn", "version": mlip_gnn.__version__,
        "torch_version": torch.__version__,
        "atomic_numbers": list(spec.species), "symbols": symbols,
        "r_max": spec.r_max, "dtype": spec.dtype,
        "e0s": {s: spec.e0s.get(z, 0.0) for s, z in zip(symbols, spec.species)},
        "architecture": dict(spec.architecture),
        "units": UNITS,
        "exported_at": datetime.datetime.now(datetime.timezone.utc).isoformat(),
        **extra,
    }


def _checkpoint_model(path: Path, use_ema: bool
                      ) -> Tuple[torch.nn.Module, ModelSpec, Dict[str, Any]]:
    if not is_archive(path):
        raise ModelFileError(f"{path} is not a model: neither a TorchScript export nor an "
                             "mlip_gnn checkpoint")
    try:
        model, spec, state = model_from_checkpoint(path, use_ema=use_ema)
    except CheckpointError as exc:
        raise ModelFileError(str(exc)) from None
    extra = {"config": state.get("config"), "config_hash": state.get("config_hash"),
             "trained_with_version": state.get("version"), "epoch": state.get("epoch"),
             # best.pt stores the EMA weights as its model weights ("weights": "ema")
             "ema": bool(use_ema and state.get("ema")) or state.get("weights") == "ema",
             "source": str(path)}
    return model, spec, extra


def _in_dtype(model: torch.nn.Module, spec: ModelSpec) -> torch.nn.Module:
    """``model`` in the spec's dtype. A model built in float32 holds its constants (Bessel
    frequencies, Clebsch–Gordan and product bases) rounded to float32; casting it to
    float64 would keep that rounding (equivariance to 1e-8 only), so when the spec tells
    the architecture the model is rebuilt in the new dtype and given the weights."""
    current = next((b.dtype for b in model.buffers() if b.is_floating_point()), None)
    if current == spec.torch_dtype or not spec.architecture:
        return model.to(dtype=spec.torch_dtype)
    rebuilt = build_from_spec(spec)
    exact = {name: value.clone() for name, value in rebuilt.named_buffers()}
    rebuilt.load_state_dict(model.state_dict())
    with torch.no_grad():  # reference energies, scale and shift: from the spec, not rounded
        for name, value in rebuilt.named_buffers():
            if name in ("e0", "scale", "shift"):
                value.copy_(exact[name])
    return rebuilt


def deploy(model: torch.nn.Module, device: str = "cpu", dtype: str | None = None,
           spec: ModelSpec | None = None, extra: Dict[str, Any] | None = None
           ) -> Tuple[DeployedPotential, Dict[str, Any]]:
    """Wrap ``model`` (moved to ``device``, cast to ``dtype``; default: the spec's) as an
    eager :class:`DeployedPotential`, and its metadata. ``spec`` defaults to what the
    module itself tells (species, r_max, dtype, E0s)."""
    spec = spec if spec is not None else _module_spec(model)
    dtype = spec.dtype if dtype is None else dtype
    if dtype not in DTYPES:
        raise ModelFileError(f"dtype: got {dtype!r}; choose one of {sorted(DTYPES)}")
    spec = spec.replace(dtype=dtype)  # the metadata describes the model as exported
    model = _in_dtype(model, spec).to(device=torch.device(device)).eval()
    meta = _metadata(spec, {**engine_interface(model), **dict(extra or {})})
    text = json.dumps(meta, default=str, ensure_ascii=False)
    deployed = DeployedPotential(model, meta["symbols"], dtype, text).to(torch.device(device))
    return deployed.eval(), meta


#: called with the eager deployed module before it is written (e.g. to attach an LLPR fit)
Attach = Callable[[DeployedPotential], None]


def _attached(deployed: DeployedPotential, meta: Dict[str, Any],
              attach: Attach | None) -> Dict[str, Any]:
    """Run ``attach``; the metadata then names the uncertainty fit the module carries."""
    if attach is None:
        return meta
    attach(deployed)
    if deployed.has_llpr:
        meta = {**meta, "uncertainty": {"llpr": {"force_rows": int(deployed.llpr_rows.shape[0])}}}
        deployed.metadata_json = json.dumps(meta, default=str, ensure_ascii=False)
    return meta


def export_potential(model: torch.nn.Module, output: os.PathLike, device: str = "cpu",
                     dtype: str | None = None, extra: Dict[str, Any] | None = None,
                     spec: ModelSpec | None = None, attach: Attach | None = None
                     ) -> Path:
    """Script a :class:`~mlip_gnn.model.Potential` (a copy; ``model`` is untouched) and
    write it atomically to ``output`` with its metadata. ``attach`` may add to the
    deployed module first (an LLPR fit: :func:`mlip_gnn.uncertainty.attach_stored_llpr`)."""
    from e3nn.util.jit import script

    deployed, meta = deploy(copy.deepcopy(model), device, dtype, spec, extra)
    meta = _attached(deployed, meta, attach)
    scripted = script(deployed, in_place=False)
    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    with atomic_write(output, "wb") as handle:
        torch.jit.save(scripted, handle, _extra_files={METADATA_FILE: json.dumps(
            meta, default=str, ensure_ascii=False, indent=1)})
    return output


#: export formats: TorchScript (``torch.jit.load`` alone) or an AOTInductor package
EXPORT_FORMATS = ("torchscript", "aoti")


def export_model(source: os.PathLike, output: os.PathLike, device: str = "cpu",
                 dtype: str | None = None, use_ema: bool = True,
                 format: str = "torchscript", attach: Attach | None = None) -> Path:
    """Export the model of a run directory or checkpoint to a TorchScript file, or with
    ``format="aoti"`` to an ahead-of-time compiled ``.pt2`` package
    (:func:`mlip_gnn.export.aoti.export_aoti`; ``attach`` is for TorchScript only)."""
    if format not in EXPORT_FORMATS:
        raise ModelFileError(f"format: got {format!r}; choose one of {list(EXPORT_FORMATS)}")
    path = resolve_model_path(source)
    if is_torchscript(path) or is_aoti(path):
        raise ModelFileError(f"{path} is already an exported model; export takes a run "
                             "directory or a checkpoint")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ModelFileError(f"device: got {device!r} but CUDA is not available here")
    model, spec, extra = _checkpoint_model(path, use_ema)
    if format == "aoti":
        if spec.architecture.get("spin", "none") != "none":
            raise ModelFileError("--format aoti: the compiled package takes no magnetic "
                                 "moments; export a spin model as TorchScript")
        if device != "cpu":
            raise ModelFileError("--format aoti compiles for the CPU here; export "
                                 "TorchScript for other devices")
        deployed, meta = deploy(copy.deepcopy(model), device, dtype, spec, extra)
        return export_aoti(deployed, meta, output)
    return export_potential(model, output, device, dtype, extra, spec, attach)


def read_metadata(path: os.PathLike) -> Dict[str, Any]:
    """The metadata of an exported file, read from the archive without loading the model.

    Raises :class:`ModelFileError` when the file holds none or was written in a newer
    format than this version reads.
    """
    try:
        with zipfile.ZipFile(path) as archive:
            name = next((n for n in archive.namelist()
                         if n.endswith(f"/extra/{METADATA_FILE}")), None)
            text = archive.read(name).decode("utf-8") if name else ""
        meta = json.loads(text) if text else None
    except (zipfile.BadZipFile, OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelFileError(f"{path}: cannot read the export's metadata ({exc})") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise ModelFileError(f"{path} is a TorchScript file but not an mlip_gnn export "
                             f"(no {METADATA_FILE} of format {FORMAT!r})")
    found = meta.get("format_version", 1)
    if not isinstance(found, int) or found > FORMAT_VERSION:
        raise ModelFileError(
            f"{path} was exported in format {found!r} by mlip_gnn {meta.get('version', '?')}; "
            f"mlip_gnn {mlip_gnn.__version__} reads formats up to {FORMAT_VERSION}. Install "
            "a newer mlip_gnn, or load the file with torch.jit.load alone.")
    return meta


def load_model(source: os.PathLike, device: str = "cpu", use_ema: bool = True,
               dtype: str | None = None) -> Tuple[torch.nn.Module, Dict[str, Any]]:
    """Any model source → (module with :class:`DeployedPotential`'s interface, metadata).

    An exported file gives the scripted module (``dtype`` must then match its dtype, or be
    None); a checkpoint or run directory gives an eager :class:`DeployedPotential`.
    """
    path = resolve_model_path(source)
    if is_aoti(path):
        if device != "cpu":
            raise ModelFileError(f"{path} is compiled for the CPU")
        try:
            module, meta = load_aoti(path)
        except AOTIUnavailableError as exc:
            raise ModelFileError(str(exc)) from None
        if dtype is not None and dtype != meta["dtype"]:
            raise ModelFileError(f"{path} was exported in {meta['dtype']}; export it again "
                                 f"with --dtype {dtype}")
        return module.eval(), meta
    if is_torchscript(path):
        meta = read_metadata(path)  # the format is checked before the model is loaded
        try:
            module = torch.jit.load(str(path), map_location=device)
        except RuntimeError as exc:
            raise ModelFileError(f"{path}: cannot load TorchScript model: "
                                 f"{str(exc).splitlines()[0][:200]}") from None
        if dtype is not None and dtype != meta["dtype"]:
            raise ModelFileError(f"{path} was exported in {meta['dtype']}; export it again "
                                 f"with --dtype {dtype}")
        return module.eval(), meta
    model, spec, extra = _checkpoint_model(path, use_ema)
    return deploy(model, device, dtype, spec, extra)
