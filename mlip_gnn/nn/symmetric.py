"""Complete channel-wise many-body basis: B = Σ_ν Σ_k w_νk(z) U_νk · A^{⊗ν}.

For each channel, the node's A features form one vector x = (A_0, A_1, …, A_lmax) of
dimension D = Σ(2l+1). Every equivariant polynomial map of degree ν from x onto an output
irrep L is a linear combination of fixed tensors U[M, i1, …, iν], symmetric in the i's
(MACE's symmetric contraction, Batatia et al., NeurIPS 2022; the ACE basis of Drautz 2019).
:func:`symmetric_basis` builds a complete, linearly independent set of them by coupling
irreps one at a time with Clebsch–Gordan coefficients, symmetrising, and keeping an
orthonormal basis of their span, so no mirrored or redundant path costs anything.

Evaluation (:class:`SymmetricContraction`) uses symmetric monomials instead of full
tensor powers, and a Horner split: each monomial x_{i1} x_{i2} ⋯ x_{iν} (i1 ≤ i2 ≤ …) is
written x_{i1} · g_f with g_f a monomial of degree ν − 1. With the species' weights folded
into the basis first, one batched matrix product per species gives every order at once:

    y[M] = Σ_i x_i Σ_f g_f T_z[f, i, M],      T_z = Σ_k w_k(z) U_k.

Memory per atom and channel is the number of monomials of degree < ν (153 for l ≤ 3,
ν = 3), not D^ν.
"""

import collections
import functools
import itertools
from typing import Dict, List, Tuple

import torch
from e3nn import o3
from e3nn.util.jit import compile_mode

__all__ = ["SymmetricBasis", "symmetric_basis", "SymmetricContraction", "PRODUCT_INITS"]

Irrep = Tuple[int, int]  # (l, parity)


class SymmetricBasis:
    """The precomputed basis in monomial form (float64, CPU).

    ``monomials``: index tuples (sorted, degree 0 … ν−1) defining g.
    ``tensor``: [K, F, D, D_out], the Horner coefficients of each path k.
    ``path_order``, ``path_irrep``: ν and the output irrep index of each path.
    """

    def __init__(self, monomials: List[Tuple[int, ...]], tensor: torch.Tensor,
                 path_order: List[int], path_irrep: List[int]):
        self.monomials = monomials
        self.tensor = tensor
        self.path_order = path_order
        self.path_irrep = path_irrep


def _offsets(irreps: List[Irrep]) -> List[int]:
    out, start = [], 0
    for ell, _ in irreps:
        out.append(start)
        start += 2 * ell + 1
    return out


def _symmetrise(t: torch.Tensor) -> torch.Tensor:
    """Average over all permutations of the input indices (all but the first axis)."""
    order = t.dim() - 1
    perms = list(itertools.permutations(range(1, order + 1)))
    return sum(t.permute(0, *p) for p in perms) / len(perms)


def _span(tensors: List[torch.Tensor], tol: float = 1e-9) -> List[torch.Tensor]:
    """An orthonormal basis (Frobenius) of the span of same-shaped tensors."""
    if not tensors:
        return []
    flat = torch.stack([t.reshape(-1) for t in tensors])
    _, s, vh = torch.linalg.svd(flat, full_matrices=False)
    rank = int((s > tol * max(1.0, float(s[0]))).sum())
    return [vh[k].reshape(tensors[0].shape) for k in range(rank)]


