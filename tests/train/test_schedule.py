import pytest
import torch

from mlip_gnn.train.optim import ExponentialMovingAverage, build_optimizer
from mlip_gnn.train.progress import RunLength, plan, reserve_s
from mlip_gnn.train.schedule import LRSchedule, Stage, StageSchedule


def _optimizer():
    return build_optimizer("adam", [torch.nn.Parameter(torch.zeros(2))], lr=1.0)


def test_warmup_epochs_then_cosine_to_min_lr_at_the_runs_end():
    schedule = LRSchedule(_optimizer(), "cosine", lr=1.0, min_lr=0.1, warmup_epochs=2)
    lrs = [schedule.set(p, epoch) for epoch, p in enumerate([0.0, 0.2, 0.4, 0.6, 0.8])]
    assert lrs[:3] == pytest.approx([1 / 3, 2 / 3, 1.0])  # the decay starts where it ended
    assert all(a > b for a, b in zip(lrs[2:], lrs[3:]))
    assert schedule.set(1.0, 5) == pytest.approx(0.1)
    assert schedule.optimizer.param_groups[0]["lr"] == pytest.approx(0.1)
    assert schedule.state_dict()["decay_from"] == 0.4


def test_fractional_warmup_then_cosine():
    schedule = LRSchedule(_optimizer(), "cosine", lr=1.0, min_lr=0.0, warmup=0.2)
    assert schedule.lr_at(0.0) == pytest.approx(0.1)  # from a tenth of the lr
    assert schedule.lr_at(0.1) == pytest.approx(0.55)
    assert schedule.lr_at(0.2) == pytest.approx(1.0)
    assert schedule.lr_at(0.6) == pytest.approx(0.5)  # half-way through the cosine
    assert schedule.lr_at(1.0) == pytest.approx(0.0)


def test_step_decay_at_fractions_of_the_run():
    schedule = LRSchedule(_optimizer(), "step", lr=1.0, min_lr=0.005, step_at=[0.5, 0.75],
                          step_factor=0.1)
    assert [schedule.lr_at(p) for p in (0.0, 0.49, 0.5, 0.74, 0.75, 1.0)] == pytest.approx(
        [1.0, 1.0, 0.1, 0.1, 0.01, 0.01])
    low = LRSchedule(_optimizer(), "step", lr=1.0, min_lr=0.05, step_at=[0.5, 0.75])
    assert low.lr_at(0.8) == pytest.approx(0.05)  # never below min_lr


def test_plateau_reduces_after_patience_and_stage_lr_restarts():
    schedule = LRSchedule(_optimizer(), "plateau", lr=1.0, min_lr=0.3, plateau_factor=0.5,
                          plateau_patience=1)
    for metric in (1.0, 1.0, 1.0):  # improvement, then 2 rounds without
        schedule.observe(metric)
    assert schedule.lr_at(5) == pytest.approx(0.5)
    schedule.observe(1.0)
    schedule.observe(1.0)
    assert schedule.lr_at(5) == pytest.approx(0.3)  # 0.25 clamped to min_lr
    state = schedule.state_dict()
    schedule.set_base_lr(0.01)
    assert schedule.lr_at(5) == pytest.approx(0.3)  # min_lr bound holds for a stage lr too
    schedule.load_state_dict(state)
    assert schedule.lr_at(5) == pytest.approx(0.3) and schedule.base_lr == 1.0


@pytest.mark.parametrize("new_stage", [True, False])
def test_plateau_judges_a_new_stage_afresh(new_stage):
    """A stage that raises a loss weight raises the validation loss; improving within the
    stage must not count as a plateau, and the lr reached so far is kept."""
    schedule = LRSchedule(_optimizer(), "plateau", lr=1.0, plateau_factor=0.5,
                          plateau_patience=1)
    for metric in (1.0, 1.0, 1.0):
        schedule.observe(metric)
    assert schedule.lr_at(3) == pytest.approx(0.5)
    if new_stage:
        schedule.forget_best()
    for metric in (50.0, 40.0, 30.0):  # the new stage's loss, improving
        schedule.observe(metric)
    assert schedule.lr_at(6) == pytest.approx(0.5 if new_stage else 0.25)


def test_stage_weights_compose():
    stages = StageSchedule({"energy": 1.0, "forces": 10.0},
                           [Stage.from_mapping({"epoch": 2, "forces_weight": 1.0}),
                            Stage(5, {"energy": 100.0}, lr=0.1)])
    assert stages.index_at(1) == -1 and stages.weights_upto(-1) == {"energy": 1.0,
                                                                    "forces": 10.0}
    assert stages.index_at(2) == 0 and stages.weights_upto(0) == {"energy": 1.0, "forces": 1.0}
    assert stages.lr_upto(0) is None
    assert stages.index_at(7) == 1 and stages.weights_upto(1) == {"energy": 100.0,
                                                                  "forces": 1.0}
    assert stages.lr_upto(1) == 0.1


