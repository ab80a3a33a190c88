"""Datasets of atomic graphs: built once in memory, or read from disk frame by frame."""

from __future__ import annotations

from typing import List, Sequence

import numpy as np
import torch
from torch.utils.data import Dataset

from mlip_gnn.data import keys
from mlip_gnn.data.configuration import Configuration
from mlip_gnn.data.graph import AtomicGraph, SpeciesTable, graph_from_configuration

__all__ = ["GraphDataset", "DiskGraphDataset"]


def _reweighted(graph: AtomicGraph, factor: float) -> AtomicGraph:
    """``graph`` with its loss weight (``keys.WEIGHT``) multiplied by ``factor``."""
    if factor == 1.0:
        return graph
    return {**graph, keys.WEIGHT: graph[keys.WEIGHT] * factor}


class GraphDataset(Dataset):
    """Graphs built once (neighbour lists included) from a list of configurations;
    ``weights`` (one per configuration) multiply their loss weights."""

    def __init__(self, configs: Sequence[Configuration], r_max: float, species: SpeciesTable,
                 dtype: torch.dtype = torch.float64,
                 weights: Sequence[float] | None = None):
        self.configs = list(configs)
        self.graphs: List[AtomicGraph] = [
            graph_from_configuration(c, r_max, species, dtype) for c in self.configs]
        if weights is not None:
            self.graphs = [_reweighted(g, float(w)) for g, w in zip(self.graphs, weights,
                                                                     strict=True)]

    def __len__(self) -> int:
        return len(self.graphs)

    def __getitem__(self, index: int) -> AtomicGraph:
        return self.graphs[index]


class DiskGraphDataset(Dataset):
    """Graphs of on-disk frames, built when a frame is read (in a DataLoader worker when
    there are workers): memory does not grow with the number of frames.

    ``frames`` is a :class:`~mlip_gnn.data.ondisk.DiskFrames`; ``indices`` selects and
    orders a subset of its frames (default: all); ``weights`` (one per frame of the
    dataset) multiply their loss weights.
    """

    def __init__(self, frames, r_max: float, species: SpeciesTable,
                 dtype: torch.dtype = torch.float64, indices: Sequence[int] | None = None,
                 weights: Sequence[float] | None = None):
        self.frames, self.r_max, self.species, self.dtype = frames, r_max, species, dtype
        self.indices = None if indices is None else np.asarray(indices, dtype=np.int64)
        self.weights = None if weights is None else np.asarray(weights, dtype=np.float64)
        if self.weights is not None and len(self.weights) != len(self):
            raise ValueError(f"{len(self.weights)} weights for {len(self)} frames")

    def __len__(self) -> int:
        return len(self.frames) if self.indices is None else len(self.indices)

    def __getitem__(self, index: int) -> AtomicGraph:
        frame = index if self.indices is None else int(self.indices[index])
        graph = graph_from_configuration(self.frames[frame], self.r_max, self.species,
                                         self.dtype)
        return graph if self.weights is None else _reweighted(graph, self.weights[index])
