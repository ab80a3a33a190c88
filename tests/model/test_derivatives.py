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


def translation_slope(energy_of, atoms, h=H):
    """dE/dt [3] (eV/Å) of a rigid translation of every atom by t, central differences."""
    slope = np.zeros(3)
    for a in range(3):
        shifted = []
        for sign in (1, -1):
            moved = atoms.copy()
            moved.positions[:, a] += sign * h
            shifted.append(energy_of(moved))
        slope[a] = (shifted[0] - shifted[1]) / (2 * h)
    return slope


def test_energy_is_translation_invariant(crystal):
    """Measured on the energy itself, so a term in absolute positions would show (the sum
    of forces assembled from pair forces is zero for any energy and tests nothing)."""
    model = make_model(zbl=True)
    e0 = energy(model, crystal)
    np.testing.assert_allclose(translation_slope(lambda a: energy(model, a), crystal), 0.0,
                               atol=1e-8)
    moved = crystal.copy()
    moved.positions += [0.37, -1.21, 2.93]  # any translation, not only small ones
    moved.wrap()
    np.testing.assert_allclose(energy(model, moved), e0, rtol=1e-12)


def test_translation_check_catches_an_external_field(crystal):
    model = make_model()
    field = 0.05  # eV/Å along x: E' = E + field · Σ_i x_i

    def energy_in_field(atoms):
        return energy(model, atoms) + field * atoms.positions[:, 0].sum()

    slope = translation_slope(energy_in_field, crystal)
    np.testing.assert_allclose(slope, [field * len(crystal), 0.0, 0.0], atol=1e-7)
