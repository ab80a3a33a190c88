"""The estimator registry of select.estimator."""

from pathlib import Path

import numpy as np
import pytest

from mlip_gnn.active_learning import ESTIMATOR_FACTORIES as ESTIMATORS
from mlip_gnn.active_learning import (EstimatorContext, EstimatorError, make_estimator,
                                      register_estimator)
from mlip_gnn.inference import CommitteeError, Uncertainty, UncertaintyEstimator
from mlip_gnn.uncertainty import CommitteeSpread


def _context(n, **options):
    return EstimatorContext([Path(f"m{i}") for i in range(n)], Path("train.xyz"), options)


def test_committee_is_registered_and_checks_the_committee_size():
    assert isinstance(make_estimator("committee", _context(3)), CommitteeSpread)
    with pytest.raises(CommitteeError, match="two or more"):
        make_estimator("committee", _context(1))


def test_unknown_name_lists_the_registered_ones():
    with pytest.raises(EstimatorError, match="'comittee'.*committee"):
        make_estimator("comittee", _context(2))


class Constant(UncertaintyEstimator):
    def __init__(self, value):
        self.value = value

    def estimate(self, members):
        n = len(members[0].forces)
        return Uncertainty(self.value, np.full(n, self.value))


def constant_factory(context):
    return Constant(**context.options)


def not_an_estimator(context):
    return object()


def test_a_registered_factory_gets_the_context(monkeypatch):
    monkeypatch.setitem(ESTIMATORS, "constant", constant_factory)
    assert make_estimator("constant", _context(1, value=0.2)).value == 0.2
    register_estimator("constant", lambda ctx: Constant(len(ctx.run_dirs)))
    assert make_estimator("constant", _context(4)).value == 4


def test_import_path_and_bad_factories():
    assert make_estimator(f"{__name__}:constant_factory", _context(1, value=1.0)).value == 1.0
    with pytest.raises(EstimatorError, match="cannot import"):
        make_estimator("no.such.module:factory", _context(1))
    with pytest.raises(EstimatorError, match="estimator_options"):
        make_estimator(f"{__name__}:constant_factory", _context(1, wrong=1.0))
    with pytest.raises(EstimatorError, match="not an UncertaintyEstimator"):
        make_estimator(f"{__name__}:not_an_estimator", _context(1))


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory):
    """One tiny model trained for real on 8 EMT frames (LLPR and distance need its
    config, data split and features)."""
    import sys

    from mlip_gnn.config import load_config
    from mlip_gnn.train import train

    sys.path.insert(0, str(Path(__file__).parents[1] / "train"))
    from train_support import write_tiny_cu

    from al_support import QUICKSTART, tiny_al_dict

    tmp = tmp_path_factory.mktemp("al-llpr")
    data = write_tiny_cu(tmp / "cu.xyz", n_frames=8)
    overrides = tiny_al_dict(tmp)["training"]["overrides"] + [
        f"data.train={data}", "data.valid=null", "data.test=null", "data.valid_fraction=0.25",
        f"output.run_dir={tmp / 'run'}"]
    train(load_config(QUICKSTART, overrides))
    return tmp / "run", data


@pytest.mark.parametrize("name, file", [("llpr", "llpr.pt"), ("distance", "distance.pt")])
def test_single_model_estimators_are_fitted_once_and_give_a_force_uncertainty(
        trained_run, name, file):
    from ase.build import bulk

    from mlip_gnn.calculators import MLIPCalculator

    run_dir, data = trained_run
    context = EstimatorContext([run_dir], data, {})
    estimator = make_estimator(name, context)
    fitted = (run_dir / file).stat().st_mtime_ns
    make_estimator(name, context)
    assert (run_dir / file).stat().st_mtime_ns == fitted  # not fitted again
    with pytest.raises(CommitteeError):
        make_estimator(name, EstimatorContext([run_dir, run_dir], data, {}))
    atoms = bulk("Cu", "fcc", a=3.6, cubic=True)
    atoms.rattle(0.1, seed=0)
    atoms.calc = MLIPCalculator(str(run_dir), estimator=estimator)
    atoms.get_forces()
    spread = atoms.calc.results["forces_std"]
    assert spread.shape == (4,) and np.all(spread > 0)
    assert atoms.calc.results["max_forces_std"] == pytest.approx(spread.max())
