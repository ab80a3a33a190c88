"""``train.budget_minutes``: a run planned in time keeps its stages and its decay at their
fractions of the time actually available, whatever the pace, and a resumed run continues
the plan.

The trainer's clock is a :class:`SimulatedClock`: each optimiser step and each validation
takes the simulated seconds the test gives, so the pace (and its changes) is known exactly.
Tiny Cu data: 8 training frames, batches of 2, so 4 steps an epoch.
"""

import logging
import signal

import pytest

from mlip_gnn.config import ConfigError
from mlip_gnn.train import train
from mlip_gnn.train.callbacks import Callback
from test_trainer import _interrupt_after, _records, _without_times
from train_support import PairPotential, SimulatedClock, config_maker, write_tiny_cu

BUDGET_S = 1000.0
VALID_S = 5.0
STAGES = [{"at": 0.6, "energy_weight": 7.0}, {"at": 0.8, "energy_weight": 70.0}]
LR, MIN_LR = 0.01, 0.001


@pytest.fixture(scope="module")
def tiny_xyz(tmp_path_factory):
    return write_tiny_cu(tmp_path_factory.mktemp("time-budget-data") / "cu.xyz")


@pytest.fixture
def make_config(tiny_xyz, tmp_path):
    return config_maker(tiny_xyz, tmp_path)


class StepLog(Callback):
    """Per optimiser step: the run's clock and progress at its start, the energy weight
    and learning rate it trained with; and the first plan, with the clock it came at."""

    def __init__(self):
        self.rows, self.first_plan = [], None

    def on_step_start(self, trainer):
        s = trainer.state
        self.rows.append({"step": s.global_step, "epoch": s.epoch, "t": s.elapsed_s,
                          "p": s.progress, "energy": trainer.loss.weights["energy"],
                          "plan": trainer.plan})

    def on_step_end(self, trainer, loss, grad_norm):
        self.rows[-1]["lr"] = trainer.optimizer.param_groups[0]["lr"]
        if self.first_plan is None and trainer.plan is not None:
            self.first_plan = (trainer.state.elapsed_s, trainer.plan)

    def stage_starts(self):
        """(step, clock) of the first step of each new energy weight."""
        return [(b["step"], b["t"]) for a, b in zip(self.rows, self.rows[1:])
                if b["energy"] != a["energy"]]


def _budget_config(make_config, name="run", budget_s=BUDGET_S, **train_options):
    return make_config(name, optim={"scheduler": "cosine", "lr": LR, "min_lr": MIN_LR},
                       loss={"stages": STAGES},
                       train={"max_epochs": None, "budget_minutes": budget_s / 60.0,
                              "best_metric": "last", **train_options})


PACES = {
    # 1 s a step for two epochs, then 10x slower: timing the first epochs would plan 10x
    # too many
    "10x slower": lambda step, now: 1.0 if step < 8 else 10.0,
    "10x faster": lambda step, now: 10.0 if step < 8 else 1.0,
    "slower halfway": lambda step, now: 2.0 if now < BUDGET_S / 2 else 20.0,
    "faster halfway": lambda step, now: 20.0 if now < BUDGET_S / 2 else 2.0,
}


def _check_the_plan_held(log, clock, result, longest_step):
    assert result.stop_reason == "budget_minutes"
    usable = BUDGET_S - VALID_S  # one validation kept in hand (no test set)
    starts = log.stage_starts()
    assert [row["energy"] for row in log.rows[-1:]] == [70.0] and len(starts) == 2
    for (_, t), stage in zip(starts, STAGES):
        # at the first step at or after the stage's fraction of the time (a validation may
        # lie between)
        assert 0.0 <= t - stage["at"] * usable <= longest_step + VALID_S
        assert abs(t - stage["at"] * BUDGET_S) <= 0.05 * BUDGET_S
    # the whole budget used, not overrun by more than a step, and the cosine ran to its end
    assert BUDGET_S - longest_step <= clock.now <= BUDGET_S + longest_step
    last = log.rows[-1]
    assert last["lr"] <= MIN_LR + 0.02 * (LR - MIN_LR)
    assert last["t"] >= starts[-1][1] + 0.15 * BUDGET_S  # the last stage ran its fifth
    lrs = [row["lr"] for row in log.rows]
    assert all(a >= b for a, b in zip(lrs, lrs[1:]))


@pytest.mark.parametrize("pace", PACES, ids=list(PACES))
def test_stages_and_decay_keep_their_fraction_of_the_time_whatever_the_pace(
        make_config, monkeypatch, pace):
    clock = SimulatedClock(PACES[pace], VALID_S).install(monkeypatch)
    log = StepLog()
    result = train(_budget_config(make_config), model_factory=PairPotential, callbacks=[log])
    longest = max(PACES[pace](row["step"], row["t"]) for row in log.rows)
    _check_the_plan_held(log, clock, result, longest)
    records = _records(result.run_dir)
    assert "valid" in records[-1] and records[-1]["progress"] >= 0.99
    assert (result.run_dir / "last.pt").is_file() and (result.run_dir / "best.pt").is_file()


