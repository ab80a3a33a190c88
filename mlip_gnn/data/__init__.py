"""Reading structures, neighbour lists, atomic graphs, batching and statistics."""

from mlip_gnn.data import keys
from mlip_gnn.data.configuration import (Configuration, KeyMap, configuration_from_atoms,
                                         optional_moments, read_configurations, read_many)
from mlip_gnn.data.dataset import DiskGraphDataset, GraphDataset
from mlip_gnn.data.errors import DataError, UnknownSpeciesError
from mlip_gnn.data.graph import (AtomicGraph, SpeciesTable, collate,
                                 graph_from_configuration, to_device)
from mlip_gnn.data.neighbours import neighbour_list
from mlip_gnn.data.ondisk import DiskFrames, is_dataset_dir
from mlip_gnn.data.statistics import (average_num_neighbours, force_rms,
                                      interaction_energy_per_atom, reference_energies)
from mlip_gnn.data.summary import DatasetStatistics

__all__ = [
    "keys", "Configuration", "KeyMap", "configuration_from_atoms", "read_configurations",
    "read_many", "GraphDataset", "DataError", "UnknownSpeciesError", "AtomicGraph",
    "SpeciesTable", "collate", "graph_from_configuration", "to_device", "neighbour_list",
    "average_num_neighbours", "force_rms", "interaction_energy_per_atom",
    "reference_energies", "DiskGraphDataset", "DiskFrames", "is_dataset_dir",
    "DatasetStatistics", "optional_moments",
]