def test_fractional_stages_start_at_their_progress_whatever_the_epoch():
    stages = StageSchedule({"energy": 1.0}, [Stage.from_mapping({"at": 0.6, "energy_weight": 7}),
                                             Stage(None, {"energy": 70.0}, at=0.8)])
    assert [stages.index_at(0, p) for p in (0.0, 0.599, 0.6, 0.79, 0.8, 1.0)] == \
        [-1, -1, 0, 0, 1, 1]
    assert stages.index_at(1000, 0.5) == -1  # epochs do not count for them


def test_run_length_progress_is_the_largest_fraction_and_names_the_end():
    length = RunLength(epochs=10, steps=None, seconds=100.0)
    assert length.progress(epochs=2.5, steps=7, seconds=50.0) == pytest.approx(0.5)
    assert length.progress(epochs=5.0, steps=7, seconds=10.0) == pytest.approx(0.5)
    assert length.reached(epochs=9.9, steps=7, seconds=99.0) is None
    assert length.reached(epochs=9.9, steps=7, seconds=99.0, reserve=2.0) == "budget_minutes"
    assert length.reached(epochs=10.0, steps=7, seconds=20.0) == "max_epochs"
    assert RunLength(steps=8).reached(epochs=100.0, steps=8, seconds=1e9) == "max_steps"


def test_the_reserve_holds_a_validation_the_test_set_and_a_checkpoint_but_not_too_much():
    assert reserve_s(1000.0, valid_s=10.0, checkpoint_s=2.0, test_share=0.5) == 17.0
    assert reserve_s(100.0, valid_s=60.0, checkpoint_s=0.0, test_share=0.0) == 25.0


def test_plan_forecasts_the_steps_of_the_budget_and_its_stages():
    # 100 s in, 10 steps done at 10 s a step; 1000 s less 10 s kept: 99 steps in all
    forecast = plan(RunLength(seconds=1000.0), 10.0, 100.0, 10, 10.0, 4, [0.6, 0.8])
    assert forecast.steps == 99 and forecast.epochs == pytest.approx(99 / 4)
    assert forecast.stage_steps == [60, 80]  # 594 s and 792 s
    # 20 epochs of 4 steps end the run first: the stages follow them
    capped = plan(RunLength(epochs=20, seconds=1000.0), 10.0, 100.0, 10, 10.0, 4, [0.6, 0.8])
    assert capped.steps == 80 and capped.stage_steps == [48, 64]
    # a stage at 0.8 of 50 steps comes before 0.8 of the budget
    steps = plan(RunLength(steps=50, seconds=1000.0), 10.0, 100.0, 10, 10.0, 4, [0.6, 0.8])
    assert steps.steps == 50 and steps.stage_steps == [30, 40]


def test_unknown_scheduler_and_optimizer_list_valid_names():
    with pytest.raises(ValueError, match="cosine"):
        LRSchedule(_optimizer(), "linear", lr=1.0)
    with pytest.raises(ValueError, match="adamw"):
        build_optimizer("sgd", [torch.nn.Parameter(torch.zeros(1))], lr=1.0)


def test_ema_average_and_swap_restores_weights():
    model = torch.nn.Linear(1, 1, bias=False)
    with torch.no_grad():
        model.weight.fill_(0.0)
    ema = ExponentialMovingAverage(model, decay=0.5)
    with torch.no_grad():
        model.weight.fill_(1.0)
    ema.update(model)  # decay min(0.5, 1/10) = 0.1: 0.9 · 1 + 0.1 · 0
    assert ema.shadow["weight"].item() == pytest.approx(0.9)
    with ema.applied(model):
        assert model.weight.item() == pytest.approx(0.9)
    assert model.weight.item() == 1.0


def test_an_ema_that_follows_copies_the_weights_and_averages_afresh_after():
    model = torch.nn.Linear(1, 1, bias=False)
    with torch.no_grad():
        model.weight.fill_(0.0)
    ema = ExponentialMovingAverage(model, decay=0.5)
    for value in (3.0, 5.0):
        with torch.no_grad():
            model.weight.fill_(value)
        ema.update(model, follow=True)
    assert ema.shadow["weight"].item() == 5.0 and ema.num_updates == 0
    with torch.no_grad():
        model.weight.fill_(6.0)
    ema.update(model)  # the ramp-up starts over: decay 0.1
    assert ema.shadow["weight"].item() == pytest.approx(0.1 * 5.0 + 0.9 * 6.0)