def _couple(coupled: Dict[Irrep, List[torch.Tensor]], irreps_in: List[Irrep],
            keep: List[int]) -> Dict[Irrep, List[torch.Tensor]]:
    """One more factor of x: (C of irrep l) ⊗ (block b of x) → every L in ``keep``."""
    dim = sum(2 * ell + 1 for ell, _ in irreps_in)
    offsets = _offsets(irreps_in)
    out: Dict[Irrep, List[torch.Tensor]] = {}
    for (ell, par), tensors in coupled.items():
        for (lb, pb), start in zip(irreps_in, offsets):
            embed = torch.zeros(2 * lb + 1, dim, dtype=torch.float64)
            embed[:, start:start + 2 * lb + 1] = torch.eye(2 * lb + 1, dtype=torch.float64)
            for big_l in range(abs(ell - lb), ell + lb + 1):
                if big_l not in keep:
                    continue
                w3j = o3.wigner_3j(ell, lb, big_l, dtype=torch.float64)  # [l, lb, L]
                for c in tensors:
                    # new[M, i…, j] = Σ_{m, mb} w3j[m, mb, M] C[m, i…] embed[mb, j]
                    new = torch.einsum("abM,a...,bj->M...j", w3j, c, embed)
                    out.setdefault((big_l, par * pb), []).append(new)
    return {ir: _span([_symmetrise(t) for t in ts]) for ir, ts in out.items()}


@functools.cache
def symmetric_basis(irreps_in: Tuple[Irrep, ...], irreps_out: Tuple[Irrep, ...],
                    correlation: int) -> SymmetricBasis:
    """Complete basis of symmetric equivariant maps x^{⊗ν} → irreps_out, ν = 1..correlation.

    ``irreps_in``/``irreps_out`` are (l, parity) per block of one channel's vector.
    """
    irreps_in = list(irreps_in)
    irreps_out = list(irreps_out)
    dim = sum(2 * ell + 1 for ell, _ in irreps_in)
    max_in = max(ell for ell, _ in irreps_in)
    max_out = max(ell for ell, _ in irreps_out)
    monomials = [m for deg in range(correlation)
                 for m in itertools.combinations_with_replacement(range(dim), deg)]
    mono_index = {m: f for f, m in enumerate(monomials)}
    out_offsets = _offsets(irreps_out)
    dim_out = sum(2 * ell + 1 for ell, _ in irreps_out)

    coupled: Dict[Irrep, List[torch.Tensor]] = {}
    offsets = _offsets(irreps_in)
    for (ell, par), start in zip(irreps_in, offsets):  # degree 1: the blocks themselves
        t = torch.zeros(2 * ell + 1, dim, dtype=torch.float64)
        t[:, start:start + 2 * ell + 1] = torch.eye(2 * ell + 1, dtype=torch.float64)
        coupled.setdefault((ell, par), []).append(t)

    paths: List[torch.Tensor] = []
    path_order: List[int] = []
    path_irrep: List[int] = []
    for nu in range(1, correlation + 1):
        if nu > 1:
            # an intermediate l must still be able to reach an output irrep
            reach = max_out + (correlation - nu) * max_in
            coupled = _couple(coupled, irreps_in, list(range(reach + 1)))
        for j, ir in enumerate(irreps_out):
            for u in coupled.get(ir, []):
                paths.append(_horner(u, monomials, mono_index, out_offsets[j], dim_out))
                path_order.append(nu)
                path_irrep.append(j)
    tensor = (torch.stack(paths) if paths
              else torch.zeros(0, len(monomials), dim, dim_out, dtype=torch.float64))
    return SymmetricBasis(monomials, tensor, path_order, path_irrep)


def _horner(u: torch.Tensor, monomials: List[Tuple[int, ...]],
            mono_index: Dict[Tuple[int, ...], int], out_start: int,
            dim_out: int) -> torch.Tensor:
    """Symmetric U[M, i1…iν] → T[f, i, M'] with U·x^{⊗ν} = Σ_i x_i Σ_f g_f T[f, i, M']."""
    nu = u.dim() - 1
    dim = u.shape[1]
    t = torch.zeros(len(monomials), dim, dim_out, dtype=torch.float64)
    for idx in itertools.combinations_with_replacement(range(dim), nu):
        coef = u[(slice(None),) + idx]  # [2L+1]
        if not bool(coef.abs().max() > 1e-14):
            continue
        mult = len(set(itertools.permutations(idx)))  # terms of the symmetric sum
        t[mono_index[idx[1:]], idx[0], out_start:out_start + coef.shape[0]] += mult * coef
    return t


