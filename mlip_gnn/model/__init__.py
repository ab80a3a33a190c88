"""The potential, its builder and the derivatives that give forces and stress."""

from mlip_gnn.model.builder import DTYPES, build_model
from mlip_gnn.model.compile import compile_energy
from mlip_gnn.model.derivatives import (forces_from_edge_gradients, stress_from_virial,
                                        virial_from_edge_gradients)
from mlip_gnn.model.potential import Potential

__all__ = ["DTYPES", "build_model", "compile_energy", "Potential", "forces_from_edge_gradients",
           "stress_from_virial", "virial_from_edge_gradients"]
