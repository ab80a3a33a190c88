"""``train.fit_to_time_limit``: a run on a slow machine is cut to the epochs its time limit
holds, with its loss stages and cosine moved along, and a resumed run keeps the cut.

The clock is the trainer's ``elapsed_s``, replaced by one that charges a fixed number of
seconds per optimiser step, so the pace of the run is known exactly."""

import logging
import signal

import pytest

from mlip_gnn.config import ConfigError
from mlip_gnn.train import train
from mlip_gnn.train.trainer import Trainer
from test_trainer import _interrupt_after, _records, _without_times
from train_support import PairPotential, config_maker, paced_clock, write_tiny_cu

SECONDS_PER_EPOCH = 10.0
STAGES = [{"epoch": 10, "energy_weight": 7.0}, {"epoch": 15, "energy_weight": 70.0}]


@pytest.fixture(scope="module")
def tiny_xyz(tmp_path_factory):
    return write_tiny_cu(tmp_path_factory.mktemp("time-budget-data") / "cu.xyz")


@pytest.fixture
def make_config(tiny_xyz, tmp_path):
    return config_maker(tiny_xyz, tmp_path)


@pytest.fixture
def steady_clock(monkeypatch):
    """Each epoch takes SECONDS_PER_EPOCH, spread evenly over its steps."""
    monkeypatch.setattr(Trainer, "elapsed_s", paced_clock(SECONDS_PER_EPOCH))


def _budget_config(make_config, name="run", minutes=100.0 / 60.0, fit=True):
    return make_config(name, optim={"scheduler": "cosine", "lr": 0.01, "min_lr": 0.001},
                       loss={"stages": STAGES},
                       train={"max_epochs": 20, "max_time_minutes": minutes,
                              "fit_to_time_limit": fit, "best_metric": "last"})


def test_a_slow_run_is_cut_with_its_stages_and_cosine_moved(make_config, steady_clock,
                                                           caplog):
    # 100 s hold 10 epochs of 10 s; with 5 % kept in hand, 2 timed + 7 = 9
    with caplog.at_level(logging.INFO, logger="mlip_gnn.train"):
        result = train(_budget_config(make_config), model_factory=PairPotential)
    assert ("2 epochs took 20 s: 9 of the 20 epochs fit in the time limit (2 min); the run "
            "now ends after epoch 8, loss stages at epochs [4, 7]") in caplog.text
    assert result.stop_reason == "max_epochs" and result.epochs_done == 9
    records = _records(result.run_dir)
    assert [r["epoch"] for r in records] == list(range(9))
    # stages at 10 and 15 of 20 epochs -> the same fractions of 9: epochs 4 (4.5) and 7
    weights = [r["loss_weights"]["energy"] for r in records]
    assert weights == [1.0] * 4 + [7.0] * 3 + [70.0] * 2
    lrs = [r["lr"] for r in records]
    assert lrs[-1] == pytest.approx(0.001)  # the cosine ends at min_lr on the new last epoch
    assert all(a > b for a, b in zip(lrs, lrs[1:]))
    assert "valid" in records[-1]


def test_without_the_option_the_limit_cuts_before_the_last_stages(make_config, steady_clock):
    result = train(_budget_config(make_config, fit=False), model_factory=PairPotential)
    assert result.stop_reason == "time limit"
    weights = {r["loss_weights"]["energy"] for r in _records(result.run_dir)}
    assert weights == {1.0}  # the stages at epochs 10 and 15 never came


def test_a_run_that_fits_is_left_as_configured(make_config, steady_clock):
    result = train(_budget_config(make_config, minutes=1000.0 / 60.0),
                   model_factory=PairPotential)
    assert result.epochs_done == 20
    weights = [r["loss_weights"]["energy"] for r in _records(result.run_dir)]
    assert weights == [1.0] * 10 + [7.0] * 5 + [70.0] * 5


def test_resume_after_the_cut_keeps_it_and_is_exact(make_config, steady_clock, monkeypatch):
    reference = train(_budget_config(make_config, "a"), model_factory=PairPotential)
    cfg = _budget_config(make_config, "b")
    with monkeypatch.context() as patch:
        _interrupt_after(patch, 6 * 4 + 2, signal.SIGTERM)  # epoch 6, after the cut at 2
        stopped = train(cfg, model_factory=PairPotential)
    assert stopped.interrupted
    resumed = train(cfg, model_factory=PairPotential)
    assert resumed.epochs_done == 9
    assert _without_times(_records(resumed.run_dir)) == \
        _without_times(_records(reference.run_dir))


def test_a_run_stopped_before_the_cut_judges_its_own_budget(make_config, steady_clock,
                                                           monkeypatch):
    """The time limit counts per process: resumed at epoch 1, two epochs later the new
    process has 80 s left for 10 s epochs, so 3 + 7 epochs."""
    cfg = _budget_config(make_config)
    with monkeypatch.context() as patch:
        _interrupt_after(patch, 4 + 1, signal.SIGTERM)  # epoch 1, before any cut
        train(cfg, model_factory=PairPotential)
    resumed = train(cfg, model_factory=PairPotential)
    assert resumed.epochs_done == 10
    weights = [r["loss_weights"]["energy"] for r in _records(resumed.run_dir)]
    assert weights == [1.0] * 5 + [7.0] * 3 + [70.0] * 2  # stages at 5 and 8 (7.5)


def test_fitting_needs_a_time_limit(make_config):
    with pytest.raises(ConfigError, match="train.fit_to_time_limit.*max_time_minutes"):
        make_config(train={"fit_to_time_limit": True})
