"""Helpers for choosing irreducible representations."""

from e3nn import o3

__all__ = ["natural_irreps"]


def natural_irreps(channels: int, max_ell: int) -> o3.Irreps:
    """``channels`` copies of each l ≤ max_ell with parity (-1)^l: 0e + 1o + 2e + …"""
    return o3.Irreps([(channels, (ell, (-1) ** ell)) for ell in range(max_ell + 1)])
