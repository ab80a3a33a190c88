"""mlip_gnn: E(3)-equivariant message-passing interatomic potentials."""

__version__ = "0.2.0"

__all__ = ["__version__"]
