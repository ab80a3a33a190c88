"""Radial basis and smooth cutoff envelope for edge lengths."""

import math

import torch

__all__ = ["BesselBasis", "PolynomialEnvelope", "RADIAL_NORMALISATIONS"]


#: prefactor c(r_max) of the Bessel basis c · sin(nπr/r_max) / r, by name
RADIAL_NORMALISATIONS = {
    # r·φ_n orthonormal on [0, r_max] (DimeNet's and MACE's constant): ~0.1 per function
    "orthonormal": lambda r_max: math.sqrt(2.0 / r_max),
    # unit mean square over neighbours spread uniformly in the cutoff sphere (density ∝ r²:
    # ∫ sin²(nπr/r_max) dr / ∫ r² dr = 3 / (2 r_max²)): the older constant, 6.5x the
    # other at r_max = 5 Å, too large a start for a correlation-3 product (init_scheme)
    "unit_mean_square": lambda r_max: r_max * math.sqrt(2.0 / 3.0),
}


class BesselBasis(torch.nn.Module):
    """c · sin(nπ r / r_max) / r, n = 1..num_basis (DimeNet's radial basis, Gasteiger
    et al. 2020).

    ``normalisation`` names the constant c (:data:`RADIAL_NORMALISATIONS`): a fixed part
    of the model, so a stored model keeps the one it was trained with.
    Input [e] Å, output [e, num_basis]. Finite at r → 0 only in the limit; edges of
    length zero are rejected by the neighbour list.
    """

    def __init__(self, r_max: float, num_basis: int = 8,
                 normalisation: str = "orthonormal"):
        super().__init__()
        if normalisation not in RADIAL_NORMALISATIONS:
            raise ValueError(f"BesselBasis: normalisation {normalisation!r} not in "
                             f"{sorted(RADIAL_NORMALISATIONS)}")
        self.r_max = float(r_max)
        self.prefactor = float(RADIAL_NORMALISATIONS[normalisation](self.r_max))
        self.register_buffer("frequencies",
                             math.pi / self.r_max * torch.arange(1, num_basis + 1).double())

    def forward(self, r: torch.Tensor) -> torch.Tensor:
        """[e] Å → [e, num_basis]."""
        r = r.unsqueeze(-1)  # [e, 1]
        return self.prefactor * torch.sin(self.frequencies * r) / r


class PolynomialEnvelope(torch.nn.Module):
    """u(x) = 1 - (p+1)(p+2)/2 x^p + p(p+2) x^(p+1) - p(p+1)/2 x^(p+2), x = r / r_max.

    Goes to zero at r_max with p-1 continuous derivatives (Gasteiger et al., DimeNet),
    so energies and forces are smooth when an atom crosses the cutoff. Zero beyond r_max.
    """

    def __init__(self, r_max: float, p: int = 6):
        super().__init__()
        self.r_max = float(r_max)
        self.p = float(p)

    def forward(self, r: torch.Tensor) -> torch.Tensor:
        """[e] Å → [e]: 1 at r = 0, falling to 0 at r_max with zero slope and curvature."""
        x = r / self.r_max  # [e]
        p = self.p
        u = (1.0 - (p + 1.0) * (p + 2.0) / 2.0 * torch.pow(x, p)
             + p * (p + 2.0) * torch.pow(x, p + 1.0)
             - p * (p + 1.0) / 2.0 * torch.pow(x, p + 2.0))
        return u * (x < 1.0).to(u.dtype)
