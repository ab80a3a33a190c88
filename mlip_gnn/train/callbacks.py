"""The parts of a run around the bare loop: loss stages, validation and the best model,
logging, checkpoints. Each is a :class:`Callback`; :func:`default_callbacks` gives the
standard run, in the order they must act, and ``train(..., callbacks=[...])`` adds more.

Callbacks keep their state in the trainer's :class:`~mlip_gnn.train.loop.LoopState`
(saved in every checkpoint), so a resumed run continues exactly.
"""

from __future__ import annotations

import math
from typing import Any, Dict, List

from mlip_gnn.train import distributed as dist
from mlip_gnn.train.loop import Callback
from mlip_gnn.train.optim import set_weight_decay
from mlip_gnn.train.progress import plan
from mlip_gnn.train.trainer import Trainer

__all__ = ["Callback", "LossStages", "Validation", "Logging", "PlanReport", "Checkpoints",
           "default_callbacks"]


class LossStages(Callback):
    """``loss.stages``: at a stage's start (epoch, or fraction of the run, checked before
    every step), its loss weights, base learning rate and weight decay; the best model and
    early stopping are then judged anew, or a force-weighted first stage could keep "best"
    for ever."""

    def on_epoch_start(self, trainer: Trainer) -> None:
        """Apply the stage in force at the epoch's start."""
        self.on_step_start(trainer)

    def on_step_start(self, trainer: Trainer) -> None:
        """Apply every stage that the epoch or the run's progress has reached since the last
        step."""
        s, stages = trainer.state, trainer.stages
        index = stages.index_at(s.epoch, s.progress)
        if index <= s.stage_index:
            return
        for stage in stages.stages[s.stage_index + 1: index + 1]:
            if stage.lr is not None:
                trainer.lr_schedule.set_base_lr(stage.lr)
            if stage.weight_decay is not None:
                set_weight_decay(trainer.optimizer, stage.weight_decay)
        trainer.loss.set_weights(stages.weights_upto(index))
        s.stage_index = index
        s.best_value, s.rounds_since_best = math.inf, 0
        trainer.lr_schedule.forget_best()
        decay = max(g["weight_decay"] for g in trainer.optimizer.param_groups)
        trainer.monitor.info("epoch %d step %d (%.1f %% of the run, %.0f s): loss stage %d "
                             "starts: weights %s, base lr %.3g, weight decay %.3g; best model "
                             "tracked anew", s.epoch, s.global_step, 100.0 * s.progress,
                             s.elapsed_s, index, trainer.loss.weights,
                             trainer.lr_schedule.base_lr, decay)


class Validation(Callback):
    """Every ``train.valid_interval`` epochs (and at the last): metrics on the validation
    set with the EMA weights (the training metrics without one), reported to the lr
    schedule; a new best ``train.best_metric`` writes ``best.pt``. The longest validation
    is kept in hand at the end of a time budget."""

    def on_epoch_end(self, trainer: Trainer, record: Dict[str, Any]) -> None:
        """When due, validate (EMA weights), feed the lr schedule and write ``best.pt`` on a new
        best."""
        s, settings = trainer.state, trainer.settings
        if (s.epoch + 1) % settings.valid_interval and trainer.run_ends() is None:
            return
        began = trainer.elapsed_s()
        valid = (trainer.evaluate(trainer.valid_loader) if trainer.valid_loader is not None
                 else record["train"])
        s.valid_s = max(s.valid_s, trainer.elapsed_s() - began)
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
        """Pass the step's loss and gradient norm to the monitor."""
        s = trainer.state
        trainer.monitor.step(epoch=s.epoch, global_step=s.global_step, batch=s.step_in_epoch,
                             num_batches=trainer.epoch_batches, loss=loss, grad_norm=grad_norm,
                             epoch_elapsed=s.epoch_elapsed_s)

    def on_epoch_end(self, trainer: Trainer, record: Dict[str, Any]) -> None:
        """Pass the epoch's record and the time left to the monitor."""
        s, limit = trainer.state, trainer.settings.max_time_s
        left = math.inf if limit is None else limit - trainer.elapsed_s()
        if s.progress > 0:  # the rest of the run at the pace so far
            left = min(left, s.elapsed_s * (1.0 - min(s.progress, 1.0)) / s.progress)
        trainer.monitor.epoch(record, left)