#: how the weights of the orders ν ≥ 2 start (ν = 1 starts at one: B ≈ A), by name
PRODUCT_INITS = ("zero", "random")


def _initial_weights(basis: SymmetricBasis, num_species: int, channels: int,
                     higher_orders: str = "zero") -> torch.Tensor:
    """w[z, k, c]: 1 for ν = 1 (B ≈ A at the start); for each higher (order, output irrep)
    zero (``"zero"``: B = A at the start, the orders ν ≥ 2 grow from their gradients, which
    are not zero) or N(0, 1/paths) (``"random"``, every order at the scale of A^ν: with
    correlation 3 and the old radial constant, A of rms 1.5, max 16 on a 15-atom molecule
    gave forces of rms 1e7-3e7 eV/Å at the start, 3e7-6e7 times the data's)."""
    if higher_orders not in PRODUCT_INITS:
        raise ValueError(f"SymmetricContraction: higher_orders {higher_orders!r} not in "
                         f"{list(PRODUCT_INITS)}")
    keys = list(zip(basis.path_order, basis.path_irrep))
    first = torch.tensor([nu == 1 for nu, _ in keys])
    if higher_orders == "zero":
        w = first.to(torch.float64)[None, :, None].expand(num_species, -1, channels)
        return w.to(torch.get_default_dtype()).clone()
    counts = collections.Counter(keys)
    scale = torch.tensor([1.0 if nu == 1 else counts[(nu, j)] ** -0.5 for nu, j in keys],
                         dtype=torch.float64)
    noise = torch.randn(num_species, len(keys), channels, dtype=torch.float64)
    w = torch.where(first[None, :, None], torch.ones_like(noise), noise)
    return (w * scale[None, :, None]).to(torch.get_default_dtype())


def _blocks(irreps: o3.Irreps) -> Tuple[int, List[Irrep]]:
    muls = {mul for mul, _ in irreps}
    if len(muls) != 1:
        raise ValueError(f"SymmetricContraction: every irrep needs the same multiplicity, "
                         f"got {irreps}")
    return muls.pop(), [(ir.l, ir.p) for _, ir in irreps]