def test_a_run_ends_inside_an_epoch_when_its_budget_is_spent(make_config, monkeypatch):
    # 40 s steps, 160 s epochs: 1000 s hold 24.75 steps less the reserve
    SimulatedClock(lambda step, now: 40.0, VALID_S).install(monkeypatch)
    log = StepLog()
    result = train(_budget_config(make_config), model_factory=PairPotential, callbacks=[log])
    assert result.stop_reason == "budget_minutes"
    assert log.rows[-1]["step"] == 24 and log.rows[-1]["epoch"] == 6  # epoch 6's first
    records = _records(result.run_dir)
    assert records[-1]["epoch"] == 6 and records[-1]["step"] == 25 and "valid" in records[-1]


def test_a_resumed_run_continues_the_plan_exactly(make_config, monkeypatch, caplog):
    pace = PACES["10x slower"]
    with monkeypatch.context() as patch:
        reference_log = StepLog()
        SimulatedClock(pace, VALID_S).install(patch)
        reference = train(_budget_config(make_config, "a"), model_factory=PairPotential,
                          callbacks=[reference_log])
    clock = SimulatedClock(pace, VALID_S).install(monkeypatch)
    cfg, first, second = _budget_config(make_config, "b"), StepLog(), StepLog()
    with monkeypatch.context() as patch:
        _interrupt_after(patch, 42, signal.SIGTERM)  # mid-run (at 422 s), mid-epoch
        stopped = train(cfg, model_factory=PairPotential, callbacks=[first])
    assert stopped.interrupted and first.rows[-1]["t"] < 0.5 * BUDGET_S
    with caplog.at_level(logging.INFO, logger="mlip_gnn.train"):
        resumed = train(cfg, model_factory=PairPotential, callbacks=[second])
    def steps(log):  # the plan is each process's own forecast
        return [{k: v for k, v in row.items() if k != "plan"} for row in log.rows]

    assert steps(first) + steps(second) == steps(reference_log)
    assert _without_times(_records(resumed.run_dir)) == \
        _without_times(_records(reference.run_dir))
    _check_the_plan_held(second, clock, resumed, 10.0)
    # the resumed process plans from its own pace: 10 s a step (and a validation among its
    # first 3 steps, the first left out), not the 1 s of the run's first epochs
    assert second.first_plan[1].seconds_per_step == pytest.approx((2 * 10.0 + VALID_S) / 2)
    assert "plan at 4" in caplog.text


@pytest.mark.parametrize("epoch_s", [30.0, 330.0, 900.0])
def test_the_first_stage_is_planned_within_5_percent_of_an_hour_whatever_the_epoch_time(
        make_config, monkeypatch, epoch_s, caplog):
    """One-frame batches: 8 steps an epoch, a validation 5 % of an epoch. The plan comes
    after the first steps (5, or 2 % of the budget), long before the first epoch ends when
    epochs are long; it forecasts the first stage's step to 5 % of the run, and the plan in
    force when the stage starts (made again after each epoch) to one step."""
    budget = 3600.0
    SimulatedClock(lambda step, now: epoch_s / 8, 0.05 * epoch_s).install(monkeypatch)
    log = StepLog()
    cfg = make_config(optim={"scheduler": "cosine", "lr": LR, "min_lr": MIN_LR},
                      loss={"stages": STAGES}, data={"batch_size": 1},
                      train={"max_epochs": None, "budget_minutes": 60.0, "best_metric": "last"})
    with caplog.at_level(logging.INFO, logger="mlip_gnn.train"):
        train(cfg, model_factory=PairPotential, callbacks=[log])
    planned_at, forecast = log.first_plan
    assert planned_at <= 0.05 * budget
    first_stage_step, first_stage_t = log.stage_starts()[0]
    total_steps = log.rows[-1]["step"] + 1
    assert abs(forecast.stage_steps[0] - first_stage_step) <= 0.05 * total_steps
    in_force = next(row["plan"] for row in log.rows if row["step"] == first_stage_step)
    assert abs(in_force.stage_steps[0] - first_stage_step) <= 1
    assert abs(first_stage_t - 0.6 * budget) <= 0.05 * budget
    assert "fractional loss stages start at step" in caplog.text


def test_the_first_plan_leaves_out_the_warm_up_step(make_config, monkeypatch):
    # a first step 5x slower than the rest (allocations, caches): the plan comes after 3
    # steps (2 % of the budget spent) at the pace of the two after it
    SimulatedClock(lambda step, now: 15.0 if step == 0 else 3.0, VALID_S).install(monkeypatch)
    log = StepLog()
    train(_budget_config(make_config), model_factory=PairPotential, callbacks=[log])
    planned_at, forecast = log.first_plan
    assert planned_at == 21.0 and forecast.seconds_per_step == pytest.approx(3.0)


