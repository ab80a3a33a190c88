"""Exporting a trained potential to TorchScript, and loading any model source.

A model source is an exported TorchScript file, a checkpoint (``best.pt`` / ``last.pt``) or
a run directory (its ``best.pt``, else ``last.pt``). The exported file is loaded with
``torch.jit.load`` alone; its metadata is the JSON extra file :data:`METADATA_FILE`
(also kept as the scripted attribute ``metadata_json``).
"""

from __future__ import annotations

import datetime
import json
import os
import tempfile
import zipfile
from pathlib import Path
from typing import Any, Dict, Optional, Tuple

import torch

import mlip_gnn
from mlip_gnn.export.deployed import DeployedPotential
from mlip_gnn.model import DTYPES

__all__ = ["ModelFileError", "METADATA_FILE", "UNITS", "export_model", "export_potential",
           "load_model", "read_metadata", "is_torchscript", "resolve_model_path"]

METADATA_FILE = "metadata.json"
FORMAT = "mlip_gnn.torchscript"
FORMAT_VERSION = 1
UNITS = {"length": "Å", "energy": "eV", "forces": "eV/Å",
         "stress": "eV/Å³ (ASE sign: positive = tensile)", "virial": "eV"}
_CHECKPOINT_NAMES = ("best.pt", "last.pt")


class ModelFileError(ValueError):
    """Raised when a model path is missing, is neither a TorchScript export nor a
    checkpoint, or a run directory holds no checkpoint."""


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
    path = Path(path)
    if path.is_dir():
        for name in _CHECKPOINT_NAMES:
            if (path / name).is_file():
                return path / name
        raise ModelFileError(f"{path}: run directory holds no {' or '.join(_CHECKPOINT_NAMES)}")
    if not path.is_file():
        raise ModelFileError(f"{path}: model file not found")
    return path


def _symbols(atomic_numbers) -> list:
    from ase.data import chemical_symbols

    return [chemical_symbols[int(z)] for z in atomic_numbers]


def _metadata(model: torch.nn.Module, dtype: str, extra: Dict[str, Any]) -> Dict[str, Any]:
    symbols = _symbols(model.atomic_numbers)
    e0 = model.e0.detach().cpu().tolist()
    return {
        "format": FORMAT, "format_version": FORMAT_VERSION,
        "package": "mlip_gnn", "version": mlip_gnn.__version__,
        "torch_version": torch.__version__,
        "atomic_numbers": [int(z) for z in model.atomic_numbers], "symbols": symbols,
        "r_max": float(model.r_max), "dtype": dtype,
        "e0s": {s: float(e) for s, e in zip(symbols, e0)},
        "units": UNITS,
        "exported_at": datetime.datetime.now(datetime.timezone.utc).isoformat(),
        **extra,
    }


def _checkpoint_model(path: Path, use_ema: bool) -> Tuple[torch.nn.Module, Dict[str, Any]]:
    from mlip_gnn.train.checkpoint import CheckpointError
    from mlip_gnn.train.model_io import model_from_checkpoint  # only for checkpoints

    try:
        model, state = model_from_checkpoint(path, use_ema=use_ema)
    except CheckpointError as exc:
        raise ModelFileError(f"{path}: neither an exported model nor a usable checkpoint "
                             f"({exc})") from None
    except (RuntimeError, TypeError) as exc:  # weights or builder arguments do not fit
        raise ModelFileError(f"{path}: the checkpoint does not fit this version's model "
                             f"(mlip_gnn {mlip_gnn.__version__}): "
                             f"{' '.join(str(exc).split())[:300]}") from None
    extra = {"config": state.get("config"), "config_hash": state.get("config_hash"),
             "model_kwargs": state.get("model_kwargs"),
             "trained_with_version": state.get("version"), "epoch": state.get("epoch"),
             # best.pt stores the EMA weights as its model weights ("weights": "ema")
             "ema": bool(use_ema and state.get("ema")) or state.get("weights") == "ema",
             "source": str(path)}
    return model, extra


