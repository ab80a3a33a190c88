"""E(3) and permutation symmetry of every model variant, float64."""

import numpy as np
import pytest
from model_support import evaluate, make_model, random_cluster, random_crystal
from scipy.spatial.transform import Rotation

VARIANTS = [(c, ell) for c in (1, 2, 3) for ell in (1, 2, 3)]
TOL = dict(rtol=1e-9, atol=1e-10)


def orthogonal(seed, reflect):
    q = Rotation.random(random_state=seed).as_matrix()
    return -q if reflect else q  # -R: rotation times inversion


@pytest.mark.parametrize("correlation,max_ell", VARIANTS)
@pytest.mark.parametrize("reflect", [False, True])
def test_rotation_reflection(correlation, max_ell, reflect):
    model = make_model(correlation=correlation, max_ell=max_ell, hidden_ell=1)
    q = orthogonal(correlation * 10 + max_ell, reflect)
    for atoms in (random_cluster(seed=1), random_crystal(seed=2)):
        ref = evaluate(model, atoms)
        moved = atoms.copy()
        moved.positions = atoms.positions @ q.T
        moved.set_cell(atoms.cell[:] @ q.T, scale_atoms=False)
        out = evaluate(model, moved)
        np.testing.assert_allclose(out["energy"], ref["energy"], **TOL)
        np.testing.assert_allclose(out["forces"], ref["forces"] @ q.T, **TOL)
        np.testing.assert_allclose(out["stress"][0], q @ ref["stress"][0] @ q.T, **TOL)


def test_energy_changes_when_an_atom_moves():
    """Guards the tests above against a model that returns a constant."""
    model = make_model()
    atoms = random_cluster(seed=3)
    e0 = evaluate(model, atoms)["energy"]
    atoms.positions[0] += [0.05, 0.0, 0.0]
    assert abs(evaluate(model, atoms)["energy"][0] - e0[0]) > 1e-6


@pytest.mark.parametrize("correlation", [1, 3])
def test_translation(correlation):
    model = make_model(correlation=correlation)
    for atoms in (random_cluster(seed=4), random_crystal(seed=5)):
        ref = evaluate(model, atoms)
        atoms.positions += np.array([1.3, -0.7, 2.9])
        out = evaluate(model, atoms)
        np.testing.assert_allclose(out["energy"], ref["energy"], **TOL)
        np.testing.assert_allclose(out["forces"], ref["forces"], **TOL)
        np.testing.assert_allclose(out["stress"], ref["stress"], **TOL)


@pytest.mark.parametrize("correlation", [1, 2, 3])
def test_permutation(correlation):
    model = make_model(correlation=correlation)
    atoms = random_crystal(seed=6)
    ref = evaluate(model, atoms)
    perm = np.random.default_rng(0).permutation(len(atoms))
    out = evaluate(model, atoms[perm])
    np.testing.assert_allclose(out["energy"], ref["energy"], **TOL)
    np.testing.assert_allclose(out["forces"], ref["forces"][perm], **TOL)
    np.testing.assert_allclose(out["atomic_energies"], ref["atomic_energies"][perm], **TOL)
    np.testing.assert_allclose(out["stress"], ref["stress"], **TOL)
