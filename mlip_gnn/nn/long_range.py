"""Long-range electrostatics of learned latent charges.

The network predicts a charge q̃_i (units of e) and a softness s_i > 0 per atom from its
last-layer invariant features; the frame's total charge Q is imposed by sharing the
difference in proportion to the softness, q_i = q̃_i + s_i (Q − Σ_j q̃_j) / Σ_j s_j (the
solution of a charge equilibration with hardness 1/s_i), so a frame labelled with a charge
(``atoms.info["charge"]``) has exactly that charge, and the network can put it on the
atoms that carry it (an ion far from a neutral molecule) instead of on every atom.
The charges are Gaussians of standard deviation σ/√2 (σ the
``smearing``), whose pair energy is k_e q_i q_j erf(r / (√2 σ)) / r: 1/r beyond a few σ,
finite at r = 0. The energy of these charges (self-interaction removed) is

    periodic cell:  the reciprocal-space Ewald sum Σ_k 4π/k² e^{−σ²k²/2} |S(k)|² / (2V)
                    (minus each charge's self term and, for a charged cell, the uniform
                    neutralising background), by Ewald or particle-mesh Ewald (torch-pme);
    open boundary:  ½ Σ_{i≠j} k_e q_i q_j erf(r_ij / (√2 σ)) / r_ij, summed directly.

Both are the same function of the charges and positions (the periodic sum of an isolated
molecule in a large box tends to the direct one), as in the latent Ewald summation of
Cheng, arXiv:2408.15165 (2024) and MACE's LES models: the short-range rest of Coulomb's law
is left to the local network, and only energies and forces are needed to learn the charges.
Mixed boundaries (a slab periodic in two directions) are refused.
"""

from typing import List, Tuple

import torch
import torchpme

__all__ = ["LatentCoulomb", "ELECTROSTATICS", "KSPACE_METHODS", "COULOMB_EV_ANGSTROM",
           "periodic_frames"]

#: k_e = e² / (4π ε0) in eV·Å
COULOMB_EV_ANGSTROM = float(torchpme.prefactors.eV_A)
#: ``model.long_range.electrostatics``
ELECTROSTATICS = ("none", "latent")
#: reciprocal-space methods for periodic cells: Ewald (exact, O(N^{3/2}) at best) and PME
KSPACE_METHODS = ("ewald", "pme")


def periodic_frames(pbc: torch.Tensor) -> List[bool]:
    """pbc [g, 3] → whether each frame is periodic; a frame periodic in one or two
    directions only (a slab, a wire) is refused: the sums beyond the cutoff take all
    three or none."""
    periodic: List[bool] = []
    for b in range(pbc.shape[0]):
        count = int(pbc[b].sum())
        if count not in (0, 3):
            flags: List[bool] = pbc[b].tolist()
            raise ValueError("interactions beyond the cutoff (model.long_range) need a frame "
                             "that is periodic in all three directions or in none; got pbc "
                             + str(flags))
        periodic.append(count == 3)
    return periodic


