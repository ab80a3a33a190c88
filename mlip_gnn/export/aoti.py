"""Ahead-of-time compiled export: torch.export + AOTInductor, one ``.pt2`` package.

The exported function is the one an MD engine calls (positions, atomic numbers, edge
index, cell shifts, cell → energy, per-atom energies, forces, pair forces, virial and
stress), forces and stress included: the derivatives are traced into the graph
(``make_fx`` records the backward pass as plain operations) before ``torch.export``, so
the package needs no autograd at run time. Numbers of atoms and edges are dynamic. The
package holds the metadata of a TorchScript export as its extra file ``metadata.json``;
:class:`AOTIPotential` loads it with the TorchScript export's interface.

Tracing needs static control flow, so the model is traced with its data-dependent paths
switched to equivalents: no edge chunking (the export's memory is that of the plain
forward), and per-species weights of the many-body product applied by masks instead of
grouping the atoms by species (a model of S elements computes the product S times).
"""

from __future__ import annotations

import copy
import json
import logging
import os
import tempfile
import warnings
import zipfile
from pathlib import Path
from typing import Any, Dict, List, Tuple

import numpy as np
import torch

from mlip_gnn.data import keys
from mlip_gnn.errors import MlipGnnError

__all__ = ["AOTI_SUFFIX", "AOTIPotential", "AOTIUnavailableError", "export_aoti", "is_aoti",
           "load_aoti", "OUTPUT_KEYS"]

_log = logging.getLogger(__name__)

AOTI_SUFFIX = ".pt2"
METADATA = "metadata.json"
#: the package's outputs, in order
OUTPUT_KEYS = (keys.TOTAL_ENERGY, keys.ATOMIC_ENERGIES, keys.FORCES, keys.EDGE_FORCES,
               keys.VIRIAL, keys.STRESS)


class AOTIUnavailableError(MlipGnnError):
    """Raised when ahead-of-time compilation cannot run here (no C++ compiler, a torch
    without AOTInductor) or a package cannot be loaded; the TorchScript export is the
    fallback."""


def _static_paths(potential: torch.nn.Module) -> torch.nn.Module:
    """A copy of ``potential`` whose modules take their data-independent paths."""
    potential = copy.deepcopy(potential)
    for module in potential.modules():
        if hasattr(module, "chunked"):
            module.chunked = False
        if hasattr(module, "group_by_species"):
            module.group_by_species = False
    return potential


def _example(species: List[int], r_max: float, dtype: torch.dtype):
    """A small periodic structure of every species with edges, to trace with."""
    spacing = 0.45 * r_max
    grid = np.stack(np.meshgrid(*[np.arange(3)] * 3, indexing="ij"), -1).reshape(-1, 3)
    rng = np.random.default_rng(0)
    positions = grid * spacing + rng.normal(0.0, 0.05 * spacing, grid.shape)
    numbers = np.array([species[i % len(species)] for i in range(len(grid))])
    cell = np.eye(3) * 3 * spacing
    from mlip_gnn.data.neighbours import neighbour_list

    edges, shifts = neighbour_list(positions, cell, np.ones(3, bool), r_max)
    return (torch.tensor(positions, dtype=dtype), torch.tensor(numbers),
            torch.tensor(edges), torch.tensor(shifts, dtype=dtype),
            torch.tensor(cell, dtype=dtype))


def _traced(deployed: torch.nn.Module, example: Tuple[torch.Tensor, ...]):
    from torch.fx.experimental.proxy_tensor import make_fx

    potential = _static_paths(deployed.model).eval()
    lookup = deployed.species_lookup

    def call(positions, numbers, edge_index, shifts, cell):
        graph = {keys.POSITIONS: positions, keys.SPECIES: lookup[numbers],
                 keys.EDGE_INDEX: edge_index, keys.EDGE_CELL_SHIFT: shifts,
                 keys.CELL: cell.reshape(1, 3, 3),
                 keys.BATCH: torch.zeros_like(numbers)}
        out = potential(graph, True, True, False)
        return (out[keys.TOTAL_ENERGY][0], out[keys.ATOMIC_ENERGIES], out[keys.FORCES],
                out[keys.EDGE_FORCES], out[keys.VIRIAL][0], out[keys.STRESS][0])

    return make_fx(call, tracing_mode="symbolic", _allow_non_fake_inputs=True)(*example)


