"""The parts of a run around the bare loop: loss stages, validation and the best model,
logging, checkpoints. Each is a :class:`Callback`; :func:`default_callbacks` gives the
standard run, in the order they must act, and ``train(..., callbacks=[...])`` adds more.

Callbacks keep their state in the trainer's :class:`~mlip_gnn.train.trainer.LoopState`
(saved in every checkpoint), so a resumed run continues exactly.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, Dict, List, Optional

import torch

from mlip_gnn.train import distributed as dist
from mlip_gnn.train.optim import set_weight_decay
from mlip_gnn.train.schedule import epochs_that_fit

if TYPE_CHECKING:  # the trainer calls callbacks; callbacks only read and update it
    from mlip_gnn.train.trainer import Trainer

__all__ = ["Callback", "LossStages", "Validation", "Logging", "TimeBudget", "Checkpoints",
           "default_callbacks"]


class Callback:
    """Hooks of the training loop, called in order on every rank; each does nothing unless
    overridden. ``record`` is the epoch's line of ``metrics.jsonl`` while it is built."""

    def on_epoch_start(self, trainer: Trainer) -> None:
        """Before the epoch's learning rate is set."""

    def on_step_end(self, trainer: Trainer, loss: float, grad_norm: float) -> None:
        """After each optimiser step (or skipped step: loss NaN)."""

    def on_epoch_end(self, trainer: Trainer, record: Dict[str, Any]) -> None:
        """After the epoch's last step, before its counters move on."""

    def after_epoch(self, trainer: Trainer, stop_reason: Optional[str]) -> None:
        """Once the epoch is counted; ``stop_reason``: why the run stops now, or None."""

    def on_interrupt(self, trainer: Trainer, reason: str) -> None:
        """The run stops inside an epoch (signal or time limit)."""


class LossStages(Callback):
    """``loss.stages``: at a stage's epoch, its loss weights, base learning rate and weight
    decay; the best model and early stopping are then judged anew, or a force-weighted first
    stage could keep "best" for ever."""

    def on_epoch_start(self, trainer: Trainer) -> None:
        s, stages = trainer.state, trainer.stages
        index = stages.index_at(s.epoch)
        if index == s.stage_index:
            return
        for stage in stages.stages[s.stage_index + 1: index + 1]:
            if stage.lr is not None:
                trainer.lr_schedule.set_base_lr(stage.lr)
            if stage.weight_decay is not None:
                set_weight_decay(trainer.optimizer, stage.weight_decay)
        trainer.loss.set_weights(stages.weights_at(s.epoch))
        s.stage_index = index
        s.best_value, s.rounds_since_best = math.inf, 0
        trainer.lr_schedule.forget_best()
        decay = max(g["weight_decay"] for g in trainer.optimizer.param_groups)
        trainer.monitor.info("epoch %d: loss stage %d starts: weights %s, base lr %.3g, weight "
                             "decay %.3g; best model tracked anew", s.epoch, index,
                             trainer.loss.weights, trainer.lr_schedule.base_lr, decay)


class Validation(Callback):
    """Every ``train.valid_interval`` epochs (and at the last): metrics on the validation
    set with the EMA weights (the training metrics without one), reported to the lr
    schedule; a new best ``train.best_metric`` writes ``best.pt``."""

    def on_epoch_end(self, trainer: Trainer, record: Dict[str, Any]) -> None:
        s, settings = trainer.state, trainer.settings
        if (s.epoch + 1) % settings.valid_interval and s.epoch + 1 != settings.max_epochs:
            return
        valid = (trainer.evaluate(trainer.valid_loader) if trainer.valid_loader is not None
                 else record["train"])
        record["valid"] = valid
        latest = settings.best_metric == "last"  # every validated model replaces best.pt
        metric = "loss" if latest else settings.best_metric
        value = valid.get(metric, valid.get("loss", math.inf))
        trainer.lr_schedule.observe(value)
        if value >= s.best_value and not latest:
            s.rounds_since_best += 1
            return
        s.best_value, s.best_epoch, s.rounds_since_best = value, s.epoch, 0
        state = {**trainer.metadata, "epoch": s.epoch, "model": trainer.inference_weights(),
                 "ema": None, "weights": "ema" if trainer.ema is not None else "raw",
                 "metrics": valid, "best_metric": settings.best_metric}
        dist.on_main(lambda: trainer.write(trainer.checkpoints.save_best, state))


