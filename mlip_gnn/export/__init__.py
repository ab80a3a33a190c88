"""Self-contained TorchScript export of a trained potential, and loading model files.

>>> from mlip_gnn.export import export_model, load_model  # doctest: +SKIP
>>> export_model("runs/cu", "cu.pt")  # doctest: +SKIP
>>> model = torch.jit.load("cu.pt")  # no mlip_gnn needed  # doctest: +SKIP
>>> out = model(positions, atomic_numbers, edge_index, cell_shifts, cell, True)  # doctest: +SKIP
"""

from mlip_gnn.export.aoti import AOTIPotential, AOTIUnavailableError, is_aoti
from mlip_gnn.export.deployed import DeployedPotential
from mlip_gnn.export.io import (EXPORT_FORMATS, FORMAT_VERSION, METADATA_FILE, UNITS,
                                ModelFileError, deploy, export_model, export_potential,
                                is_torchscript, load_model, read_metadata, resolve_model_path)

__all__ = ["AOTIPotential", "AOTIUnavailableError", "EXPORT_FORMATS", "is_aoti",
           "DeployedPotential", "FORMAT_VERSION", "METADATA_FILE", "UNITS", "ModelFileError",
           "deploy", "export_model", "export_potential", "is_torchscript", "load_model",
           "read_metadata", "resolve_model_path"]