def _deploy(model: torch.nn.Module, device: str, dtype: Optional[str],
            extra: Dict[str, Any]) -> Tuple[DeployedPotential, Dict[str, Any]]:
    if dtype is None:
        dtype = {v: k for k, v in DTYPES.items()}[model.e0.dtype]
    if dtype not in DTYPES:
        raise ModelFileError(f"dtype: got {dtype!r}; choose one of {sorted(DTYPES)}")
    model = model.to(device=torch.device(device), dtype=DTYPES[dtype]).eval()
    meta = _metadata(model, dtype, extra)
    text = json.dumps(meta, default=str, ensure_ascii=False)
    deployed = DeployedPotential(model, meta["symbols"], dtype, text).to(torch.device(device))
    return deployed.eval(), meta


def export_potential(model: torch.nn.Module, output: os.PathLike, device: str = "cpu",
                     dtype: Optional[str] = None, extra: Optional[Dict[str, Any]] = None
                     ) -> Path:
    """Script a :class:`~mlip_gnn.model.Potential` (a copy; ``model`` is untouched) and
    write it atomically to ``output`` with its metadata."""
    import copy

    from e3nn.util.jit import script

    deployed, meta = _deploy(copy.deepcopy(model), device, dtype, dict(extra or {}))
    scripted = script(deployed, in_place=False)
    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=output.parent, prefix=f".{output.name}.", suffix=".tmp")
    os.close(fd)
    try:
        torch.jit.save(scripted, tmp, _extra_files={METADATA_FILE: json.dumps(
            meta, default=str, ensure_ascii=False, indent=1)})
        os.replace(tmp, output)
    finally:
        Path(tmp).unlink(missing_ok=True)
    return output


def export_model(source: os.PathLike, output: os.PathLike, device: str = "cpu",
                 dtype: Optional[str] = None, use_ema: bool = True) -> Path:
    """Export the model of a run directory or checkpoint to a TorchScript file."""
    path = resolve_model_path(source)
    if is_torchscript(path):
        raise ModelFileError(f"{path} is already an exported TorchScript model; "
                             "export takes a run directory or a checkpoint")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ModelFileError(f"device: got {device!r} but CUDA is not available here")
    model, extra = _checkpoint_model(path, use_ema)
    return export_potential(model, output, device, dtype, extra)


def read_metadata(path: os.PathLike) -> Dict[str, Any]:
    """The metadata of an exported file (without loading the model)."""
    extra = {METADATA_FILE: ""}
    torch.jit.load(str(path), map_location="cpu", _extra_files=extra)
    return json.loads(extra[METADATA_FILE])


def load_model(source: os.PathLike, device: str = "cpu", use_ema: bool = True,
               dtype: Optional[str] = None) -> Tuple[torch.nn.Module, Dict[str, Any]]:
    """Any model source → (module with :class:`DeployedPotential`'s interface, metadata).

    An exported file gives the scripted module (``dtype`` must then match its dtype, or be
    None); a checkpoint or run directory gives an eager :class:`DeployedPotential`.
    """
    path = resolve_model_path(source)
    if is_torchscript(path):
        extra = {METADATA_FILE: ""}
        try:
            module = torch.jit.load(str(path), map_location=device, _extra_files=extra)
        except RuntimeError as exc:
            raise ModelFileError(f"{path}: cannot load TorchScript model: "
                                 f"{str(exc).splitlines()[0][:200]}") from None
        meta = json.loads(extra[METADATA_FILE] or module.metadata_json)
        if dtype is not None and dtype != meta["dtype"]:
            raise ModelFileError(f"{path} was exported in {meta['dtype']}; export it again "
                                 f"with --dtype {dtype}")
        return module.eval(), meta
    model, extra = _checkpoint_model(path, use_ema)
    return _deploy(model, device, dtype, extra)
