"""Forces and stress against central finite differences of the energy, float64."""

import numpy as np
import pytest
from model_support import evaluate, make_model, random_cluster, random_crystal

H = 1e-5  # central differences: truncation ~H², round-off ~1e-16·E/H


def energy(model, atoms):
    return float(evaluate(model, atoms, stress=False)["energy"][0])


@pytest.mark.parametrize("correlation,max_ell,zbl", [(1, 1, False), (2, 2, True),
                                                     (3, 3, False)])
def test_forces_finite_differences(correlation, max_ell, zbl):
    model = make_model(correlation=correlation, max_ell=max_ell, zbl=zbl)
    for atoms in (random_cluster(seed=7), random_crystal(seed=8)):
        forces = evaluate(model, atoms)["forces"]
        numeric = np.zeros_like(forces)
        for i in range(len(atoms)):
            for a in range(3):
                plus, minus = atoms.copy(), atoms.copy()
                plus.positions[i, a] += H
                minus.positions[i, a] -= H
                numeric[i, a] = -(energy(model, plus) - energy(model, minus)) / (2 * H)
        np.testing.assert_allclose(forces, numeric, rtol=1e-6, atol=1e-7)
        assert np.abs(forces).max() > 1e-3  # non-trivial


@pytest.mark.parametrize("correlation,max_ell", [(1, 1), (3, 3)])
def test_stress_finite_differences(correlation, max_ell):
    """σ = (1/V) ∂E/∂ε for a symmetric strain applied to cell and positions."""
    model = make_model(correlation=correlation, max_ell=max_ell, zbl=True)
    atoms = random_crystal(seed=9)
    stress = evaluate(model, atoms)["stress"][0]
    volume = atoms.get_volume()
    numeric = np.zeros((3, 3))
    for a in range(3):
        for b in range(3):
            eps = np.zeros((3, 3))
            eps[a, b] += 0.5 * H
            eps[b, a] += 0.5 * H
            energies = []
            for sign in (1, -1):
                strained = atoms.copy()
                strained.set_cell(atoms.cell[:] @ (np.eye(3) + sign * eps), scale_atoms=True)
                energies.append(energy(model, strained))
            numeric[a, b] = (energies[0] - energies[1]) / (2 * H) / volume
    np.testing.assert_allclose(stress, numeric, rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(stress, stress.T, atol=1e-14)
    assert np.abs(stress).max() > 1e-4


def test_net_force_vanishes(crystal):
    forces = evaluate(make_model(), crystal)["forces"]
    np.testing.assert_allclose(forces.sum(0), 0.0, atol=1e-11)
