"""The estimator registry of select.estimator."""

from pathlib import Path

import numpy as np
import pytest

from mlip_gnn.active_learning import (ESTIMATORS, EstimatorContext, EstimatorError,
                                      make_estimator, register_estimator)
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