class LatentCoulomb(torch.nn.Module):
    """Latent charges from invariant features [n, F] and their electrostatic energy.

    ``smearing`` σ (Å); ``kspace`` "ewald" (k-space resolution ``wavelength`` Å, the
    shortest wavelength kept; σ/2 by default: converged to round-off) or "pme" (nominal
    mesh spacing ``wavelength`` Å, 0.75 σ by default; torch-pme takes the next power of
    two of 2L/h + 1 points along a cell vector of length L, so the true spacing is below
    h/2; Lagrange interpolation over ``interpolation_nodes`` points per axis). Measured
    on a disordered 4,096-ion rock-salt cell (σ = 1 Å, float64) against the converged
    mesh: PME's defaults are within 5e-5 of the energy and 3e-3 eV/Å of forces of 3 eV/Å,
    ten times faster than half the spacing; forces are the exact derivatives of the PME
    energy either way, so MD conserves it.
    """

    def __init__(self, num_features: int, smearing: float, kspace: str = "ewald",
                 wavelength: float = 0.0, interpolation_nodes: int = 6,
                 hidden: int = 16):
        super().__init__()
        if kspace not in KSPACE_METHODS:
            raise ValueError(f"kspace {kspace!r} not in {list(KSPACE_METHODS)}")
        if not smearing > 0.0:
            raise ValueError(f"smearing={smearing} must be > 0 (Å)")
        self.smearing = float(smearing)
        self.coulomb_constant = COULOMB_EV_ANGSTROM  # eV·Å, kept in the export
        self.kspace_method: str = kspace
        potential = torchpme.CoulombPotential(smearing=self.smearing,
                                              prefactor=COULOMB_EV_ANGSTROM)
        if kspace == "ewald":
            self.wavelength = float(wavelength) if wavelength > 0.0 else 0.5 * smearing
            self.kspace = torchpme.EwaldCalculator(potential, lr_wavelength=self.wavelength)
        else:
            self.wavelength = float(wavelength) if wavelength > 0.0 else 0.75 * smearing
            self.kspace = torchpme.PMECalculator(potential, mesh_spacing=self.wavelength,
                                                 interpolation_nodes=interpolation_nodes)
        self.charge_head = torch.nn.Sequential(torch.nn.Linear(num_features, hidden),
                                               torch.nn.SiLU(),
                                               torch.nn.Linear(hidden, 1))
        # how readily each atom takes up the charge a frame lacks (a learnt softness)
        self.softness_head = torch.nn.Sequential(torch.nn.Linear(num_features, hidden),
                                                 torch.nn.SiLU(),
                                                 torch.nn.Linear(hidden, 1))

    def charges(self, features: torch.Tensor, batch: torch.Tensor,
                total_charge: torch.Tensor) -> torch.Tensor:
        """features [n, F], batch [n], total charge per frame [g] e → charges [n] e whose
        sum over each frame is its total charge."""
        raw = self.charge_head(features).squeeze(-1)  # [n]
        # softness s_i > 0: the missing charge goes where the network says it belongs (an
        # ion far from a neutral molecule can take all of it), not evenly to every atom
        softness = torch.nn.functional.softplus(self.softness_head(features).squeeze(-1))
        softness = softness + 1e-6  # never all zero
        num_graphs = total_charge.shape[0]
        sums = torch.zeros(num_graphs, dtype=raw.dtype, device=raw.device)
        sums = sums.index_add(0, batch, raw)
        weights = torch.zeros(num_graphs, dtype=raw.dtype, device=raw.device)
        weights = weights.index_add(0, batch, softness)
        excess = (total_charge.to(raw.dtype) - sums) / weights
        return raw + softness * excess[batch]

    def open_energies(self, charges: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
        """Per-atom shares [n] eV of ½ Σ_{i≠j} k_e q_i q_j erf(r_ij/(√2σ))/r_ij."""
        n = positions.shape[0]
        if n < 2:
            return torch.zeros_like(charges)
        pairs = torch.triu_indices(n, n, 1, device=positions.device)  # [2, n(n-1)/2]
        i = pairs[0]
        j = pairs[1]
        r = torch.linalg.norm(positions[j] - positions[i], dim=-1)  # [p]
        kernel = torch.erf(r / (self.smearing * 2.0 ** 0.5)) / r
        pair = 0.5 * self.coulomb_constant * charges[i] * charges[j] * kernel  # half each
        energies = torch.zeros_like(charges).index_add(0, i, pair)
        return energies.index_add(0, j, pair)

    def periodic_energies(self, charges: torch.Tensor, positions: torch.Tensor,
                          cell: torch.Tensor) -> torch.Tensor:
        """Per-atom shares [n] eV (q_i φ_i) of the reciprocal-space sum in ``cell``."""
        no_pairs = torch.zeros(0, 2, dtype=torch.long, device=positions.device)
        no_distances = torch.zeros(0, dtype=positions.dtype, device=positions.device)
        potential = self.kspace(charges.unsqueeze(-1), cell, positions, no_pairs,
                                no_distances)  # [n, 1] eV/e, pair double counting halved
        return charges * potential.squeeze(-1)

    def forward(self, features: torch.Tensor, positions: torch.Tensor, cell: torch.Tensor,
                pbc: torch.Tensor, batch: torch.Tensor, total_charge: torch.Tensor
                ) -> Tuple[torch.Tensor, torch.Tensor]:
        """features [n, F], positions [n, 3] Å, cell [g, 3, 3] Å, pbc [g, 3] bool, batch
        [n], total charge [g] e → (per-atom energies [n] eV, charges [n] e)."""
        charges = self.charges(features, batch, total_charge)
        energies = torch.zeros_like(charges)
        periodic = periodic_frames(pbc)
        for b in range(cell.shape[0]):
            atoms = torch.nonzero(batch == b).squeeze(-1)
            q = charges.index_select(0, atoms)
            r = positions.index_select(0, atoms)
            if periodic[b]:
                share = self.periodic_energies(q, r, cell[b])
            else:
                share = self.open_energies(q, r)
            energies = energies.index_add(0, atoms, share)
        return energies, charges
