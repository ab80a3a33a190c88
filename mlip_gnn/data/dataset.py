"""In-memory dataset of atomic graphs."""

from __future__ import annotations

from typing import List, Sequence

import torch
from torch.utils.data import Dataset

from mlip_gnn.data.configuration import Configuration
from mlip_gnn.data.graph import AtomicGraph, SpeciesTable, graph_from_configuration

__all__ = ["GraphDataset"]


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
