"""The loop's parts as callbacks: order of the hooks, user callbacks, and a loop without
the standard parts."""

import pytest

from mlip_gnn.train import train
from mlip_gnn.train.callbacks import Callback, Checkpoints, default_callbacks
from train_support import PairPotential, config_maker, write_tiny_cu


@pytest.fixture(scope="module")
def tiny_xyz(tmp_path_factory):
    return write_tiny_cu(tmp_path_factory.mktemp("callbacks-data") / "cu.xyz", n_frames=8)


class Recorder(Callback):
    def __init__(self):
        self.calls = []

    def on_epoch_start(self, trainer):
        self.calls.append(("start", trainer.state.epoch, dict(trainer.loss.weights)))

    def on_step_end(self, trainer, loss, grad_norm):
        self.calls.append(("step", trainer.state.global_step))

    def on_epoch_end(self, trainer, record):
        self.calls.append(("end", record["epoch"], "valid" in record))

    def after_epoch(self, trainer, stop_reason):
        self.calls.append(("after", trainer.state.epoch, stop_reason,
                           trainer.checkpoints.last.exists()))


def test_user_callbacks_see_every_hook_after_the_standard_parts(tiny_xyz, tmp_path):
    make = config_maker(tiny_xyz, tmp_path)
    recorder = Recorder()
    cfg = make(train={"max_epochs": 2, "valid_interval": 2},
               loss={"stages": [{"epoch": 1, "energy_weight": 7.0}]})
    train(cfg, model_factory=PairPotential, callbacks=[recorder])
    starts = [c for c in recorder.calls if c[0] == "start"]
    assert [s[2]["energy"] for s in starts] == [1.0, 7.0]  # stages act before user hooks
    ends = [c for c in recorder.calls if c[0] == "end"]
    assert ends == [("end", 0, False), ("end", 1, True)]  # validation every 2nd epoch
    afters = [c for c in recorder.calls if c[0] == "after"]
    # a user callback runs after Checkpoints, so last.pt of the epoch is already written
    # the last epoch's hook is told that the run ends there (its length reached)
    assert afters == [("after", 1, None, True), ("after", 2, "max_epochs", True)]
    steps = [c[1] for c in recorder.calls if c[0] == "step"]
    assert steps == list(range(1, len(steps) + 1)) and len(steps) >= 4


def test_default_parts_are_in_acting_order():
    names = [type(c).__name__ for c in default_callbacks()]
    assert names == ["LossStages", "Validation", "Logging", "PlanReport", "Checkpoints"]
    assert isinstance(default_callbacks()[-1], Checkpoints)
