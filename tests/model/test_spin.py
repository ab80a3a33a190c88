"""Collinear spin input: time reversal, rotations and permutations with moments, -∂E/∂m
against finite differences, batching, and spin off = the model as before (float64)."""

import numpy as np
import pytest
import torch
from scipy.spatial.transform import Rotation

from mlip_gnn.data import collate, keys
from mlip_gnn.model import build_model
from spin_support import R_MAX, SPECIES, graph, spin_model
from spin_support import magnetic_crystal as crystal


def run(model, atoms, moments, stress=True):
    out = model(graph(atoms, moments), compute_forces=True, compute_stress=stress)
    return {k: v.detach().numpy() for k, v in out.items()}


def test_flipping_every_moment_leaves_energy_forces_and_stress_unchanged():
    model = spin_model()
    atoms, m = crystal()
    up, down = run(model, atoms, m), run(model, atoms, -m)
    assert abs(up[keys.TOTAL_ENERGY][0] - down[keys.TOTAL_ENERGY][0]) <= 1e-12 * max(
        1.0, abs(up[keys.TOTAL_ENERGY][0]))
    np.testing.assert_allclose(down[keys.FORCES], up[keys.FORCES], rtol=0, atol=1e-12)
    np.testing.assert_allclose(down[keys.STRESS], up[keys.STRESS], rtol=0, atol=1e-12)
    # the torque-like derivative is odd: -∂E/∂m flips with the moments
    np.testing.assert_allclose(down[keys.MAGNETIC_FORCES], -up[keys.MAGNETIC_FORCES],
                               rtol=0, atol=1e-12)


def test_the_energy_depends_on_the_arrangement_of_the_moments():
    model = spin_model()
    atoms, m = crystal()
    size = np.abs(m)
    ferro = run(model, atoms, size)[keys.TOTAL_ENERGY][0]
    signs = np.where(np.arange(len(atoms)) % 2 == 0, 1.0, -1.0)
    mixed = run(model, atoms, size * signs)[keys.TOTAL_ENERGY][0]
    bigger = run(model, atoms, 1.2 * size)[keys.TOTAL_ENERGY][0]
    assert abs(ferro - mixed) > 1e-3 and abs(ferro - bigger) > 1e-3


@pytest.mark.parametrize("seed", [0, 1])
def test_rotation_reflection_and_permutation_with_moments(seed):
    model = spin_model(seed=seed)
    atoms, m = crystal(seed)
    ref = run(model, atoms, m)
    rot = Rotation.random(random_state=seed).as_matrix() * (-1.0 if seed else 1.0)
    turned = atoms.copy()
    turned.set_cell(atoms.cell[:] @ rot.T, scale_atoms=True)
    out = run(model, turned, m)  # moments are scalars under rotation (collinear axis)
    np.testing.assert_allclose(out[keys.TOTAL_ENERGY], ref[keys.TOTAL_ENERGY], rtol=1e-12)
    np.testing.assert_allclose(out[keys.FORCES], ref[keys.FORCES] @ rot.T, atol=1e-11)
    np.testing.assert_allclose(out[keys.MAGNETIC_FORCES], ref[keys.MAGNETIC_FORCES],
                               atol=1e-11)
    order = np.random.default_rng(seed).permutation(len(atoms))
    shuffled = atoms[order]
    out = run(model, shuffled, m[order])
    np.testing.assert_allclose(out[keys.TOTAL_ENERGY], ref[keys.TOTAL_ENERGY], rtol=1e-12)
    np.testing.assert_allclose(out[keys.FORCES], ref[keys.FORCES][order], atol=1e-11)
    np.testing.assert_allclose(out[keys.MAGNETIC_FORCES], ref[keys.MAGNETIC_FORCES][order],
                               atol=1e-11)


def test_magnetic_forces_and_forces_match_finite_differences():
    model = spin_model()
    atoms, m = crystal(2)
    out = run(model, atoms, m, stress=False)
    h = 1e-5

    def energy(a, moments):
        return run(model, a, moments, stress=False)[keys.TOTAL_ENERGY][0]

    for i in range(len(atoms)):
        plus, minus = m.copy(), m.copy()
        plus[i] += h
        minus[i] -= h
        numeric = -(energy(atoms, plus) - energy(atoms, minus)) / (2 * h)
        assert out[keys.MAGNETIC_FORCES][i] == pytest.approx(numeric, rel=1e-7, abs=1e-8)
    for i, c in [(0, 0), (3, 2), (5, 1)]:
        plus, minus = atoms.copy(), atoms.copy()
        plus.positions[i, c] += h
        minus.positions[i, c] -= h
        numeric = -(energy(plus, m) - energy(minus, m)) / (2 * h)
        assert out[keys.FORCES][i, c] == pytest.approx(numeric, rel=1e-7, abs=1e-8)


def test_moments_are_batched_with_their_frames():
    model = spin_model()
    frames = [crystal(s) for s in (0, 1, 2)]
    batch = collate([graph(a, m) for a, m in frames])
    out = model(batch, compute_forces=True)
    for k, (a, m) in enumerate(frames):
        one = run(model, a, m, stress=False)
        assert out[keys.TOTAL_ENERGY][k].item() == pytest.approx(one[keys.TOTAL_ENERGY][0],
                                                                 rel=1e-12)
        rows = batch[keys.BATCH] == k
        np.testing.assert_allclose(out[keys.MAGNETIC_FORCES][rows].detach().numpy(),
                                   one[keys.MAGNETIC_FORCES], atol=1e-12)


def test_spin_off_is_the_model_as_before():
    atoms, m = crystal()
    plain = spin_model(spin="none", perturb=False)
    default = build_model(species=SPECIES, r_max=R_MAX, avg_num_neighbors=10.0, scale=0.1,
                          num_layers=2, num_channels=8, max_ell=2, hidden_ell=1,
                          correlation=2, num_bessel=6, radial_mlp=[16], dtype="float64",
                          seed=0)
    a, b = plain.state_dict(), default.state_dict()
    assert list(a) == list(b)
    assert all(torch.equal(a[k], b[k]) for k in a)
    reference = run(default, atoms, None)
    with_moments = run(plain, atoms, m)  # a spin-free model ignores moments
    assert keys.MAGNETIC_FORCES not in with_moments
    for key in (keys.TOTAL_ENERGY, keys.FORCES, keys.STRESS):
        np.testing.assert_array_equal(with_moments[key], reference[key])


def test_spin_model_adds_only_its_own_parameters():
    plain = spin_model(spin="none", perturb=False)
    spin = spin_model(perturb=False)
    extra = sorted(set(spin.state_dict()) - set(plain.state_dict()))
    assert extra == ["spin.node.weight", "spin.onsite.0.bias", "spin.onsite.0.weight",
                     "spin.onsite.2.bias", "spin.onsite.2.weight"]


def test_a_spin_model_without_moments_says_what_it_needs():
    atoms, _ = crystal()
    with pytest.raises(ValueError, match="magnetic moments"):
        spin_model()(graph(atoms, None))


@pytest.mark.parametrize("bad", [{"spin": "noncollinear"}, {"magmom_scale": 0.0}])
def test_builder_refuses_bad_spin_settings(bad):
    with pytest.raises(ValueError, match="spin|magmom_scale"):
        spin_model(perturb=False, **bad)


def test_magmom_scale_changes_the_model():
    atoms, m = crystal()
    a = run(spin_model(magmom_scale=2.0), atoms, m)[keys.TOTAL_ENERGY][0]
    b = run(spin_model(magmom_scale=3.0), atoms, m)[keys.TOTAL_ENERGY][0]
    assert abs(a - b) > 1e-6
