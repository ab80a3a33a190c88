"""Forces and stress against central finite differences of the energy, float64."""

import numpy as np
import pytest
from model_support import evaluate, make_model

H = 1e-5  # central differences: truncation ~H², round-off ~1e-16·E/H


def energy(model, atoms):
    return float(evaluate(model, atoms, stress=False)["energy"][0])


@pytest.mark.parametrize("correlation,max_ell,zbl", [(1, 1, False), (2, 2, True),
                                                     (3, 3, False)])
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
