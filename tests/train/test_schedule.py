import pytest
import torch

from mlip_gnn.train.optim import ExponentialMovingAverage, build_optimizer
from mlip_gnn.train.schedule import LRSchedule, Stage, StageSchedule, epochs_that_fit


def _optimizer():
    return build_optimizer("adam", [torch.nn.Parameter(torch.zeros(2))], lr=1.0)


def test_warmup_then_cosine_to_min_lr():
    schedule = LRSchedule(_optimizer(), "cosine", lr=1.0, min_lr=0.1, warmup_epochs=2,
                          max_epochs=6)
    lrs = [schedule.start_epoch(e) for e in range(6)]
    assert lrs[:3] == pytest.approx([1 / 3, 2 / 3, 1.0])
    assert lrs[-1] == pytest.approx(0.1)
    assert all(a > b for a, b in zip(lrs[2:], lrs[3:]))
    assert schedule.optimizer.param_groups[0]["lr"] == pytest.approx(0.1)


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
                           [Stage(5, {"energy": 100.0}, lr=0.1),
                            Stage.from_mapping({"epoch": 2, "forces_weight": 1.0})])
    assert stages.index_at(1) == -1 and stages.weights_at(1) == {"energy": 1.0, "forces": 10.0}
    assert stages.weights_at(2) == {"energy": 1.0, "forces": 1.0}
    assert stages.lr_at(4) is None
    assert stages.weights_at(7) == {"energy": 100.0, "forces": 1.0}
    assert stages.lr_at(7) == 0.1


def test_unknown_scheduler_and_optimizer_list_valid_names():
    with pytest.raises(ValueError, match="cosine"):
        LRSchedule(_optimizer(), "step", lr=1.0)
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


def test_fitted_stages_keep_the_started_ones_and_stay_in_order():
    schedule = StageSchedule({"energy": 1.0}, [Stage(e, {"energy": float(e)})
                                               for e in (2, 10, 11, 15)])
    fitted = schedule.fitted(max_epochs=20, new_max_epochs=8, from_epoch=3)
    # 2 had started; 10 -> 4, 11 -> 4.4 -> 4, then one after another; 15 -> 6
    assert [s.epoch for s in fitted.stages] == [2, 4, 5, 6]
    assert fitted.weights_at(5) == {"energy": 11.0}
    early = schedule.fitted(max_epochs=20, new_max_epochs=4, from_epoch=3)
    assert [s.epoch for s in early.stages] == [2, 3, 4, 5]  # none before the next epoch


@pytest.mark.parametrize("elapsed, expected", [(20.0, 9), (5.0, 20), (99.0, 2), (200.0, 2)])
def test_epochs_that_fit(elapsed, expected):
    # two epochs timed; 95 of 100 s planned; never beyond max_epochs nor before the next
    assert epochs_that_fit(100.0, elapsed, 2, 2, 20, 0.95) == expected


def test_cosine_follows_a_new_last_epoch():
    schedule = LRSchedule(_optimizer(), "cosine", lr=1.0, min_lr=0.1, max_epochs=20)
    schedule.set_last_epoch(9)
    assert schedule.lr_at(9) == pytest.approx(0.1) and schedule.lr_at(4) > 0.5
