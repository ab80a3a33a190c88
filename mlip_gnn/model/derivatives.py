"""Forces, virial and stress from the derivative of the energy with respect to edge vectors.

With r_ij = r_j - r_i + S_ij·cell and g_ij = ∂E/∂r_ij (the pair force):
    F_k = -∂E/∂r_k = Σ_{i=k} g_ij - Σ_{j=k} g_ij
    W   = -Σ_ij r_ij ⊗ g_ij                      (virial, eV)
    σ   = -W / V = (1/V) ∂E/∂ε                   (stress, eV/Å³, ASE sign: positive = tensile)
A homogeneous strain ε maps every r_ij to (1+ε) r_ij, so ∂E/∂ε = Σ g_ij ⊗ r_ij; this is the
same result as differentiating through a strained cell and positions (Knuth et al., Comput.
Phys. Commun. 190, 33 (2015); NequIP's grad_output), and it holds for ghost-atom pair lists.
"""

from typing import Tuple

import torch

__all__ = ["forces_from_edge_gradients", "virial_from_edge_gradients", "stress_from_virial"]


def forces_from_edge_gradients(edge_grad: torch.Tensor, edge_index: torch.Tensor,
                               num_atoms: int) -> torch.Tensor:
    """edge_grad [e, 3] eV/Å, edge_index [2, e] → forces [num_atoms, 3] eV/Å."""
    forces = torch.zeros(num_atoms, 3, dtype=edge_grad.dtype, device=edge_grad.device)
    forces = forces.index_add(0, edge_index[0], edge_grad)
    return forces.index_add(0, edge_index[1], -edge_grad)


def virial_from_edge_gradients(edge_grad: torch.Tensor, edge_vectors: torch.Tensor,
                               edge_graph: torch.Tensor, num_graphs: int) -> torch.Tensor:
    """[e, 3] pair forces, [e, 3] edge vectors, [e] frame of each edge → virial [g, 3, 3] eV."""
    per_edge = -edge_vectors.unsqueeze(-1) * edge_grad.unsqueeze(-2)  # [e, 3, 3]
    virial = torch.zeros(num_graphs, 3, 3, dtype=edge_grad.dtype, device=edge_grad.device)
    virial = virial.index_add(0, edge_graph, per_edge)
    return 0.5 * (virial + virial.transpose(-1, -2))


def stress_from_virial(virial: torch.Tensor, cell: torch.Tensor
                       ) -> Tuple[torch.Tensor, torch.Tensor]:
    """virial [g, 3, 3] eV, cell [g, 3, 3] Å → (stress [g, 3, 3] eV/Å³, volume [g] Å³).

    Frames without a cell (volume 0) get zero stress instead of a division by zero.
    """
    volume = torch.abs(torch.linalg.det(cell))  # [g]
    safe = torch.where(volume > 0.0, volume, torch.ones_like(volume))
    stress = -virial / safe.view(-1, 1, 1)
    return stress * (volume > 0.0).to(stress.dtype).view(-1, 1, 1), volume
