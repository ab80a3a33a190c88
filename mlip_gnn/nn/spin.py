"""Collinear magnetic moments as model inputs, through invariants even under time reversal.

A collinear moment m_i (μB, a signed scalar along one global axis) is odd under time
reversal, which flips every moment at once; the energy must not change. The model
therefore sees the moments only through

    x_i  = m_i² / m0²                      (node: the size of the local moment)
    s_ij = m_i m_j / m0²                   (edge: parallel > 0, antiparallel < 0)
    t_ij = (m_i² + m_j²) / (2 m0²)         (edge: the sizes of both moments)

which are unchanged when every m flips (exactly, bit for bit) and are polynomials, so the
energy is smooth in m and -∂E/∂m_i exists everywhere (|m| would not be at m = 0). The node
term is added to the species embedding and feeds a per-species on-site energy of x_i
(zero at m = 0); the edge terms multiply the radial basis, so the
radial MLP sees R(r), s_ij·R(r) and t_ij·R(r): a Heisenberg-like J(r) m_i m_j and a
moment-dependent bond appear in the first linear layer (cf. the magnetic MTP of
Novikov et al., npj Comput. Mater. 8, 13 (2022), and mHDNNP, Eckhoff & Behler,
npj Comput. Mater. 7, 170 (2021), which also build on products of moments).
Positions enter exactly as without spin, so rotations, reflections and permutations
act as for the spin-free model (moments are permuted with their atoms and are scalars
under rotation: the collinear axis is not tied to the lattice).
"""

from typing import Dict, Type

import torch

__all__ = ["CollinearSpin", "SPIN_MODES", "spin_module", "EDGE_SPIN_CHANNELS"]

#: radial-basis copies the MLP sees with spin: R, s_ij·R, t_ij·R
EDGE_SPIN_CHANNELS = 3


class CollinearSpin(torch.nn.Module):
    """Node and edge features of collinear moments; ``moment_scale`` m0 in μB."""

    def __init__(self, num_channels: int, moment_scale: float, num_species: int,
                 onsite_hidden: int = 16):
        super().__init__()
        self.moment_scale = float(moment_scale)
        # no bias: an atom without a moment keeps exactly its species embedding
        self.node = torch.nn.Linear(2, num_channels, bias=False)
        self.onsite = torch.nn.Sequential(torch.nn.Linear(2, onsite_hidden),
                                          torch.nn.SiLU(),
                                          torch.nn.Linear(onsite_hidden, num_species))

    def _powers(self, magmoms: torch.Tensor) -> torch.Tensor:
        x = torch.square(magmoms / self.moment_scale)  # [n]
        return torch.stack([x, x * x], dim=-1)  # [n, 2]

    def node_features(self, magmoms: torch.Tensor) -> torch.Tensor:
        """magmoms [n] μB → [n, C], added to the species embedding."""
        return self.node(self._powers(magmoms))

    def onsite_energy(self, magmoms: torch.Tensor, species: torch.Tensor) -> torch.Tensor:
        """A learnt per-species function of m_i² [n] (in units of the energy scale), zero
        at m = 0: the on-site (Landau-like) energy of forming a moment, which the messages
        alone reach only through neighbours (the first layer has no residual)."""
        powers = self._powers(magmoms)
        table = self.onsite(powers) - self.onsite(torch.zeros_like(powers))  # [n, S]
        return table.gather(1, species.unsqueeze(-1)).squeeze(-1)

    def edge_features(self, radial: torch.Tensor, magmoms: torch.Tensor,
                      sender: torch.Tensor, receiver: torch.Tensor) -> torch.Tensor:
        """radial [e, B], magmoms [n] μB → [e, 3B]: R, s_ij·R, t_ij·R."""
        m = magmoms / self.moment_scale
        m_i = m[sender]  # [e]
        m_j = m[receiver]
        s = (m_i * m_j).unsqueeze(-1)
        t = (0.5 * (m_i * m_i + m_j * m_j)).unsqueeze(-1)
        return torch.cat([radial, s * radial, t * radial], dim=-1)


#: ``model.spin`` → the module that reads the moments (None: the model sees none)
SPIN_MODES: Dict[str, Type[CollinearSpin] | None] = {"none": None,
                                                       "collinear": CollinearSpin}


def spin_module(mode: str, num_channels: int, moment_scale: float, num_species: int
                ) -> CollinearSpin | None:
    """The spin module of ``mode`` (one of :data:`SPIN_MODES`); None for ``"none"``."""
    if mode not in SPIN_MODES:
        raise ValueError(f"spin {mode!r} is not one of {sorted(SPIN_MODES)}")
    if not moment_scale > 0.0:
        raise ValueError(f"magmom_scale={moment_scale} must be > 0 (μB)")
    cls = SPIN_MODES[mode]
    return None if cls is None else cls(num_channels, moment_scale, num_species)
