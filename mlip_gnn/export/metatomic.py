"""Export to the metatomic model interface (LAMMPS ``pair_style metatomic``, i-PI, ASE's
``MetatomicCalculator``, TorchSim, …).

The file is a metatomic ``AtomisticModel``: it declares an ``energy`` output in eV (per
system or per atom), the atomic types, the cutoff of its neighbour list (r_max, full
list), an interaction range of num_layers × r_max, the length unit Å, the model's dtype
and the devices cpu and cuda. The engine computes forces and stress by autograd of that
energy. Our own metadata (species, r_max, dtype, E0s, version, config hash, …) is kept as
JSON under the metadata's ``extra["mlip_gnn"]``.

metatomic is an optional dependency: ``pip install 'mlip_gnn[metatomic]'``.

>>> export_metatomic("runs/cu", "cu-metatomic.pt")  # doctest: +SKIP
>>> from metatomic_ase import MetatomicCalculator  # doctest: +SKIP
>>> atoms.calc = MetatomicCalculator("cu-metatomic.pt")  # doctest: +SKIP
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Dict, Tuple

import torch

import mlip_gnn
from mlip_gnn.errors import MlipGnnError
from mlip_gnn.export.aoti import is_aoti
from mlip_gnn.export.io import ModelFileError, is_torchscript, load_model, resolve_model_path
from mlip_gnn.utils.files import atomic_write

__all__ = ["INSTALL_HINT", "MetatomicUnavailableError", "check_exportable",
           "export_metatomic", "require_metatomic"]

INSTALL_HINT = "pip install 'mlip_gnn[metatomic]'  (or: pip install metatomic-torch metatomic-ase)"
#: device types the export runs on, in order of preference (an engine picks the first
#: one it has)
SUPPORTED_DEVICES = ["cuda", "cpu"]


class MetatomicUnavailableError(MlipGnnError, ImportError):
    """Raised when the metatomic export is asked for but metatomic-torch is not installed."""


def require_metatomic() -> None:
    """Raise :class:`MetatomicUnavailableError`, naming the pip command to run, unless
    metatomic-torch (and metatensor-torch) can be imported."""
    try:
        import metatensor.torch  # noqa: F401
        import metatomic.torch  # noqa: F401
    except ImportError as exc:
        raise MetatomicUnavailableError(
            f"--format metatomic needs the optional dependency metatomic-torch, which is "
            f"not installed here ({exc}); install it with: {INSTALL_HINT}") from None


def check_exportable(deployed: torch.nn.Module) -> None:
    """Refuse a model whose inputs metatomic cannot pass: per-atom magnetic moments (a
    collinear-spin model), or a long-range term (not yet supported)."""
    refused = {"spin": "per-atom magnetic moments, which the metatomic interface does "
                       "not pass",
               "long_range": "a long-range term, which is not yet supported in the "
                             "metatomic export"}
    for attribute, why in refused.items():
        value = str(getattr(deployed, attribute, "none"))
        if value != "none":
            raise ModelFileError(f"--format metatomic: this model has {attribute} {value!r} "
                                 f"and needs {why}; export it as TorchScript "
                                 "(--format torchscript)")


def _atomistic_model(deployed: torch.nn.Module, meta: Dict[str, Any]):
    """The metatomic ``AtomisticModel`` around an eager deployed potential."""
    from e3nn.util.jit import script
    from metatomic.torch import (AtomisticModel, ModelCapabilities, ModelMetadata,
                                 ModelOutput)

    from mlip_gnn.export.metatomic_module import MetatomicPotential

    module = MetatomicPotential(script(deployed, in_place=False), float(meta["r_max"]))
    capabilities = ModelCapabilities(
        outputs={"energy": ModelOutput(unit="eV", sample_kind="atom",
                                       explicit_gradients=[])},
        atomic_types=[int(z) for z in meta["atomic_numbers"]],
        interaction_range=float(meta["interaction_range"]),
        length_unit="angstrom", supported_devices=SUPPORTED_DEVICES,
        dtype=str(meta["dtype"]))
    symbols = "".join(meta["symbols"])
    metadata = ModelMetadata(
        name=f"mlip_gnn {symbols}",
        description=(f"E(3)-equivariant message-passing potential for {symbols} "
                     f"(r_max {meta['r_max']} Å, {meta['num_layers']} layers, "
                     f"{meta['dtype']}), exported by mlip_gnn {mlip_gnn.__version__}"),
        references={"implementation": ["mlip_gnn " + mlip_gnn.__version__]},
        extra={"mlip_gnn": json.dumps(meta, default=str, ensure_ascii=False)})
    return AtomisticModel(module.eval(), metadata, capabilities)


def export_metatomic(source: os.PathLike, output: os.PathLike, dtype: str | None = None,
                     use_ema: bool = True, device: str = "cpu"
                     ) -> Tuple[Path, Dict[str, Any]]:
    """Export the model of a run directory or checkpoint to a metatomic file, written
    atomically; return its path and our metadata (also kept in the file).

    ``dtype``: float32 or float64 (default: the trained one). ``device`` must be cpu:
    metatomic saves for the CPU, and the engine moves the model to its device.

    Raises :class:`MetatomicUnavailableError` without metatomic-torch, and
    :class:`~mlip_gnn.export.ModelFileError` for a source that is not a checkpoint or a
    model the interface cannot serve (spin, long-range term).
    """
    require_metatomic()
    if device != "cpu":
        raise ModelFileError(f"device: got {device!r}; a metatomic file is always written "
                             f"for the CPU and the engine moves it to its device (the "
                             f"model declares {SUPPORTED_DEVICES})")
    path = resolve_model_path(source)
    if is_torchscript(path) or is_aoti(path):
        raise ModelFileError(f"{path} is already an exported model; export takes a run "
                             "directory or a checkpoint")
    deployed, meta = load_model(path, device="cpu", use_ema=use_ema, dtype=dtype)
    check_exportable(deployed)
    meta = {key: value for key, value in meta.items() if key != "pair_method"}
    meta["format"] = "mlip_gnn.metatomic"
    atomistic = _atomistic_model(deployed, meta)
    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    # AtomisticModel.save writes to a path: it writes the temporary file by its name
    with atomic_write(output, "wb") as handle:
        atomistic.save(handle.name)
    return output, meta
