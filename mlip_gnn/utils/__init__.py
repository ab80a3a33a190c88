"""Helpers that depend on nothing else of the package (standard library only)."""

from mlip_gnn.utils.files import atomic_write

__all__ = ["atomic_write"]
