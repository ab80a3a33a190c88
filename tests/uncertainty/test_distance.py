"""Descriptor distance: k-nearest-neighbour distances, the power-law calibration, the
estimator on a model and the OOD score of a far environment."""

import numpy as np
import pytest
import torch
from model_support import make_model, random_crystal
from uncertainty_support import fitted

from mlip_gnn.data import configuration_from_atoms
from mlip_gnn.inference import Predictor
from mlip_gnn.uncertainty import DescriptorDistance, DistanceState
from mlip_gnn.uncertainty.distance import calibrate_power_law, knn_distance


def test_knn_distance_is_the_mean_over_the_k_nearest():
    rng = np.random.default_rng(0)
    reference, queries = rng.normal(size=(50, 3)), rng.normal(size=(7, 3))
    brute = np.sort(np.linalg.norm(queries[:, None] - reference[None], axis=-1), axis=1)
    got = knn_distance(torch.tensor(queries), torch.tensor(reference), k=4, chunk=3)
    np.testing.assert_allclose(got.numpy(), brute[:, :4].mean(1), rtol=1e-12)


def test_power_law_calibration_recovers_the_law():
    rng = np.random.default_rng(1)
    d = rng.uniform(0.2, 5.0, 20000)
    residual = rng.normal(0.0, 0.03 * d ** 1.5)
    fit = calibrate_power_law(d, residual)
    assert fit["power"] == 1.5
    assert np.sqrt(fit["scale2"]) == pytest.approx(0.03, rel=0.03)


@pytest.fixture(scope="module")
def model():
    return make_model()


@pytest.fixture(scope="module")
def fit(model):
    return fitted(model)


def test_estimator_reports_calibrated_distances(model, fit):
    data, _, state = fit
    assert state.reference.shape == (data.train_atom_features.shape[0], 24)
    conf = configuration_from_atoms(random_crystal(seed=50))
    pred = Predictor(model, estimator=DescriptorDistance(state)).predict(conf)
    u = pred.uncertainty
    d = u.extra["descriptor_distance"]
    recorded = pred.members[0].features
    f = 0.1 * np.concatenate([recorded["node_features.0"][:, :8],
                              recorded["readout_hidden.1"]], axis=1)
    np.testing.assert_allclose(d, state.distances(torch.tensor(f)).numpy(), rtol=1e-10)
    law = state.scale2_forces * d ** (2 * state.power)
    np.testing.assert_allclose(u.forces, np.sqrt(3 * law), rtol=1e-10)
    assert u.energy == pytest.approx(np.sqrt(state.scale2_energy
                                             * np.sum(d ** (2 * state.power))), rel=1e-10)
    np.testing.assert_allclose(u.ood, d / state.ood_reference, rtol=1e-12)


def test_a_far_environment_scores_higher(model, fit):
    """An atom squeezed towards a neighbour is farther from the training environments
    (rattled crystals) than the others."""
    _, _, state = fit
    atoms = random_crystal(seed=51)
    plain = Predictor(model, estimator=DescriptorDistance(state))
    before = plain.predict(configuration_from_atoms(atoms)).uncertainty.ood
    atoms.positions[0] += 0.6 * (atoms.positions[1] - atoms.positions[0])
    after = plain.predict(configuration_from_atoms(atoms)).uncertainty.ood
    assert after[0] > 2 * np.median(before)


def test_state_round_trip(fit, tmp_path):
    _, _, state = fit
    state.save(tmp_path / "distance.pt")
    loaded = DistanceState.load(tmp_path / "distance.pt")
    assert torch.equal(loaded.reference, state.reference) and loaded.power == state.power