class PlanReport(Callback):
    """With ``train.budget_minutes``: after the first optimiser steps (``first_steps``, or
    ``first_share`` of the budget, whichever comes first) the plan their pace gives (steps
    and epochs the run has, the steps at which the fractional loss stages start), in
    ``trainer.plan`` and the log. After every epoch the plan is made again from that epoch's
    pace, validation and checkpoint included, and logged after the first validation and
    whenever the pace strays by more than ``drift``. The plan is a forecast: progress
    itself is the share of the budget spent (:mod:`mlip_gnn.train.progress`), so the stages
    and the decay follow the pace actually seen."""

    first_steps = 5
    first_share = 0.02
    drift = 0.25

    def __init__(self):
        self.epoch_start = (0.0, 0)  # (run clock, global step) when the epoch began
        self.validated = False  # whether a plan has counted a validation yet
        self.first_step_s = 0.0  # this process's first step (warm-up, slower than the rest)

    def on_epoch_start(self, trainer: Trainer) -> None:
        """Note the run clock and the step at the epoch's start."""
        self.epoch_start = (trainer.state.elapsed_s, trainer.state.global_step)

    def on_step_end(self, trainer: Trainer, loss: float, grad_norm: float) -> None:
        """Make and log the first plan once the first steps (or share of the budget) set the
        pace."""
        s, budget = trainer.state, trainer.settings.length.seconds
        if trainer.plan is not None or budget is None:
            return
        steps = s.global_step - trainer.first_step
        spent = s.elapsed_s - trainer.elapsed_before_s
        if steps == 1:
            self.first_step_s = spent
        if (steps >= min(self.first_steps, trainer.epoch_batches)
                or spent >= self.first_share * budget):
            # the first step pays for warm-up (allocations, caches): left out from 3 steps on
            pace = (spent - self.first_step_s) / (steps - 1) if steps >= 3 else spent / steps
            self._report(trainer, pace, "plan")

    def after_epoch(self, trainer: Trainer, stop_reason: str | None) -> None:
        """Re-plan from the epoch's pace; log it after the first validation or when the pace moved
        by more than ``drift``."""
        s, planned = trainer.state, trainer.plan
        steps = s.global_step - self.epoch_start[1]
        if planned is None or stop_reason is not None or not steps:
            return
        pace = (s.elapsed_s - self.epoch_start[0]) / steps
        what = f"epoch {s.epoch - 1}: {pace:.3g} s per step with validation; re-plan"
        if not self.validated or abs(pace / planned.seconds_per_step - 1.0) > self.drift:
            self.validated = True
            self._report(trainer, pace, what)
        else:
            self._report(trainer, pace, None)

    @staticmethod
    def _report(trainer: Trainer, pace: float, what: str | None) -> None:
        s = trainer.state
        fractions = [stage.at for stage in trainer.stages.stages if stage.at is not None]
        trainer.plan = plan(trainer.settings.length, trainer.reserve_s(), s.elapsed_s,
                            s.global_step, pace, trainer.epoch_batches, fractions)
        if what is not None:
            trainer.monitor.info("%s at %.0f s (%.1f %% of the budget): %s", what,
                                 s.elapsed_s, 100.0 * s.progress,
                                 trainer.plan.describe(trainer.epoch_batches))


class Checkpoints(Callback):
    """``last.pt`` every ``train.checkpoint_interval`` epochs (with a kept snapshot), when
    the run stops for any reason, and after the last epoch."""

    def after_epoch(self, trainer: Trainer, stop_reason: str | None) -> None:
        """Write ``last.pt`` when due or when the run stops (a snapshot when due)."""
        epoch, interval = trainer.state.epoch, trainer.settings.checkpoint_interval
        due = epoch % interval == 0
        if due or stop_reason is not None:  # the run's end included
            trainer.save_last(snapshot=due)

    def on_interrupt(self, trainer: Trainer, reason: str) -> None:
        """Write ``last.pt`` when the run is interrupted."""
        trainer.save_last()


def default_callbacks() -> List[Callback]:
    """The standard run, in order: stages first (they set the weights the epoch trains
    with), validation before logging (the line carries its metrics), the plan report after
    validation (whose time it counts), checkpoints last."""
    return [LossStages(), Validation(), Logging(), PlanReport(), Checkpoints()]
