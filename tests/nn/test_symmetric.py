"""The complete many-body basis: completeness, equivariance, polynomial order."""

from collections import Counter

import pytest
import torch
from e3nn import o3

from mlip_gnn.nn import SymmetricContraction, natural_irreps
from mlip_gnn.nn.symmetric import symmetric_basis

NATURAL = {ell: (ell, (-1) ** ell) for ell in range(4)}


@pytest.mark.parametrize("max_ell,nu,formula", [(1, 2, "ij=ji"), (1, 3, "ijk=jik=ikj"),
                                                 (2, 2, "ij=ji"), (2, 3, "ijk=jik=ikj")])
def test_basis_is_complete_and_independent(max_ell, nu, formula):
    """Path counts per output irrep = multiplicities in Sym^ν(x), decomposed by e3nn."""
    ir_x = o3.Irreps("+".join(f"1x{ell}{'e' if ell % 2 == 0 else 'o'}"
                              for ell in range(max_ell + 1)))
    reference = o3.ReducedTensorProducts(formula, **{i: ir_x for i in formula.split("=")[0]})
    expected = Counter({(ir.l, ir.p): mul for mul, ir in reference.irreps_out})
    targets = ((0, 1), (1, -1), (1, 1), (2, 1))
    basis = symmetric_basis(tuple(NATURAL[ell] for ell in range(max_ell + 1)), targets, nu)
    found = Counter(targets[j] for order, j in zip(basis.path_order, basis.path_irrep)
                    if order == nu)
    assert all(found[t] == expected[t] for t in targets), (found, expected)
    assert sum(found.values()) > 0


def _a_from_vectors(vectors, coeffs, max_ell):
    """A[c] = Σ_k coeffs[k, l, c] Y_l(r_k), laid out as natural_irreps(C, max_ell)."""
    blocks = []
    for ell in range(max_ell + 1):
        y = o3.spherical_harmonics(ell, vectors, normalize=True)  # [k, 2l+1]
        blocks.append(torch.einsum("kc,km->cm", coeffs[:, ell], y).reshape(1, -1))
    return torch.cat(blocks, dim=-1)


@pytest.mark.parametrize("max_ell,correlation", [(1, 3), (2, 2), (3, 3)])
def test_equivariant_to_round_off(max_ell, correlation):
    """Rotate and reflect the vectors that make A: B's scalars stay, its vectors rotate.

    e3nn's l = 1 components are (x, y, z), so that block rotates with the matrix itself,
    exactly; no numerically built Wigner matrices are involved.
    """
    channels = 3
    gen = torch.Generator().manual_seed(0)
    irreps_a = natural_irreps(channels, max_ell)
    irreps_b = natural_irreps(channels, 1)
    product = SymmetricContraction(irreps_a, irreps_b, correlation, 2).double()
    with torch.no_grad():
        product.weights.normal_(generator=gen)
    vectors = torch.randn(5, 3, generator=gen, dtype=torch.float64)
    coeffs = torch.randn(5, max_ell + 1, channels, generator=gen, dtype=torch.float64)
    q = o3.rand_matrix(dtype=torch.float64)
    for sign in (1.0, -1.0):
        rot = sign * q
        for z in (0, 1):
            species = torch.tensor([z])
            b = product(_a_from_vectors(vectors, coeffs, max_ell), species)
            b_rot = product(_a_from_vectors(vectors @ rot.T, coeffs, max_ell), species)
            torch.testing.assert_close(b_rot[:, :channels], b[:, :channels],
                                       rtol=1e-12, atol=1e-12)
            vec = b[:, channels:].reshape(channels, 3)
            torch.testing.assert_close(b_rot[:, channels:].reshape(channels, 3),
                                       vec @ rot.T, rtol=1e-12, atol=1e-12)
            assert vec.abs().max() > 1e-3


@pytest.mark.parametrize("nu", [1, 2, 3])
def test_each_order_is_homogeneous_of_its_degree(nu):
    irreps = natural_irreps(4, 2)
    product = SymmetricContraction(irreps, natural_irreps(4, 1), 3, 1,
                                   higher_orders="random").double()
    basis = symmetric_basis(tuple(NATURAL[ell] for ell in range(3)),
                            (NATURAL[0], NATURAL[1]), 3)
    keep = torch.tensor([order == nu for order in basis.path_order])
    with torch.no_grad():
        product.weights.mul_(keep[None, :, None])
    a = irreps.randn(3, -1, dtype=torch.float64)
    species = torch.zeros(3, dtype=torch.long)
    out = product(a, species)
    torch.testing.assert_close(product(2.0 * a, species), 2.0 ** nu * out)
    assert out.abs().max() > 1e-3


def test_weights_depend_on_species():
    irreps = natural_irreps(2, 2)
    product = SymmetricContraction(irreps, natural_irreps(2, 0), 2, 2,
                                   higher_orders="random").double()
    a = irreps.randn(1, -1, dtype=torch.float64).expand(2, -1)
    out = product(a, torch.tensor([0, 1]))
    assert not torch.allclose(out[0], out[1])


def test_mixed_species_equal_atom_by_atom():
    """Atoms are grouped by species inside; the result must not depend on the grouping."""
    irreps = natural_irreps(3, 2)
    product = SymmetricContraction(irreps, natural_irreps(3, 1), 3, 3,
                                   higher_orders="random").double()
    with torch.no_grad():
        product.weights.normal_(generator=torch.Generator().manual_seed(1))
    a = irreps.randn(7, -1, dtype=torch.float64)
    species = torch.tensor([2, 0, 2, 1, 0, 2, 0])  # every species, unsorted
    together = product(a, species)
    one_by_one = torch.cat([product(a[i:i + 1], species[i:i + 1]) for i in range(7)])
    torch.testing.assert_close(together, one_by_one, rtol=1e-13, atol=1e-13)
    assert not torch.allclose(together[1], product(a[1:2], torch.tensor([2]))[0])


def test_masked_species_path_equals_grouping():
    """The static-shape path (species weights applied by masks, for torch.export) gives
    the grouped result."""
    irreps = natural_irreps(3, 2)
    product = SymmetricContraction(irreps, natural_irreps(3, 1), 3, 3,
                                   higher_orders="random").double()
    with torch.no_grad():
        product.weights.normal_(generator=torch.Generator().manual_seed(2))
    a = irreps.randn(9, -1, dtype=torch.float64)
    species = torch.tensor([2, 0, 2, 1, 0, 2, 0, 1, 1])
    grouped = product(a, species)
    product.group_by_species = False
    torch.testing.assert_close(product(a, species), grouped, rtol=1e-13, atol=1e-13)
