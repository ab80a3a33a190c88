"""One or several loaded models evaluated on one structure: mean and committee spread."""

from __future__ import annotations

import os
from typing import Dict, List, Sequence, Union

import numpy as np
import torch

from mlip_gnn.data import SpeciesTable, neighbour_list
from mlip_gnn.data.configuration import Configuration
from mlip_gnn.export import deploy, load_model

__all__ = ["Committee", "ModelSource"]

ModelSource = Union[str, os.PathLike, torch.nn.Module]


def _as_deployed(source: ModelSource, device: str, use_ema: bool) -> torch.nn.Module:
    if isinstance(source, torch.nn.Module):
        if hasattr(source, "species_lookup"):  # already a DeployedPotential (eager or scripted)
            return source.to(device)
        return deploy(source, device)[0]
    return load_model(source, device=device, use_ema=use_ema)[0]


class Committee:
    """Models (exported files, checkpoints, run directories or in-memory potentials) that
    are evaluated on the same structure.

    :meth:`predict` returns float64 numpy arrays: ``energy`` (eV), ``energies`` [n] (eV),
    ``forces`` [n, 3] (eV/Å) and, for a cell with volume, ``stress`` [3, 3] (eV/Å³), each the
    committee mean; with two or more models also ``energy_std`` (eV), ``forces_std`` [n]
    (eV/Å, norm of the per-component standard deviation), ``max_forces_std`` (eV/Å) and
    ``stress_std`` [3, 3]. Standard deviations are population ones (divide by the number
    of models).
    """

    def __init__(self, sources: Union[ModelSource, Sequence[ModelSource]], device: str = "cpu",
                 use_ema: bool = True):
        if isinstance(sources, (str, os.PathLike, torch.nn.Module)):
            sources = [sources]
        if not sources:
            raise ValueError("Committee: give at least one model")
        self.device = device
        self.models: List[torch.nn.Module] = [_as_deployed(s, device, use_ema) for s in sources]
        self.tables = [SpeciesTable(m.atomic_numbers) for m in self.models]
        self.r_max = max(float(m.r_max) for m in self.models)

    def __len__(self) -> int:
        return len(self.models)

    @property
    def atomic_numbers(self) -> List[int]:
        """Elements every model knows."""
        common = set(self.tables[0].atomic_numbers)
        for table in self.tables[1:]:
            common &= set(table.atomic_numbers)
        return sorted(common)

    def predict(self, conf: Configuration) -> Dict[str, np.ndarray]:
        """Evaluate every model on ``conf``; raises :class:`~mlip_gnn.data.DataError` for
        overlapping atoms and :class:`~mlip_gnn.data.UnknownSpeciesError` for elements a
        model lacks (both name ``conf.source``)."""
        for table in self.tables:
            table.index(conf.atomic_numbers, conf.source)
        edge_index, shifts = neighbour_list(conf.positions, conf.cell, conf.pbc, self.r_max,
                                            source=conf.source)
        cell = np.where(conf.pbc[:, None], conf.cell, 0.0)
        vectors = (conf.positions[edge_index[1]] - conf.positions[edge_index[0]]
                   + shifts @ cell)
        lengths = np.linalg.norm(vectors, axis=1)
        has_volume = bool(conf.pbc.all() and abs(np.linalg.det(conf.cell)) > 0.0)
        runs = [self._run(model, conf, cell, edge_index, shifts, lengths, has_volume)
                for model in self.models]
        return _combine(runs)

    def _run(self, model, conf, cell, edge_index, shifts, lengths, has_volume):
        keep = lengths < float(model.r_max)  # members may have smaller cutoffs
        device = torch.device(self.device)
        out = model(torch.tensor(conf.positions, dtype=torch.float64, device=device),
                    torch.tensor(conf.atomic_numbers, dtype=torch.long, device=device),
                    torch.tensor(edge_index[:, keep], device=device),
                    torch.tensor(shifts[keep], dtype=torch.float64, device=device),
                    torch.tensor(cell, dtype=torch.float64, device=device), has_volume)
        result = {"energy": out["energy"], "energies": out["atomic_energies"],
                  "forces": out["forces"]}
        if has_volume:
            result["stress"] = out["stress"]
        return {k: v.detach().to("cpu", torch.float64).numpy() for k, v in result.items()}


def _combine(runs: List[Dict[str, np.ndarray]]) -> Dict[str, np.ndarray]:
    out = {k: np.mean([r[k] for r in runs], axis=0) for k in runs[0]}
    out["energy"] = float(out["energy"])
    if len(runs) > 1:
        out["energy_std"] = float(np.std([r["energy"] for r in runs]))
        forces_std = np.std([r["forces"] for r in runs], axis=0)  # [n, 3]
        out["forces_std"] = np.linalg.norm(forces_std, axis=1)  # [n]
        out["max_forces_std"] = float(out["forces_std"].max())
        if "stress" in runs[0]:
            out["stress_std"] = np.std([r["stress"] for r in runs], axis=0)
    return out
