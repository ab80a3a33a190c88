"""What the training loop runs by: its settings, its counters (saved in every checkpoint)
and the hooks it calls (:class:`Callback`; the standard ones are in
:mod:`mlip_gnn.train.callbacks`)."""

from __future__ import annotations

import dataclasses
import math
from typing import Any, Dict, Mapping

from mlip_gnn.config import Config
from mlip_gnn.train.progress import RunLength

__all__ = ["Callback", "LoopSettings", "LoopState"]


@dataclasses.dataclass(frozen=True)
class LoopSettings:
    """How the loop runs: its length, validation and checkpoint intervals, best metric, early
    stopping, time limit, bad-step and gradient guards, EMA start and the test set's share of the
    reserve."""

    length: RunLength
    best_metric: str = "loss"
    valid_interval: int = 1
    checkpoint_interval: int = 1
    early_stopping_patience: int | None = None
    max_time_s: float | None = None  # this process's wall-time limit
    max_bad_steps: int = 10
    grad_clip: float | None = None
    keep_checkpoints: int = 2
    ema_start: float = 0.0  # fraction of the run before which the EMA follows the weights
    test_share: float = 0.0  # test frames per validation frame: its time is kept in hand

    @classmethod
    def from_config(cls, cfg: Config, test_share: float = 0.0) -> LoopSettings:
        """The loop settings a training config asks for."""
        t = cfg.train
        length = RunLength(t.max_epochs, t.max_steps,
                           None if t.budget_minutes is None else 60.0 * t.budget_minutes)
        return cls(length=length, best_metric=t.best_metric,
                   valid_interval=t.valid_interval, checkpoint_interval=t.checkpoint_interval,
                   early_stopping_patience=t.early_stopping_patience,
                   max_time_s=None if t.max_time_minutes is None else 60.0 * t.max_time_minutes,
                   max_bad_steps=t.max_bad_steps, grad_clip=cfg.optim.grad_clip,
                   keep_checkpoints=cfg.output.keep_checkpoints,
                   ema_start=cfg.optim.ema_start, test_share=test_share)


@dataclasses.dataclass
class LoopState:
    """The loop's counters; saved in every checkpoint."""

    epoch: int = 0  # epoch in progress (or next to run)
    step_in_epoch: int = 0  # optimiser steps (batches) already done in that epoch
    global_step: int = 0
    bad_steps: int = 0  # skipped steps with a NaN/Inf loss or gradient, whole run
    best_value: float = math.inf
    best_epoch: int = -1
    rounds_since_best: int = 0  # validations without improvement
    stage_index: int = -1  # last loss stage applied; -1: initial weights
    epoch_elapsed_s: float = 0.0  # time spent in the epoch in progress before a stop
    elapsed_s: float = 0.0  # seconds of training over all processes of the run, slowest rank
    progress: float = 0.0  # fraction of the run done (RunLength.progress), as of elapsed_s
    valid_s: float = 0.0  # longest validation so far, s (kept in hand at the end)
    checkpoint_s: float = 0.0  # longest checkpoint write so far, s
    epoch_lr: float = 0.0  # learning rate of the epoch's first step (its metrics line)

    @classmethod
    def from_dict(cls, loop: Mapping[str, Any]) -> LoopState:
        """From a checkpoint's ``loop``; keys of older versions are dropped, new ones
        default."""
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in loop.items() if k in names})


class Callback:
    """Hooks of the training loop, called in order on every rank with the running
    :class:`~mlip_gnn.train.trainer.Trainer`; each does nothing unless overridden.
    ``record`` is the epoch's line of ``metrics.jsonl`` while it is built."""

    def on_epoch_start(self, trainer: Any) -> None:
        """Before the epoch's learning rate is set."""

    def on_step_start(self, trainer: Any) -> None:
        """Before each optimiser step's learning rate is set."""

    def on_step_end(self, trainer: Any, loss: float, grad_norm: float) -> None:
        """After each optimiser step (or skipped step: loss NaN)."""

    def on_epoch_end(self, trainer: Any, record: Dict[str, Any]) -> None:
        """After the epoch's last step, before its counters move on."""

    def after_epoch(self, trainer: Any, stop_reason: str | None) -> None:
        """Once the epoch is counted; ``stop_reason``: why the run stops now, or None."""

    def on_interrupt(self, trainer: Any, reason: str) -> None:
        """The run stops inside an epoch (signal or time limit)."""