@compile_mode("script")
class SymmetricContraction(torch.nn.Module):
    """Channel-wise complete product A [n, irreps_in] → B [n, irreps_out], per species.

    Both irreps are ``C x`` each irrep (the same channel count C); the weights
    w[z, k, c] depend on the species z, the path k (order ν and output irrep) and the
    channel c. ν = 1 is the identity on the irreps that A and B share, so
    ``correlation = 1`` gives NequIP-like two-body features. ``higher_orders``: how the
    weights of ν ≥ 2 start (:data:`PRODUCT_INITS`, see :func:`_initial_weights`).
    """

    in_dims: List[int]
    out_dims: List[int]
    degree_sizes: List[int]  # monomials of degree 2, 3, … ν−1

    def __init__(self, irreps_in: o3.Irreps, irreps_out: o3.Irreps, correlation: int,
                 num_species: int, higher_orders: str = "zero"):
        super().__init__()
        channels, blocks_in = _blocks(irreps_in)
        channels_out, blocks_out = _blocks(irreps_out)
        if channels_out != channels:
            raise ValueError("SymmetricContraction: input and output channel counts differ")
        basis = symmetric_basis(tuple(blocks_in), tuple(blocks_out), correlation)
        self.channels = channels
        self.num_species = num_species
        self.in_dims = [2 * ell + 1 for ell, _ in blocks_in]
        self.out_dims = [2 * ell + 1 for ell, _ in blocks_out]
        self.dim = sum(self.in_dims)
        self.dim_out = sum(self.out_dims)
        self.num_monomials = len(basis.monomials)
        num_paths = basis.tensor.shape[0]
        # constants rebuilt from the arguments, so not part of the state dict
        self.register_buffer("basis", basis.tensor.reshape(num_paths, -1).clone(),
                             persistent=False)  # [K, F·D·D_out]
        # g_f = g_parent(f) · x_last(f) for the monomials of degree ≥ 2, degree by degree
        index = {m: f for f, m in enumerate(basis.monomials)}
        higher = [m for m in basis.monomials if len(m) >= 2]
        self.register_buffer("mono_parent", torch.tensor([index[m[:-1]] for m in higher],
                                                         dtype=torch.long), persistent=False)
        self.register_buffer("mono_last", torch.tensor([m[-1] for m in higher],
                                                       dtype=torch.long), persistent=False)
        self.degree_sizes = [sum(1 for m in higher if len(m) == d)
                                        for d in range(2, correlation)]
        self.weights = torch.nn.Parameter(_initial_weights(basis, num_species, channels,
                                                              higher_orders))
        # atoms grouped by species (fast, data-dependent shapes) or every species' weights
        # applied by masks (static shapes, for tracing: torch.export)
        self.group_by_species = True

    def _monomials(self, x: torch.Tensor) -> torch.Tensor:
        """g [n, C, F]: 1, then the monomials of degree 1 … ν−1 of x [n, C, D]."""
        g = torch.cat([torch.ones_like(x[:, :, :1]), x], dim=-1)
        start = 0
        for size in self.degree_sizes:
            parent = self.mono_parent[start:start + size]
            last = self.mono_last[start:start + size]
            g = torch.cat([g, g[:, :, parent] * x[:, :, last]], dim=-1)
            start += size
        return g[:, :, :self.num_monomials]

    def _contract(self, x: torch.Tensor, g: torch.Tensor, z: int) -> torch.Tensor:
        """y [n_z, C, D_out] of atoms of species z: Σ_i x_i Σ_f g_f T_z[f, i, M]."""
        n = x.shape[0]
        c = self.channels
        # T_z[c, f, (i, M)] = Σ_k w[z, k, c] U_k[f, i, M]
        t = torch.einsum("kc,kp->cp", self.weights[z], self.basis)
        t = t.reshape(c, self.num_monomials, self.dim * self.dim_out)
        r = torch.bmm(g.transpose(0, 1), t).reshape(c, n, self.dim, self.dim_out)
        return (r * x.transpose(0, 1).unsqueeze(-1)).sum(2).transpose(0, 1)

    def forward(self, a: torch.Tensor, species: torch.Tensor) -> torch.Tensor:
        """B [n, irreps_out] of ``a`` [n, irreps_in] for atoms of species index ``species`` [n]."""
        n = a.shape[0]
        c = self.channels
        x = torch.cat([blk.reshape(n, c, d) for blk, d in
                       zip(torch.split(a, [c * d for d in self.in_dims], dim=-1),
                           self.in_dims)], dim=-1)  # [n, C, D]
        if self.num_species == 1:
            y = self._contract(x, self._monomials(x), 0)
        elif not self.group_by_species:
            g = self._monomials(x)
            y = x.new_zeros(n, c, self.dim_out)
            for z in range(self.num_species):
                mask = (species == z).to(x.dtype).view(n, 1, 1)
                y = y + mask * self._contract(x, g, z)
        else:
            # atoms grouped by species: one sort, one host sync for the group sizes, and
            # the weights folded into the basis only for the species present
            order = torch.argsort(species)
            counts: List[int] = torch.bincount(species, minlength=self.num_species).tolist()
            parts: List[torch.Tensor] = [x.new_zeros(0, c, self.dim_out)]
            for z, xz in enumerate(torch.split(x.index_select(0, order), counts)):
                if counts[z] > 0:
                    parts.append(self._contract(xz, self._monomials(xz), z))
            y = x.new_zeros(n, c, self.dim_out).index_copy(0, order, torch.cat(parts))
        blocks = torch.split(y, self.out_dims, dim=-1)
        return torch.cat([blk.reshape(n, -1) for blk in blocks], dim=-1)  # [n, irreps_out]