def export_aoti(deployed: torch.nn.Module, meta: Dict[str, Any], output: os.PathLike
                ) -> Path:
    """Compile an eager :class:`~mlip_gnn.export.DeployedPotential` ahead of time into the
    ``.pt2`` package ``output`` (written atomically), with ``meta`` as its metadata."""
    from torch.export import Dim

    output = Path(output)
    if output.suffix != AOTI_SUFFIX:
        raise AOTIUnavailableError(f"{output}: an AOTInductor package must end in "
                                   f"{AOTI_SUFFIX}")
    dtype = deployed.model.e0.dtype
    example = _example(list(deployed.atomic_numbers), float(deployed.r_max), dtype)
    atoms, edges = Dim("atoms", min=2), Dim("edges", min=2)
    dynamic = ({0: atoms}, {0: atoms}, {1: edges}, {0: edges}, None)
    try:
        with warnings.catch_warnings():
            # torch's own packaging code uses a deprecated pytree check (torch 2.13)
            warnings.filterwarnings("ignore", message=r".*LeafSpec.*", category=FutureWarning)
            try:
                _compile_package(deployed, meta, example, dynamic, output, {})
            except RuntimeError:
                # Inductor's parallel C++ code generation fails for some scatter-adds
                # (torch 2.13, float64, more than one thread); serial kernels compile
                _log.warning("AOTInductor could not generate multi-threaded kernels; the "
                             "package is compiled for one thread")
                _compile_package(deployed, meta, example, dynamic, output,
                                 {"cpp.threads": 1})
    except (ImportError, RuntimeError, OSError) as exc:  # no compiler, unsupported op, ...
        first = str(exc).strip().splitlines()[0][:300] if str(exc).strip() else type(exc)
        raise AOTIUnavailableError(f"ahead-of-time compilation failed ({first}); the "
                                   "TorchScript export (--format torchscript) works "
                                   "without it") from None
    return output


def _compile_package(deployed: torch.nn.Module, meta: Dict[str, Any], example: tuple,
                     dynamic: tuple, output: Path, options: Dict[str, Any]) -> None:
    """Trace, export, compile (with inductor ``options``) and package (atomically:
    staged, then renamed)."""
    program = torch.export.export(_traced(deployed, example), example,
                                  dynamic_shapes=dynamic, strict=False)
    from torch._inductor import aot_compile
    from torch.export.pt2_archive._package import package_pt2

    files = aot_compile(program.module(), example,
                        options={"aot_inductor.package": True, **options})
    output.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=output.parent) as tmp:
        staged = Path(tmp) / output.name
        package_pt2(str(staged), aoti_files=files,
                    extra_files={METADATA: json.dumps({**meta, "format": FORMAT_AOTI},
                                                      default=str)})
        os.replace(staged, output)


FORMAT_AOTI = "mlip_gnn.aoti"


def is_aoti(path: os.PathLike) -> bool:
    """Whether ``path`` is a PT2 archive (an AOTInductor package)."""
    try:
        with zipfile.ZipFile(path) as archive:
            return any(n.endswith("/archive_format") for n in archive.namelist())
    except (zipfile.BadZipFile, OSError):
        return False


class AOTIPotential(torch.nn.Module):
    """A loaded ``.pt2`` package with the TorchScript export's call: ``(positions,
    atomic_numbers, edge_index, cell_shifts, cell, compute_stress)`` → dict of
    energy, atomic_energies, forces, edge_forces and (with ``compute_stress``) virial and
    stress. Elements the model does not know raise a ValueError naming them."""

    def __init__(self, runner: Any, meta: Dict[str, Any]):
        super().__init__()
        self.runner = runner
        self.atomic_numbers: List[int] = list(meta["atomic_numbers"])
        self.symbols: List[str] = list(meta.get("symbols", []))
        self.r_max = float(meta["r_max"])
        self.model_dtype: str = meta["dtype"]
        self.metadata_json = json.dumps(meta, default=str)
        self._dtype = {"float32": torch.float32, "float64": torch.float64}[self.model_dtype]

    def forward(self, positions: torch.Tensor, atomic_numbers: torch.Tensor,
                edge_index: torch.Tensor, cell_shifts: torch.Tensor, cell: torch.Tensor,
                compute_stress: bool = True) -> Dict[str, torch.Tensor]:
        """The compiled model's outputs (energy, forces, stress, ...) for one graph."""
        unknown = sorted(set(atomic_numbers.tolist()) - set(self.atomic_numbers))
        if unknown:
            raise ValueError(f"UnknownSpeciesError: atomic number(s) {unknown} not known to "
                             f"the model; it was trained on {self.atomic_numbers}")
        out = self.runner(positions.to(self._dtype), atomic_numbers.to(torch.long),
                          edge_index.to(torch.long), cell_shifts.to(self._dtype),
                          cell.to(self._dtype))
        result = dict(zip(OUTPUT_KEYS, out))
        if not compute_stress:
            result.pop(keys.VIRIAL)
            result.pop(keys.STRESS)
        return result


def load_aoti(path: os.PathLike) -> Tuple[AOTIPotential, Dict[str, Any]]:
    """The package at ``path`` as an :class:`AOTIPotential` (CPU), and its metadata."""
    try:
        from torch.export.pt2_archive._package import load_pt2

        contents = load_pt2(os.fspath(path))
        meta = json.loads(contents.extra_files[METADATA])
        runner = contents.aoti_runners["model"]
    except (ImportError, RuntimeError, KeyError, OSError, ValueError) as exc:
        raise AOTIUnavailableError(f"{path}: cannot load the AOTInductor package "
                                   f"({str(exc).splitlines()[0][:200] if str(exc) else exc!r})"
                                   ) from None
    if meta.get("format") != FORMAT_AOTI:
        raise AOTIUnavailableError(f"{path} is a PT2 package but not an mlip_gnn export")
    return AOTIPotential(runner, meta), meta