class Logging(Callback):
    """Progress lines, ``metrics.jsonl`` and TensorBoard through the run's monitor."""

    def on_step_end(self, trainer: Trainer, loss: float, grad_norm: float) -> None:
        s = trainer.state
        trainer.monitor.step(epoch=s.epoch, global_step=s.global_step, batch=s.step_in_epoch,
                             num_batches=trainer.epoch_batches, loss=loss, grad_norm=grad_norm,
                             epoch_elapsed=s.epoch_elapsed_s)

    def on_epoch_end(self, trainer: Trainer, record: Dict[str, Any]) -> None:
        limit = trainer.settings.max_time_s
        left = math.inf if limit is None else limit - trainer.elapsed_s()
        trainer.monitor.epoch(record, left)


class TimeBudget(Callback):
    """``train.fit_to_time_limit``: after the first epochs of a run (5 % of them, at least
    2), the epochs that fit in the time limit at their pace; if fewer than
    ``train.max_epochs``, the run is cut to them from the next epoch on, with its loss
    stages and cosine end moved to the same fractions (:meth:`Trainer.fit_epochs`). Decided
    once and saved in the loop state, so a resumed run keeps the same schedule."""

    share_timed = 0.05  # of max_epochs, timed before deciding
    margin = 0.95  # of the time left, planned: later epochs may run slower

    def after_epoch(self, trainer: Trainer, stop_reason: Optional[str]) -> None:
        s, settings = trainer.state, trainer.settings
        if (not settings.fit_to_time or settings.max_time_s is None or s.fitted_at
                or stop_reason is not None):
            return
        timed = s.epoch - trainer.first_epoch
        if timed < max(2, math.ceil(self.share_timed * trainer.configured_epochs)):
            return
        elapsed = torch.tensor([trainer.elapsed_s()])
        if dist.world_size() > 1:  # every rank must cut the same way: the slowest's pace
            elapsed = dist.all_reduce_max(elapsed.to(trainer.device)).cpu()
        epochs = epochs_that_fit(settings.max_time_s, float(elapsed), timed, s.epoch,
                                 settings.max_epochs, self.margin)
        if epochs >= settings.max_epochs:
            s.fitted_at = s.epoch  # all fit: decided, nothing cut
            return
        trainer.fit_epochs(epochs, s.epoch)
        trainer.monitor.info(
            "%d epochs took %.0f s: %d of the %d epochs fit in the time limit (%.0f min); "
            "the run now ends after epoch %d, loss stages at epochs %s",
            timed, float(elapsed), epochs, trainer.configured_epochs,
            settings.max_time_s / 60.0, epochs - 1,
            [stage.epoch for stage in trainer.stages.stages])


class Checkpoints(Callback):
    """``last.pt`` every ``train.checkpoint_interval`` epochs (with a kept snapshot), when
    the run stops for any reason, and after the last epoch."""

    def after_epoch(self, trainer: Trainer, stop_reason: Optional[str]) -> None:
        epoch, interval = trainer.state.epoch, trainer.settings.checkpoint_interval
        due = epoch % interval == 0
        if due or stop_reason is not None or epoch == trainer.settings.max_epochs:
            trainer.save_last(snapshot=due)

    def on_interrupt(self, trainer: Trainer, reason: str) -> None:
        trainer.save_last()


def default_callbacks() -> List[Callback]:
    """The standard run, in order: stages first (they set the weights the epoch trains
    with), validation before logging (the line carries its metrics), the time budget before
    checkpoints (a cut is saved with the epoch), checkpoints last."""
    return [LossStages(), Validation(), Logging(), TimeBudget(), Checkpoints()]
