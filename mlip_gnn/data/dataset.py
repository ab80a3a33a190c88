"""Datasets of atomic graphs: built once in memory, or read from disk frame by frame."""

from __future__ import annotations

from typing import List, Optional, Sequence

import numpy as np
import torch
from torch.utils.data import Dataset

from mlip_gnn.data.configuration import Configuration
from mlip_gnn.data.graph import AtomicGraph, SpeciesTable, graph_from_configuration

__all__ = ["GraphDataset", "DiskGraphDataset"]


class GraphDataset(Dataset):
    """Graphs built once (neighbour lists included) from a list of configurations."""

    def __init__(self, configs: Sequence[Configuration], r_max: float, species: SpeciesTable,
                 dtype: torch.dtype = torch.float64):
        self.configs = list(configs)
        self.graphs: List[AtomicGraph] = [
            graph_from_configuration(c, r_max, species, dtype) for c in self.configs]

    def __len__(self) -> int:
        return len(self.graphs)

    def __getitem__(self, index: int) -> AtomicGraph:
        return self.graphs[index]


class DiskGraphDataset(Dataset):
    """Graphs of on-disk frames, built when a frame is read (in a DataLoader worker when
    there are workers): memory does not grow with the number of frames.

    ``frames`` is a :class:`~mlip_gnn.data.ondisk.DiskFrames`; ``indices`` selects and
    orders a subset of its frames (default: all).
    """

    def __init__(self, frames, r_max: float, species: SpeciesTable,
                 dtype: torch.dtype = torch.float64, indices: Optional[Sequence[int]] = None):
        self.frames, self.r_max, self.species, self.dtype = frames, r_max, species, dtype
        self.indices = None if indices is None else np.asarray(indices, dtype=np.int64)

    def __len__(self) -> int:
        return len(self.frames) if self.indices is None else len(self.indices)

    def __getitem__(self, index: int) -> AtomicGraph:
        if self.indices is not None:
            index = int(self.indices[index])
        return graph_from_configuration(self.frames[index], self.r_max, self.species,
                                        self.dtype)
