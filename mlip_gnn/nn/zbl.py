"""Ziegler-Biersack-Littmark (ZBL) universal screened nuclear repulsion.

J. F. Ziegler, J. P. Biersack, U. Littmark, The Stopping and Range of Ions in Solids (1985).
Switched off smoothly between 0.8 and 1.0 times the sum of covalent radii, so it acts only
where DFT data are scarce (close approach) and leaves equilibrium distances to the network.
"""

from typing import List

import torch

__all__ = ["ZBLRepulsion", "COVALENT_RADII"]

#: Covalent radii in Å, index = atomic number (0 = dummy), Z = 1..96.
#: B. Cordero et al., Dalton Trans. 2832 (2008), as tabulated in ASE.
COVALENT_RADII: List[float] = [
    0.2, 0.31, 0.28, 1.28, 0.96, 0.84, 0.76, 0.71, 0.66, 0.57, 0.58, 1.66, 1.41, 1.21, 1.11,
    1.07, 1.05, 1.02, 1.06, 2.03, 1.76, 1.7, 1.6, 1.53, 1.39, 1.39, 1.32, 1.26, 1.24, 1.32,
    1.22, 1.22, 1.2, 1.19, 1.2, 1.2, 1.16, 2.2, 1.95, 1.9, 1.75, 1.64, 1.54, 1.47, 1.46, 1.42,
    1.39, 1.45, 1.44, 1.42, 1.39, 1.39, 1.38, 1.39, 1.4, 2.44, 2.15, 2.07, 2.04, 2.03, 2.01,
    1.99, 1.98, 1.98, 1.96, 1.94, 1.92, 1.92, 1.89, 1.9, 1.87, 1.87, 1.75, 1.7, 1.62, 1.51,
    1.44, 1.41, 1.36, 1.36, 1.32, 1.45, 1.46, 1.48, 1.4, 1.5, 1.5, 2.6, 2.21, 2.15, 2.06, 2.0,
    1.96, 1.9, 1.87, 1.8, 1.69,
]

_COULOMB = 14.399645478425668  # e²/(4πε0), eV·Å


class ZBLRepulsion(torch.nn.Module):
    """Pair energy of the ZBL screened Coulomb repulsion, per edge (eV).

    ``atomic_numbers[s]`` is the atomic number of species index ``s``.
    """

    def __init__(self, atomic_numbers: List[int]):
        super().__init__()
        self.coulomb = _COULOMB
        for z in atomic_numbers:
            if not 1 <= z < len(COVALENT_RADII):
                raise ValueError(f"ZBL has no covalent radius for atomic number {z}")
        self.register_buffer("z", torch.tensor(atomic_numbers, dtype=torch.float64))
        self.register_buffer("radius", torch.tensor([COVALENT_RADII[z] for z in atomic_numbers],
                                                    dtype=torch.float64))

    def forward(self, species_i: torch.Tensor, species_j: torch.Tensor,
                r: torch.Tensor) -> torch.Tensor:
        """Pair energies [e] (eV) of edges of length ``r`` [e] (Å) between species indices
        ``species_i``, ``species_j`` [e]."""
        z_i = self.z[species_i]  # [e]
        z_j = self.z[species_j]
        a = 0.46850 / (torch.pow(z_i, 0.23) + torch.pow(z_j, 0.23))  # screening length, Å
        x = r / a
        phi = (0.18175 * torch.exp(-3.19980 * x) + 0.50986 * torch.exp(-0.94229 * x)
               + 0.28022 * torch.exp(-0.40290 * x) + 0.02817 * torch.exp(-0.20162 * x))
        energy = self.coulomb * z_i * z_j / r * phi
        # C² switch from 1 at 0.8 r_c to 0 at r_c, r_c = sum of covalent radii
        r_c = self.radius[species_i] + self.radius[species_j]
        t = ((r - 0.8 * r_c) / (0.2 * r_c)).clamp(0.0, 1.0)
        switch = 1.0 - t * t * t * (10.0 - 15.0 * t + 6.0 * t * t)
        return 0.5 * energy * switch  # 0.5: each pair appears as two directed edges
