"""The inference path: one cutoff from the members' specs, named features, a pluggable
uncertainty estimator."""

import numpy as np
import pytest
import torch
from model_support import SPECIES, make_model, random_crystal

from mlip_gnn.calculators import Committee, MLIPCalculator
from mlip_gnn.data import configuration_from_atoms
from mlip_gnn.export import export_potential
from mlip_gnn.inference import (CommitteeError, FeaturesUnavailableError, Predictor,
                                Uncertainty, UncertaintyEstimator)
from mlip_gnn.model import build_model
from mlip_gnn.uncertainty import CommitteeSpread


@pytest.fixture(scope="module")
def model():
    return make_model()


def _conf(seed=21):
    return configuration_from_atoms(random_crystal(seed=seed))


def test_members_must_agree_on_r_max(model):
    other = build_model(species=SPECIES, r_max=3.0, num_layers=1, num_channels=4, seed=0,
                        dtype="float64")
    with pytest.raises(CommitteeError, match=r"disagree on r_max \(Potential: 4 Å, "
                       r"Potential: 3 Å\)"):
        Predictor([model, other])
    assert Predictor([model, make_model(seed=3)]).r_max == 4.0


def test_no_model_and_a_spread_of_one_are_refused(model):
    with pytest.raises(CommitteeError, match="at least one model"):
        Predictor([])
    with pytest.raises(CommitteeError, match="two or more models; got 1"):
        Predictor(model, estimator=CommitteeSpread())


def test_features_rebuild_the_atomic_energies(model):
    """The recorded features are the tensors the model reads out: pushing them through the
    readouts by hand gives the atomic energies (no ZBL in this model)."""
    pred = Predictor(model).predict(_conf(), features=True)
    features = pred.members[0].features
    assert sorted(features) == ["node_features.0", "node_features.1", "readout_hidden.1"]
    n = len(pred.energies)
    assert all(value.shape[0] == n for value in features.values())
    with torch.no_grad():
        first = model.layers[0].readout(torch.from_numpy(features["node_features.0"]))  # [n]
        last = model.layers[1].readout.out(torch.from_numpy(features["readout_hidden.1"]))
        last = last.squeeze(-1)  # [n]
    species = torch.tensor([SPECIES.index(z) for z in _conf().atomic_numbers])
    energies = (model.scale[species] * (first + last) + model.shift[species]
                + model.e0[species])
    np.testing.assert_allclose(energies.numpy(), pred.energies, rtol=1e-12, atol=1e-12)


def test_features_leave_no_hooks_and_change_nothing(model):
    plain = Predictor(model).predict(_conf())
    with_features = Predictor(model).predict(_conf(), features=True)
    np.testing.assert_array_equal(plain.forces, with_features.forces)
    assert plain.members[0].features == {}
    for module in model.modules():
        assert not module._forward_hooks and not module._forward_pre_hooks


def test_features_of_an_export_are_a_clear_error(model, tmp_path):
    path = export_potential(model, tmp_path / "m.pt")
    with pytest.raises(FeaturesUnavailableError, match=r"m.pt: .*TorchScript export"):
        Predictor(str(path)).predict(_conf(), features=True)


class _FeatureNorm(UncertaintyEstimator):
    """A stand-in estimator that reads features: the norm of the last-layer features."""

    needs_features = True

    def estimate(self, members):
        hidden = members[0].features["readout_hidden.1"]
        per_atom = np.linalg.norm(hidden, axis=1)
        return Uncertainty(float(per_atom.sum()), per_atom, {"feature_norm": per_atom.max()})


def test_an_estimator_is_a_pluggable_part(model):
    atoms = random_crystal(seed=22)
    atoms.calc = MLIPCalculator(model, estimator=_FeatureNorm())
    atoms.get_forces()
    pred = Predictor(model).predict(configuration_from_atoms(atoms), features=True)
    expected = np.linalg.norm(pred.members[0].features["readout_hidden.1"], axis=1)
    results = atoms.calc.results
    np.testing.assert_allclose(results["forces_std"], expected, rtol=1e-12)
    assert results["max_forces_std"] == pytest.approx(expected.max())
    assert results["feature_norm"] == pytest.approx(expected.max())


def test_committee_members_and_spread(model):
    other = make_model(seed=3)
    pred = Committee([model, other]).predict(_conf())
    assert len(pred.members) == 2
    forces = np.stack([m.forces for m in pred.members])
    np.testing.assert_allclose(pred.forces, forces.mean(0), atol=1e-14)
    np.testing.assert_allclose(pred.uncertainty.forces,
                               np.linalg.norm(forces.std(0), axis=1), atol=1e-14)
    assert Committee(model).predict(_conf()).uncertainty is None
