"""Atomic graphs (``Dict[str, Tensor]``) built from configurations, and batching."""

from __future__ import annotations

from typing import Dict, List, Sequence

import numpy as np
import torch

from mlip_gnn.data import keys
from mlip_gnn.data.configuration import Configuration
from mlip_gnn.data.errors import UnknownSpeciesError
from mlip_gnn.data.neighbours import neighbour_list

__all__ = ["AtomicGraph", "SpeciesTable", "graph_from_configuration", "collate", "to_device"]

AtomicGraph = Dict[str, torch.Tensor]


class SpeciesTable:
    """Maps atomic numbers to the model's contiguous species indices 0..S-1."""

    def __init__(self, atomic_numbers: Sequence[int]):
        self.atomic_numbers: List[int] = sorted({int(z) for z in atomic_numbers})
        lookup = np.full(119, -1, dtype=np.int64)
        lookup[self.atomic_numbers] = np.arange(len(self.atomic_numbers))
        self._lookup = lookup

    def __len__(self) -> int:
        return len(self.atomic_numbers)

    def index(self, atomic_numbers: np.ndarray, source: str = "<memory>") -> np.ndarray:
        """Species index of each atomic number [n]; an unknown element is a DataError naming
        ``source``."""
        idx = self._lookup[np.asarray(atomic_numbers, dtype=np.int64)]
        if (idx < 0).any():
            from ase.data import chemical_symbols

            unknown = sorted({chemical_symbols[z] for z in np.asarray(atomic_numbers)[idx < 0]})
            known = [chemical_symbols[z] for z in self.atomic_numbers]
            raise UnknownSpeciesError(f"{source}: element(s) {unknown} not known to the "
                                      f"model; it was trained on {known}")
        return idx

    @classmethod
    def from_configurations(cls, configs: Sequence[Configuration]) -> SpeciesTable:
        """The table of every element in ``configs``."""
        return cls(np.unique(np.concatenate([c.atomic_numbers for c in configs])))


def graph_from_configuration(conf: Configuration, r_max: float, species: SpeciesTable,
                             dtype: torch.dtype = torch.float64) -> AtomicGraph:
    """One frame as a graph with its neighbour list and (where present) its labels."""
    edge_index, shifts = neighbour_list(conf.positions, conf.cell, conf.pbc, r_max,
                                        source=conf.source)
    n = conf.num_atoms
    graph: AtomicGraph = {
        keys.POSITIONS: torch.tensor(conf.positions, dtype=dtype),
        keys.SPECIES: torch.from_numpy(species.index(conf.atomic_numbers, conf.source)),
        keys.CELL: torch.tensor(conf.cell, dtype=dtype).unsqueeze(0),
        keys.PBC: torch.tensor(conf.pbc, dtype=torch.bool).unsqueeze(0),
        keys.EDGE_INDEX: torch.from_numpy(edge_index),
        keys.EDGE_CELL_SHIFT: torch.tensor(shifts, dtype=dtype),
        keys.BATCH: torch.zeros(n, dtype=torch.long),
        keys.PTR: torch.tensor([0, n], dtype=torch.long),
        keys.NUM_ATOMS: torch.tensor([n], dtype=torch.long),
        keys.TOTAL_CHARGE: torch.tensor([conf.charge], dtype=dtype),
        keys.WEIGHT: torch.tensor([conf.weight], dtype=dtype),
        keys.ENERGY_WEIGHT: torch.tensor([float(conf.energy is not None)], dtype=dtype),
        keys.FORCES_WEIGHT: torch.tensor([float(conf.forces is not None)], dtype=dtype),
        keys.STRESS_WEIGHT: torch.tensor([float(conf.stress is not None)], dtype=dtype),
        # absent labels are zeros, masked out of losses and metrics by the weights above
        keys.TOTAL_ENERGY: torch.tensor([conf.energy or 0.0], dtype=dtype),
        keys.FORCES: (torch.tensor(conf.forces, dtype=dtype) if conf.forces is not None
                      else torch.zeros(n, 3, dtype=dtype)),
        keys.STRESS: (torch.tensor(conf.stress, dtype=dtype).unsqueeze(0)
                      if conf.stress is not None else torch.zeros(1, 3, 3, dtype=dtype)),
    }
    if conf.magmoms is not None:
        graph.update(_spin_fields(conf, dtype))
    if conf.atomic_charges is not None:
        graph[keys.CHARGES] = torch.tensor(conf.atomic_charges, dtype=dtype)
        graph[keys.CHARGES_WEIGHT] = torch.ones(1, dtype=dtype)
    return graph


def _spin_fields(conf: Configuration, dtype: torch.dtype) -> AtomicGraph:
    """Moments and (masked where absent) -∂E/∂m labels of a frame that has moments."""
    labelled = conf.magnetic_forces is not None
    return {
        keys.MAGMOMS: torch.tensor(conf.magmoms, dtype=dtype),
        keys.MAGNETIC_FORCES: (torch.tensor(conf.magnetic_forces, dtype=dtype) if labelled
                               else torch.zeros(conf.num_atoms, dtype=dtype)),
        keys.MAGNETIC_FORCES_WEIGHT: torch.tensor([float(labelled)], dtype=dtype),
    }


#: label fields only some frames carry (field → whether it has a row per atom); a frame
#: without them is batched with zeros, its mask field (``*_WEIGHT``) 0
_OPTIONAL_LABELS = {keys.CHARGES: True, keys.CHARGES_WEIGHT: False}


def _fill_optional_labels(graphs: Sequence[AtomicGraph]) -> Sequence[AtomicGraph]:
    """``graphs`` where every frame has the optional label fields that any frame has."""
    present = [key for key in _OPTIONAL_LABELS if any(key in g for g in graphs)]
    if all(key in g for g in graphs for key in present):
        return graphs
    filled = []
    for g in graphs:
        g = dict(g)
        dtype = g[keys.POSITIONS].dtype
        for key in present:
            if key not in g:
                rows = int(g[keys.NUM_ATOMS][0]) if _OPTIONAL_LABELS[key] else 1
                g[key] = torch.zeros(rows, dtype=dtype)
        filled.append(g)
    return filled


def collate(graphs: Sequence[AtomicGraph]) -> AtomicGraph:
    """Concatenate frames into one batch; only declared index fields are offset; optional
    labels (per-atom charges) missing from some frames are zeros there, masked out."""
    if len(graphs) == 1:
        return dict(graphs[0])
    graphs = _fill_optional_labels(graphs)
    num_atoms = torch.cat([g[keys.NUM_ATOMS] for g in graphs])
    offsets = torch.cumsum(num_atoms, 0) - num_atoms
    out: AtomicGraph = {}
    for key in graphs[0]:
        if key in keys.NODE_INDEX_FIELDS:
            out[key] = torch.cat([g[key] + off for g, off in zip(graphs, offsets)], dim=1)
        elif key == keys.BATCH:
            out[key] = torch.repeat_interleave(torch.arange(len(graphs)), num_atoms)
        elif key == keys.PTR:
            out[key] = torch.cat([torch.zeros(1, dtype=torch.long), torch.cumsum(num_atoms, 0)])
        else:
            out[key] = torch.cat([g[key] for g in graphs], dim=0)
    return out


def to_device(graph: AtomicGraph, device: torch.device,
              dtype: torch.dtype | None = None) -> AtomicGraph:
    """Move a graph to ``device``; floating fields are cast to ``dtype`` when given."""
    out: AtomicGraph = {}
    for key, value in graph.items():
        if dtype is not None and value.is_floating_point():
            value = value.to(dtype=dtype)
        out[key] = value.to(device, non_blocking=True)
    return out