def test_a_pace_that_drifts_is_planned_again(make_config, monkeypatch, caplog):
    SimulatedClock(PACES["slower halfway"], VALID_S).install(monkeypatch)
    with caplog.at_level(logging.INFO, logger="mlip_gnn.train"):
        train(_budget_config(make_config), model_factory=PairPotential)
    replans = [line for line in caplog.text.splitlines() if "re-plan" in line]
    # after the first validation (4 steps of 2 s and 5 s of validation), then when the pace
    # changes (an epoch of mixed pace, then 20 s steps)
    assert "epoch 0: 3.25 s per step with validation" in replans[0]
    assert len(replans) >= 2 and "21.2 s per step" in replans[-1]


def test_epochs_cap_a_fast_run_and_the_fractions_follow_them(make_config, monkeypatch):
    """Budget and max_epochs both set: the run ends at whichever comes first, and the
    stages are fractions of that one (here 10 epochs of 40 steps in 1000 s)."""
    SimulatedClock(lambda step, now: 1.0, VALID_S).install(monkeypatch)
    log = StepLog()
    result = train(_budget_config(make_config, max_epochs=10), model_factory=PairPotential,
                   callbacks=[log])
    assert result.stop_reason == "max_epochs" and result.epochs_done == 10
    assert [step for step, _ in log.stage_starts()] == [24, 32]  # epochs 6 and 8


def test_max_steps_ends_the_run_inside_an_epoch_with_its_stages_at_fractions(make_config):
    log = StepLog()
    cfg = make_config(loss={"stages": STAGES}, train={"max_epochs": None, "max_steps": 10,
                                                      "best_metric": "last"})
    result = train(cfg, model_factory=PairPotential, callbacks=[log])
    assert result.stop_reason == "max_steps" and len(log.rows) == 10
    assert [step for step, _ in log.stage_starts()] == [6, 8]
    assert "valid" in _records(result.run_dir)[-1]


def test_ema_start_keeps_the_average_to_the_later_part_of_the_run(make_config):
    from mlip_gnn.modelio import load_checkpoint

    def ema_updates(ema_start):
        cfg = make_config(f"ema{ema_start}", optim={"ema_start": ema_start})
        run_dir = train(cfg, model_factory=PairPotential).run_dir
        return load_checkpoint(run_dir / "last.pt")["ema"]["num_updates"]

    # 4 epochs of 4 steps: from the start, all 16 steps average; from half-way, 8
    assert ema_updates(0.0) == 16 and ema_updates(0.5) == 8


def test_a_fractional_warmup_raises_the_lr_over_its_share_of_the_steps(make_config):
    log = StepLog()
    cfg = make_config(optim={"scheduler": "none", "lr": 0.01, "warmup": 0.5})
    train(cfg, model_factory=PairPotential, callbacks=[log])
    lrs = [row["lr"] for row in log.rows]  # 16 steps, p = step / 16
    assert lrs[0] == pytest.approx(0.001) and lrs[4] == pytest.approx(0.001 + 0.009 * 0.5)
    assert lrs[8:] == pytest.approx([0.01] * 8)


@pytest.mark.parametrize("train_options, match", [
    ({"fit_to_time_limit": True}, "train.fit_to_time_limit was removed: set train.budget"),
    ({"max_epochs": None}, "train.max_epochs: null.*max_steps.*budget_minutes"),
])
def test_config_errors_name_the_key(make_config, train_options, match):
    with pytest.raises(ConfigError, match=match):
        make_config(train=train_options)


@pytest.mark.parametrize("sections, match", [
    ({"loss": {"stages": [{"at": 1.5}]}}, r"loss.stages\[0\].at"),
    ({"loss": {"stages": [{"at": 0.5, "epoch": 3}]}}, "exactly one of 'at'"),
    ({"loss": {"stages": [{"energy_weight": 3.0}]}}, "exactly one of 'at'"),
    ({"loss": {"stages": [{"at": 0.5}, {"epoch": 9}]}}, r"stages\[1\].epoch: every stage"),
    ({"loss": {"stages": [{"at": 0.5}, {"at": 0.4}]}}, r"stages\[1\].at: got 0.4"),
    ({"optim": {"warmup": 0.1, "warmup_epochs": 2}}, "optim.warmup_epochs"),
    ({"optim": {"scheduler": "step"}}, "optim.step_at"),
    ({"optim": {"scheduler": "cosine", "step_at": [0.5]}}, "optim.step_at"),
    ({"optim": {"scheduler": "step", "step_at": [0.7, 0.5]}}, "strictly increasing"),
    ({"optim": {"ema_decay": None, "ema_start": 0.5}}, "optim.ema_start"),
    ({"optim": {"ema_start": 1.0}}, "optim.ema_start"),
])
def test_fraction_settings_are_checked(make_config, sections, match):
    with pytest.raises(ConfigError, match=match):
        make_config(**sections)


def test_a_run_without_a_budget_plans_nothing(make_config, caplog):
    with caplog.at_level(logging.INFO, logger="mlip_gnn.train"):
        train(make_config(), model_factory=PairPotential)
    assert "plan at" not in caplog.text and "re-plan" not in caplog.text
