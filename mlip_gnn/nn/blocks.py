"""Interaction, many-body product, gated update and readout blocks."""

from typing import List

import torch
from e3nn import nn as e3nn_nn
from e3nn import o3
from e3nn.util.jit import compile_mode

from mlip_gnn.nn.irreps import channel_group_index, tensor_product_instructions

__all__ = ["Interaction", "BodyOrderProduct", "GatedUpdate", "ScalarReadout"]


@compile_mode("script")
class Interaction(torch.nn.Module):
    """Equivariant convolution: m_j = 1/⟨N⟩ Σ_i R(|r_ij|) · (W h_i ⊗ Y(r̂_ij)).

    The radial MLP turns the Bessel × envelope features of each edge into the weights of a
    "uvu" tensor product (NequIP, Batzner et al. 2022; MACE's A-basis, Batatia et al. 2022).
    The sum is divided by the training set's average neighbour count so that feature
    magnitudes do not grow with density.
    """

    def __init__(self, irreps_in: o3.Irreps, irreps_sh: o3.Irreps, irreps_out: o3.Irreps,
                 num_radial: int, radial_mlp: List[int], avg_num_neighbors: float):
        super().__init__()
        self.avg_num_neighbors = float(avg_num_neighbors)
        self.linear_up = o3.Linear(irreps_in, irreps_in)
        irreps_mid, instructions = tensor_product_instructions(irreps_in, irreps_sh,
                                                               irreps_out, "uvu")
        self.tp = o3.TensorProduct(irreps_in, irreps_sh, irreps_mid, instructions,
                                   shared_weights=False, internal_weights=False)
        self.radial = e3nn_nn.FullyConnectedNet(
            [num_radial] + list(radial_mlp) + [self.tp.weight_numel], torch.nn.functional.silu)
        self.linear = o3.Linear(irreps_mid, irreps_out)
        self.out_dim = irreps_mid.dim

    def forward(self, node_feats: torch.Tensor, edge_attrs: torch.Tensor,
                edge_feats: torch.Tensor, sender: torch.Tensor,
                receiver: torch.Tensor) -> torch.Tensor:
        h = self.linear_up(node_feats)  # [n, irreps_in]
        weights = self.radial(edge_feats)  # [e, weight_numel]
        messages = self.tp(h[sender], edge_attrs, weights)  # [e, irreps_mid]
        summed = torch.zeros(node_feats.shape[0], self.out_dim, dtype=messages.dtype,
                             device=messages.device)
        summed = summed.index_add(0, receiver, messages)  # [n, irreps_mid]
        return self.linear(summed / self.avg_num_neighbors)


@compile_mode("script")
class _PowerStep(torch.nn.Module):
    """One more channel-wise power: Linear(B ⊗ A) back onto the irreps of A."""

    def __init__(self, tp: o3.TensorProduct, linear: o3.Linear):
        super().__init__()
        self.tp = tp
        self.linear = linear

    def forward(self, power: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
        return self.linear(self.tp(power, a))


@compile_mode("script")
class BodyOrderProduct(torch.nn.Module):
    """B = Σ_{ν=1..correlation} w_ν(z) ⊙ A^{⊗ν}: many-body features from channel-wise powers.

    A^{⊗ν} is built by ν-1 channel-wise ("uuu") tensor products of A with itself, keeping
    only the irreps of A, so that a product of ν two-body sums is a (ν+1)-body feature
    (MACE, Batatia et al. 2022). Each order gets a weight per species, channel and irrep.
    ``correlation = 1`` leaves A unchanged but for the species weights (NequIP-like).
    """

    def __init__(self, irreps: o3.Irreps, correlation: int, num_species: int):
        super().__init__()
        self.correlation = correlation
        self.tps = torch.nn.ModuleList()
        for _ in range(correlation - 1):
            irreps_mid, instructions = tensor_product_instructions(irreps, irreps, irreps,
                                                                   "uuu")
            self.tps.append(_PowerStep(o3.TensorProduct(irreps, irreps, irreps_mid,
                                                        instructions),
                                       o3.Linear(irreps_mid, irreps)))
        groups = channel_group_index(irreps)
        self.register_buffer("group_index", torch.tensor(groups, dtype=torch.long))
        weights = torch.zeros(correlation, num_species, max(groups) + 1)
        weights[0] = 1.0  # start as the two-body features; higher orders switched on by training
        if correlation > 1:
            weights[1:] = 0.1
        self.species_weights = torch.nn.Parameter(weights)

    def forward(self, a: torch.Tensor, species: torch.Tensor) -> torch.Tensor:
        w = self.species_weights[:, species][:, :, self.group_index]  # [ν, n, dim]
        out = w[0] * a
        power = a
        for nu, tp in enumerate(self.tps):
            power = tp(power, a)  # [n, dim]: (ν+2)-th power of A, projected onto irreps
            out = out + w[nu + 1] * power
        return out


@compile_mode("script")
class GatedUpdate(torch.nn.Module):
    """h' = Gate(W B) + W_skip h: gated nonlinearity (Weiler et al. 2018) and a residual.

    Without ``residual`` (the first layer, whose input is the species embedding) an atom
    with no neighbours gets h' = 0, so its energy is exactly its reference energy.
    """

    def __init__(self, irreps_in: o3.Irreps, irreps_b: o3.Irreps, irreps_out: o3.Irreps,
                 residual: bool = True):
        super().__init__()
        scalars = o3.Irreps([(mul, ir) for mul, ir in irreps_out if ir.l == 0])
        gated = o3.Irreps([(mul, ir) for mul, ir in irreps_out if ir.l > 0])
        gates = o3.Irreps(f"{gated.num_irreps}x0e") if gated.num_irreps else o3.Irreps("")
        self.gate = e3nn_nn.Gate(scalars, [torch.nn.functional.silu],
                                 gates, [torch.sigmoid] if gated.num_irreps else [], gated)
        self.linear = o3.Linear(irreps_b, self.gate.irreps_in)
        self.skip = o3.Linear(irreps_in, self.gate.irreps_out) if residual else None

    def forward(self, b: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        out = self.gate(self.linear(b))
        skip = self.skip
        if skip is not None:
            out = out + skip(h)
        return out


@compile_mode("script")
class ScalarReadout(torch.nn.Module):
    """Per-atom energy contribution from the scalar (0e) channels of a layer's features."""

    def __init__(self, irreps_in: o3.Irreps, hidden: int = 0):
        super().__init__()
        self.hidden = hidden
        self.linear = o3.Linear(irreps_in, o3.Irreps(f"{hidden if hidden else 1}x0e"))
        self.out = torch.nn.Linear(hidden, 1, bias=False) if hidden else torch.nn.Identity()

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        x = self.linear(h)  # [n, hidden or 1]
        if self.hidden > 0:
            x = self.out(torch.nn.functional.silu(x))
        return x.squeeze(-1)  # [n]
