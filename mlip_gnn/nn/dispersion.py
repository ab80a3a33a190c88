"""Grimme's D3 dispersion with Becke–Johnson damping, a fixed baseline added to the model.

E_disp = -Σ_{i<j} [s6 C6_ij / (r^6 + f^6) + s8 C8_ij / (r^8 + f^8)],  f = a1 R0_ij + a2,
with C6_ij interpolated between reference values by the atoms' coordination numbers
(Gaussian weights exp(-4 (CN - CN_ref)²)), C8_ij = 3 C6_ij Q_i Q_j and R0_ij = √(3 Q_i Q_j)
(Grimme et al., J. Chem. Phys. 132, 154104 (2010); J. Comput. Chem. 32, 1456 (2011)). The
reference tables and the functionals' damping parameters are tad-dftd3's, read once when
the model is built and kept as buffers, so an export carries them. Two-body only (no
Axilrod–Teller–Muto three-body term); pairs within 60 bohr (CN: 40 bohr), all periodic
images included. The network is then trained on what remains of the reference energy.
"""

from typing import List, Tuple

import torch

__all__ = ["D3Dispersion", "DISPERSION", "d3_parameters"]

BOHR = 0.52917721067  # Å
HARTREE = 27.211386245988  # eV
#: ``model.long_range.dispersion``
DISPERSION = ("none", "d3bj")


def d3_parameters(functional: str) -> Tuple[float, float, float, float]:
    """(s6, s8, a1, a2 / bohr) of D3(BJ) for ``functional`` (tad-dftd3's table)."""
    try:
        from tad_dftd3.param.functional import get_functional_params
    except ImportError:
        raise ImportError("model.long_range.dispersion: d3bj needs tad-dftd3 "
                          "(pip install 'mlip_gnn[d3]' or pip install tad-dftd3)") from None
    try:
        params = get_functional_params(functional, "bj", dtype=torch.float64)
    except (KeyError, ValueError) as exc:
        raise ValueError(f"no D3(BJ) parameters for functional {functional!r} ({exc})") from None
    return (float(params.get("s6", 1.0)), float(params["s8"]), float(params["a1"]),
            float(params["a2"]))


class D3Dispersion(torch.nn.Module):
    """D3(BJ) two-body energies of the model's species (atomic numbers, in its order)."""

    def __init__(self, atomic_numbers: List[int], functional: str = "pbe",
                 cutoff_bohr: float = 60.0, cn_cutoff_bohr: float = 40.0):
        super().__init__()
        s6, s8, a1, a2 = d3_parameters(functional)  # says what to install if tad-dftd3 lacks
        import tad_dftd3
        from tad_mctc.data import radii

        self.functional = functional
        self.s6, self.s8, self.a1, self.a2 = s6, s8, a1, a2
        self.bohr = BOHR  # Å, kept in the export (TorchScript reads no module globals)
        self.hartree = HARTREE  # eV
        self.cutoff = float(cutoff_bohr)
        self.cn_cutoff = float(cn_cutoff_bohr)
        z = torch.tensor(atomic_numbers, dtype=torch.long)
        reference = tad_dftd3.reference.Reference(dtype=torch.float64)
        self.register_buffer("ref_cn", reference.cn[z].to(torch.float64))  # [S, R]
        self.register_buffer("ref_c6", reference.c6[z][:, z].to(torch.float64))  # [S,S,R,R]
        self.register_buffer("r4r2", tad_dftd3.data.R4R2(dtype=torch.float64)[z])  # [S]
        self.register_buffer("rcov", radii.COV_D3(dtype=torch.float64)[z])  # [S] bohr

    def _pairs(self, positions: torch.Tensor, cell: torch.Tensor, periodic: bool
               ) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Every ordered pair (i, j, image) within the cutoff: i [p], j [p], r [p] bohr."""
        n = positions.shape[0]
        pos = positions / self.bohr
        i = torch.arange(n, device=pos.device).repeat_interleave(n)
        j = torch.arange(n, device=pos.device).repeat(n)
        if periodic:
            lattice = cell / self.bohr
            volume = torch.abs(torch.linalg.det(lattice))
            reps: List[int] = []
            for k in range(3):
                cross = torch.linalg.cross(lattice[(k + 1) % 3], lattice[(k + 2) % 3])
                spacing = volume / torch.linalg.norm(cross)  # between lattice planes
                reps.append(int(torch.ceil(self.cutoff / spacing).item()))
            grid = torch.meshgrid([torch.arange(-m, m + 1, device=pos.device, dtype=pos.dtype)
                                   for m in reps], indexing="ij")
            shifts = torch.stack([g.reshape(-1) for g in grid], dim=-1) @ lattice  # [s, 3]
        else:
            shifts = torch.zeros(1, 3, dtype=pos.dtype, device=pos.device)
        vectors = (pos[j] - pos[i]).unsqueeze(0) + shifts.unsqueeze(1)  # [s, n², 3]
        r = torch.linalg.norm(vectors, dim=-1)  # [s, n²]
        same = (i == j).unsqueeze(0) & (torch.linalg.norm(shifts, dim=-1) == 0).unsqueeze(1)
        keep = (r < self.cutoff) & ~same
        index = torch.nonzero(keep)  # [p, 2]: (shift, pair)
        pair = index[:, 1]
        # the distance again, from the kept vectors only: no gradient through masked ones
        kept = vectors[index[:, 0], pair]
        return i[pair], j[pair], torch.linalg.norm(kept, dim=-1)

    def forward(self, species: torch.Tensor, positions: torch.Tensor, cell: torch.Tensor,
                periodic: bool) -> torch.Tensor:
        """Per-atom dispersion energies [n] eV of one frame: species [n], positions [n, 3]
        Å, cell [3, 3] Å (used when ``periodic``)."""
        n = positions.shape[0]
        if n < 2 and not periodic:
            return torch.zeros(n, dtype=positions.dtype, device=positions.device)
        i, j, r = self._pairs(positions, cell, periodic)
        dtype = positions.dtype
        si = species[i]
        sj = species[j]
        # coordination numbers (D3 counting function, covalent radii already scaled by 4/3)
        rc = (self.rcov[si] + self.rcov[sj]).to(dtype)
        count = 1.0 / (1.0 + torch.exp(-16.0 * (rc / r - 1.0)))
        count = torch.where(r < self.cn_cutoff, count, torch.zeros_like(count))
        cn = torch.zeros(n, dtype=dtype, device=positions.device).index_add(0, i, count)
        # Gaussian weights of each atom's reference systems (a log-sum-exp keeps them finite)
        ref_cn = self.ref_cn[species].to(dtype)  # [n, R]
        valid = ref_cn >= 0.0
        logits = torch.where(valid, -4.0 * (ref_cn - cn.unsqueeze(-1)) ** 2,
                             torch.full_like(ref_cn, -1e30))
        weights = torch.softmax(logits, dim=-1) * valid.to(dtype)  # [n, R]
        c6_ref = self.ref_c6[si, sj].to(dtype)  # [p, R, R]
        c6 = torch.einsum("pa,pab,pb->p", weights[i], c6_ref, weights[j])
        qq = 3.0 * (self.r4r2[si] * self.r4r2[sj]).to(dtype)
        f = self.a1 * torch.sqrt(qq) + self.a2
        pair = -(self.s6 * c6 / (r ** 6 + f ** 6) + self.s8 * c6 * qq / (r ** 8 + f ** 8))
        energies = torch.zeros(n, dtype=dtype, device=positions.device)
        return 0.5 * self.hartree * energies.index_add(0, i, pair)  # each pair twice: half each
