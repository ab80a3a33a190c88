"""Interaction, gated update and readout blocks (the many-body product: ``symmetric``)."""

from typing import List

import torch
from e3nn import nn as e3nn_nn
from e3nn import o3
from e3nn.util.jit import compile_mode

from mlip_gnn.nn.edge_tp import EdgeTensorProduct

__all__ = ["Interaction", "GatedUpdate", "ScalarReadout", "EDGE_CHUNK"]

#: edges per chunk when the messages of a large graph are computed in chunks (inference)
EDGE_CHUNK = 16384


@compile_mode("script")
class Interaction(torch.nn.Module):
    """Equivariant convolution: A_i = W · ⟨N⟩^{-1/2} Σ_j R(|r_ij|) · (W_up h_j ⊗ Y(r̂_ij)).

    The radial MLP turns the Bessel × envelope features of each edge into one weight per
    path and channel of the tensor product (NequIP, Batzner et al. 2022; MACE's A-basis,
    Batatia et al. 2022); see :class:`EdgeTensorProduct`. ``irreps_out`` (C channels of
    each irrep) are all the irreps A keeps.

    The sum is divided by the square root of the training set's average neighbour count
    ⟨N⟩: messages of different neighbours partly cancel (radial weights change sign with
    r, Y_l>0 with direction), so the sum of ⟨N⟩ of them grows like ⟨N⟩^{1/2}. Divided by
    ⟨N⟩ instead, A started at 0.06 and the forces at 1 % of their RMS on Zuo's Si; with
    ⟨N⟩^{1/2} they start at 0.3 and 130 %, so no epochs go to growing weights (measured
    with the radial constant of ``init_scheme: legacy``).
    """

    def __init__(self, irreps_in: o3.Irreps, irreps_sh: o3.Irreps, irreps_out: o3.Irreps,
                 num_radial: int, radial_mlp: List[int], avg_num_neighbors: float):
        super().__init__()
        self.avg_num_neighbors = float(avg_num_neighbors)
        self.chunked = True  # large graphs in eval mode: edge chunks (off for tracing)
        self.linear_up = o3.Linear(irreps_in, irreps_in)
        self.tp = EdgeTensorProduct(irreps_in, irreps_sh, irreps_out)
        self.radial = e3nn_nn.FullyConnectedNet(
            [num_radial] + list(radial_mlp) + [self.tp.num_paths * self.tp.channels],
            torch.nn.functional.silu)
        self.linear = o3.Linear(irreps_out, irreps_out)

    def forward(self, node_feats: torch.Tensor, edge_attrs: torch.Tensor,
                edge_feats: torch.Tensor, sender: torch.Tensor,
                receiver: torch.Tensor) -> torch.Tensor:
        """A [n, irreps_out] from ``node_feats`` [n, irreps_in], the edges' spherical harmonics
        ``edge_attrs`` [e, irreps_sh] and radial features ``edge_feats`` [e, num_radial],
        ``sender`` and ``receiver`` [e]."""
        h = self.tp.node_inputs(self.linear_up(node_feats))  # [n, D_in, C]
        n = node_feats.shape[0]
        if not torch.jit.is_scripting() and self._chunks_pay(edge_feats.shape[0]):
            summed = self._chunked_messages(h, edge_attrs, edge_feats, sender, receiver, n)
        else:
            summed = self._messages(h, edge_attrs, edge_feats, sender, receiver, n)
        return self.linear(self.tp.to_irreps(summed) / self.avg_num_neighbors ** 0.5)

    @torch.jit.unused
    def _chunks_pay(self, num_edges: int) -> bool:
        """Chunked messages for large graphs in eval mode (inference), eager only."""
        return (self.chunked and not self.training and num_edges > EDGE_CHUNK
                and torch.is_grad_enabled())

    def _messages(self, h: torch.Tensor, edge_attrs: torch.Tensor, edge_feats: torch.Tensor,
                  sender: torch.Tensor, receiver: torch.Tensor, n: int) -> List[torch.Tensor]:
        """Σ_j of the messages to each node, per output irrep: [n, 2L+1, C]."""
        weights = self.radial(edge_feats)  # [e, P·C]
        messages = self.tp(h[sender], edge_attrs, weights)  # per L: [e, 2L+1, C]
        return [torch.zeros((n,) + m.shape[1:], dtype=m.dtype, device=m.device)
                .index_add(0, receiver, m) for m in messages]

    @torch.jit.unused
    def _chunked_messages(self, h: torch.Tensor, edge_attrs: torch.Tensor,
                          edge_feats: torch.Tensor, sender: torch.Tensor,
                          receiver: torch.Tensor, n: int) -> List[torch.Tensor]:
        """:meth:`_messages` over chunks of :data:`EDGE_CHUNK` edges, each recomputed in the
        backward pass instead of kept: the edge-sized tensors (radial weights, per-path
        products, messages) of one chunk are alive at a time, so memory grows with the
        nodes, not with nodes × neighbours × paths. Same sums up to round-off (order of
        additions). Used for inference (eval mode); training keeps the graph of the
        derivatives, which recomputation does not cover."""
        from torch.utils.checkpoint import checkpoint

        total: List[torch.Tensor] = []
        chunks = zip(*(torch.split(t, EDGE_CHUNK) for t in (edge_attrs, edge_feats, sender,
                                                            receiver)))
        for attrs, feats, snd, rcv in chunks:
            part = checkpoint(self._messages, h, attrs, feats, snd, rcv, n,
                              use_reentrant=False)
            total = list(part) if not total else [a + b for a, b in zip(total, part)]
        return total


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
        """h' [n, irreps_out] from the product ``b`` and the layer's input features ``h``."""
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
        columns = [i for (_, ir), s in zip(irreps_in, irreps_in.slices())
                   if ir.l == 0 and ir.p == 1 for i in range(s.start, s.stop)]
        # the scalar channels of h, which alone reach a linear readout (not in state_dict)
        self.register_buffer("scalar_columns", torch.tensor(columns, dtype=torch.long),
                             persistent=False)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        """Per-atom energies from node features ``h`` [n, irreps]."""
        x = self.linear(h)  # [n, hidden or 1]
        if self.hidden > 0:
            x = self.out(torch.nn.functional.silu(x))
        return x.squeeze(-1)  # [n]

    @torch.jit.export
    def features(self, h: torch.Tensor) -> torch.Tensor:
        """The inputs of the readout's final linear map [n, d]: the readout is linear in
        them (``silu(linear(h))`` with a hidden layer, else the scalar channels of h)."""
        if self.hidden > 0:
            return torch.nn.functional.silu(self.linear(h))
        return h.index_select(1, self.scalar_columns)
