"""One interface: estimators by name, the committee's OOD score, results of the calculator."""

import numpy as np
import pytest
from model_support import make_model, random_crystal

from mlip_gnn.calculators import MLIPCalculator
from mlip_gnn.uncertainty import (ESTIMATORS, CommitteeSpread, UnknownEstimatorError,
                                  make_estimator)


def test_estimators_by_name():
    assert sorted(ESTIMATORS) == ["committee", "distance", "llpr"]
    assert isinstance(make_estimator("committee"), CommitteeSpread)
    assert make_estimator(None) is None
    with pytest.raises(UnknownEstimatorError, match=r"'lpr'; valid: \['committee', "
                       r"'distance', 'llpr'\]"):
        make_estimator("lpr")


def test_committee_ood_score_is_the_spread_over_its_reference():
    atoms = random_crystal(seed=60)
    models = [make_model(), make_model(seed=3)]
    atoms.calc = MLIPCalculator(models, estimator=CommitteeSpread(force_reference=0.5))
    atoms.get_forces()
    results = atoms.calc.results
    np.testing.assert_allclose(results["ood_score"], results["forces_std"] / 0.5, rtol=1e-12)
    assert results["max_ood_score"] == pytest.approx(results["ood_score"].max())
    with pytest.raises(ValueError, match="force_reference: got 0"):
        CommitteeSpread(force_reference=0.0)
