"""Every check of ``tests/model_suite.py`` on every model variant: correlation 1-3 ×
max_ell 1-3 × ZBL on/off, in float64 and (where it means something) float32."""

import functools

import pytest
import torch

import model_suite as suite
from mlip_gnn.export import export_potential
from model_support import make_model, random_cluster

VARIANTS = [(c, ell, zbl) for c in (1, 2, 3) for ell in (1, 2, 3) for zbl in (False, True)]
IDS = [f"nu{c}-l{ell}-{'zbl' if zbl else 'nozbl'}" for c, ell, zbl in VARIANTS]


@functools.cache
def model(correlation, max_ell, zbl, dtype):
    return make_model(correlation=correlation, max_ell=max_ell, hidden_ell=1, zbl=zbl,
                      dtype=dtype, seed=correlation + 10 * max_ell)


@functools.cache
def float64_twin(correlation, max_ell, zbl):
    """The float64 model with the float32 model's (rounded) weights."""
    twin = make_model(correlation=correlation, max_ell=max_ell, hidden_ell=1, zbl=zbl,
                      dtype="float64")
    weights = model(correlation, max_ell, zbl, "float32").state_dict()
    twin.load_state_dict({k: v.to(twin.state_dict()[k].dtype) for k, v in weights.items()})
    return twin


ALL_DTYPES = pytest.mark.parametrize("dtype", ["float64", "float32"])
VARIANT = pytest.mark.parametrize("variant", VARIANTS, ids=IDS)


@VARIANT
@ALL_DTYPES
def test_rotation_and_reflection(variant, dtype):
    suite.check_rotation_reflection(model(*variant, dtype))


@VARIANT
@ALL_DTYPES
def test_translation_and_permutation(variant, dtype):
    suite.check_translation_permutation(model(*variant, dtype))


@VARIANT
def test_forces_and_stress_by_finite_differences(variant):
    suite.check_forces_and_stress_by_finite_differences(model(*variant, "float64"))


@VARIANT
def test_float32_equals_float64_to_round_off(variant):
    suite.check_same_as_float64(model(*variant, "float32"), float64_twin(*variant))


@VARIANT
@ALL_DTYPES
def test_smooth_at_cutoff(variant, dtype):
    suite.check_smooth_at_cutoff(model(*variant, dtype))


@VARIANT
@ALL_DTYPES
def test_batch_equals_frames(variant, dtype):
    suite.check_batch_equals_frames(model(*variant, dtype))


@VARIANT
@ALL_DTYPES
def test_ghost_atoms_through_the_pair_method(variant, dtype):
    suite.check_ghost_atoms_with_the_pair_method(model(*variant, dtype))


@pytest.mark.parametrize("variant", [VARIANTS[0], VARIANTS[-1]], ids=[IDS[0], IDS[-1]])
@ALL_DTYPES
def test_exported_equals_eager(variant, dtype, tmp_path):
    m = model(*variant, dtype)
    path = tmp_path / "model.pt"
    export_potential(m, path)
    suite.check_exported_equals_eager(m, torch.jit.load(str(path)))


@pytest.mark.slow
@pytest.mark.parametrize("variant", VARIANTS[1:-1], ids=IDS[1:-1])
@ALL_DTYPES
def test_exported_equals_eager_every_variant(variant, dtype, tmp_path):
    test_exported_equals_eager(variant, dtype, tmp_path)


@VARIANT
def test_energy_and_forces_are_not_trivial(variant):
    """Guards the symmetry checks against a model that returns a constant."""
    m = model(*variant, "float64")
    atoms = random_cluster(seed=3)
    before = suite.run(m, atoms, stress=False)
    atoms.positions[0] += [0.05, 0.0, 0.0]
    after = suite.run(m, atoms, stress=False)
    assert abs(after["energy"][0] - before["energy"][0]) > 1e-6
    assert abs(before["forces"]).max() > 1e-3
