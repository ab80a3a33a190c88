"""Batching, locality, smoothness at the cutoff and periodic boundary conditions."""

import numpy as np
import pytest
import torch
from ase import Atoms
from ase.build import bulk
from model_support import R_MAX, collate, evaluate, graph_of, make_model, random_cluster, \
    random_crystal

TOL = dict(rtol=1e-10, atol=1e-10)


def test_no_force_across_frames():
    """The energy of frame 0 has zero derivative with respect to the atoms of frame 1."""
    model = make_model()
    frames = [random_cluster(seed=13), random_cluster(seed=14)]
    batch = collate([graph_of(a) for a in frames])
    batch["positions"].requires_grad_(True)
    out = model(batch, compute_forces=False)
    sender, receiver = batch["edge_index"]
    vectors = batch["positions"][receiver] - batch["positions"][sender]
    energy0 = model.atomic_energies(vectors, batch["species"], batch["edge_index"])
    energy0 = energy0[: len(frames[0])].sum()
    grad = torch.autograd.grad(energy0, batch["positions"])[0]
    assert torch.all(grad[len(frames[0]):] == 0.0)
    assert out["energy"].shape == (2,)


def test_fragments_beyond_cutoff_add():
    model = make_model(correlation=3)
    a, b = random_cluster(n=4, seed=15, box=4.0), random_cluster(n=5, seed=16, box=4.0)
    b.positions += [4.0 + R_MAX + 0.5, 0.0, 0.0]
    both = a + b
    e_both = evaluate(model, both)["energy"][0]
    np.testing.assert_allclose(e_both, evaluate(model, a)["energy"][0]
                               + evaluate(model, b)["energy"][0], **TOL)


def test_isolated_atom_is_reference_energy():
    model = make_model(shift=0.25, e0s={13: -1.5, 29: -2.5})
    for symbol, e0 in (("Al", -1.5), ("Cu", -2.5)):
        out = evaluate(model, Atoms(symbol, positions=[[0, 0, 0]]))
        assert out["energy"][0] == pytest.approx(e0 + 0.25, abs=1e-14)
        assert np.all(out["forces"] == 0.0)
        assert np.all(np.isfinite(out["stress"]))


def test_atom_without_neighbours_inside_a_crystal_frame():
    model = make_model(zbl=True)
    # in-plane periods > r_max, so the added atom sees neither the slab nor its own images
    atoms = random_crystal(seed=17, repeat=(2, 2, 1))
    atoms.set_cell(atoms.cell[:] * [[1], [1], [5]], scale_atoms=False)
    atoms += Atoms("Al", positions=[atoms.cell[2] * 0.5 + atoms.cell[0] * 0.3])
    out = evaluate(model, atoms)
    assert all(np.all(np.isfinite(v)) for v in out.values())
    assert out["atomic_energies"][-1] == pytest.approx(-1.5, abs=1e-14)


def test_wrapped_equals_unwrapped():
    model = make_model(correlation=3)
    atoms = random_crystal(seed=18)
    atoms.positions += atoms.cell[:].T @ np.array([1.0, -2.0, 0.5]) + 0.37
    unwrapped = evaluate(model, atoms)
    atoms.wrap()
    wrapped = evaluate(model, atoms)
    for key in ("energy", "forces", "stress", "atomic_energies"):
        np.testing.assert_allclose(wrapped[key], unwrapped[key], **TOL)


@pytest.mark.parametrize("correlation", [1, 3])
def test_supercell_is_extensive(correlation):
    """A primitive fcc cell (one atom, far smaller than 2·r_max) and its 2×3×2 supercell."""
    model = make_model(correlation=correlation)
    prim = bulk("Cu", "fcc", a=3.6)
    prim.set_cell(prim.cell[:] @ np.diag([1.0, 1.02, 0.97]), scale_atoms=True)
    small = evaluate(model, prim)
    big_atoms = prim.repeat((2, 3, 2))
    big = evaluate(model, big_atoms)
    np.testing.assert_allclose(big["energy"][0], 12 * small["energy"][0], rtol=1e-11)
    # off-diagonal entries are round-off of the diagonal's size
    np.testing.assert_allclose(big["stress"][0], small["stress"][0], rtol=1e-9,
                               atol=1e-14 * np.abs(small["stress"]).max())
    np.testing.assert_allclose(big["forces"], np.tile(small["forces"], (12, 1)), atol=1e-10)


def test_mixed_pbc_slab_is_periodic_in_plane_only():
    model = make_model()
    slab = random_crystal(seed=19)
    slab.pbc = [True, True, False]
    ref = evaluate(model, slab)
    moved = slab.copy()
    moved.positions += slab.cell[0] + slab.cell[1]  # in-plane lattice translation
    np.testing.assert_allclose(evaluate(model, moved)["energy"], ref["energy"], **TOL)
    full = slab.copy()
    full.pbc = True
    assert abs(evaluate(model, full)["energy"][0] - ref["energy"][0]) > 1e-6
