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


def test_evaluate_of_a_committee_has_a_calibration_section(tmp_path):
    from ase.calculators.singlepoint import SinglePointCalculator
    from ase.io import write

    from mlip_gnn.evaluation import evaluate, write_outputs

    frames = []
    rng = np.random.default_rng(0)
    for seed in (61, 62):
        atoms = random_crystal(seed=seed)
        atoms.calc = SinglePointCalculator(atoms, energy=float(rng.normal()),
                                           forces=rng.normal(size=(len(atoms), 3)))
        frames.append(atoms)
    write(tmp_path / "data.xyz", frames, format="extxyz")
    report, predicted = evaluate([make_model(), make_model(seed=3)], [tmp_path / "data.xyz"])
    section = report["calibration"]
    assert section["estimator"] == "CommitteeSpread"
    assert section["forces"]["count"] == 3 * sum(len(a) for a in frames)
    assert section["energy"]["count"] == 2
    write_outputs(report, predicted, tmp_path / "out")
    assert (tmp_path / "out" / "calibration.png").is_file()
    assert "calibration (CommitteeSpread)" in (tmp_path / "out" / "errors.txt").read_text()
