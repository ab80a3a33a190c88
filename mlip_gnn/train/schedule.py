"""Learning-rate schedule (linear warm-up × a decay rule) and training stages, as functions
of the run's progress p ∈ [0, 1] (:mod:`mlip_gnn.train.progress`: the fraction of the run's
epochs, optimiser steps or time budget done), evaluated before every optimiser step.

With a warm-up over the fraction ``w`` of the run, the learning rate at progress ``p`` is

    lr(p) = base_lr · (0.1 + 0.9 p / w)    for p < w
    lr(p) = decay(base_lr, min_lr, p, w)   afterwards

where ``decay`` comes from :data:`DECAYS` (``plateau``, ``cosine``, ``step``, ``none``); a
cosine runs from ``w`` to the end of the run (p = 1). A warm-up in epochs (``W``) gives
``base_lr · (e + 1) / (W + 1)`` in epoch ``e`` < W, and the decay starts where it ended.

A stage starts at a fraction of the run (``at``) or at an epoch; it changes the loss
weights it names and, when it gives ``lr``, the base learning rate (plateau reductions
start over from it; a cosine goes on from it, at the same p, to ``min_lr``).
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, Callable, Dict, List, Mapping, Sequence

import torch

from mlip_gnn.defaults import PLATEAU_FACTOR, PLATEAU_PATIENCE
from mlip_gnn.train.loss import TERM_NAMES

__all__ = ["ConstantDecay", "CosineDecay", "PlateauDecay", "StepDecay", "DECAYS",
           "LRSchedule", "Stage", "StageSchedule"]


class ConstantDecay:
    """No decay: the learning rate stays at its base value."""

    def lr(self, base_lr: float, min_lr: float, progress: float, start: float) -> float:
        """The learning rate at ``progress`` of a decay that began at ``start``."""
        return base_lr

    def observe(self, metric: float) -> None:
        """Take a validation value (ignored: nothing to adapt)."""
        pass

    def reset(self) -> None:
        """Start afresh (nothing to forget)."""
        pass

    def forget_best(self) -> None:
        """Forget the best validation value seen (none is kept)."""
        pass

    def state_dict(self) -> Dict[str, Any]:
        """The decay's state for a checkpoint (empty)."""
        return {}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore from :meth:`state_dict` (nothing to restore)."""
        pass


class CosineDecay(ConstantDecay):
    """Half cosine from ``base_lr`` (at ``start``) to ``min_lr`` (at the end of the run)."""

    def lr(self, base_lr: float, min_lr: float, progress: float, start: float) -> float:
        """The learning rate at ``progress`` ∈ [0, 1] of a decay that began at ``start``."""
        span = min(max((progress - start) / max(1.0 - start, 1e-12), 0.0), 1.0)
        return min_lr + (base_lr - min_lr) * 0.5 * (1.0 + math.cos(math.pi * span))


class StepDecay(ConstantDecay):
    """``base_lr`` times ``factor`` for every fraction of ``at`` already passed."""

    def __init__(self, factor: float, at: Sequence[float]):
        self.factor, self.at = factor, sorted(at)

    def lr(self, base_lr: float, min_lr: float, progress: float, start: float) -> float:
        """``base_lr`` times ``factor`` for every point of ``at`` that ``progress`` has passed (at
        least ``min_lr``)."""
        passed = sum(1 for a in self.at if a <= progress)
        return max(min_lr, base_lr * self.factor ** passed)


class PlateauDecay(ConstantDecay):
    """Multiply the lr by ``factor`` when the validation metric has not improved (by a
    relative 1e-4) for more than ``patience`` validations; never below ``min_lr``."""

    def __init__(self, factor: float, patience: int, threshold: float = 1e-4):
        self.factor, self.patience, self.threshold = factor, patience, threshold
        self.reset()

    def reset(self) -> None:
        """Start afresh: no best value, no waiting epochs."""
        self.scale = 1.0
        self.forget_best()

    def forget_best(self) -> None:
        """The monitored metric changed meaning (a new loss stage): judge it afresh."""
        self.best, self.bad = math.inf, 0

    def lr(self, base_lr: float, min_lr: float, progress: float, start: float) -> float:
        """``base_lr`` times the factor of every plateau so far (at least ``min_lr``)."""
        return max(min_lr, base_lr * self.scale)

    def observe(self, metric: float) -> None:
        """Take a validation value; after ``patience`` validations without improvement, decay
        once."""
        if metric < self.best * (1.0 - self.threshold):
            self.best, self.bad = metric, 0
            return
        self.bad += 1
        if self.bad > self.patience:
            self.scale *= self.factor
            self.bad = 0

    def state_dict(self) -> Dict[str, Any]:
        """The scale reached, the best value and the validations waited, for a checkpoint."""
        return {"scale": self.scale, "best": self.best, "bad": self.bad}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore from :meth:`state_dict`."""
        self.scale, self.best, self.bad = state["scale"], state["best"], state["bad"]


#: scheduler name → factory(plateau_factor, plateau_patience, step_factor, step_at)
DECAYS: Dict[str, Callable[..., ConstantDecay]] = {
    "none": lambda **kw: ConstantDecay(),
    "cosine": lambda **kw: CosineDecay(),
    "step": lambda step_factor, step_at, **kw: StepDecay(step_factor, step_at),
    "plateau": lambda plateau_factor, plateau_patience, **kw: PlateauDecay(plateau_factor,
                                                                           plateau_patience),
}


class LRSchedule:
    """Sets the optimiser's learning rate before every optimiser step."""

    def __init__(self, optimizer: torch.optim.Optimizer, scheduler: str, lr: float,
                 min_lr: float = 0.0, warmup: float = 0.0, warmup_epochs: int = 0,
                 plateau_factor: float = PLATEAU_FACTOR,
                 plateau_patience: int = PLATEAU_PATIENCE, step_factor: float = 0.1,
                 step_at: Sequence[float] = ()):
        try:
            factory = DECAYS[scheduler]
        except KeyError:
            raise ValueError(f"unknown scheduler {scheduler!r}; valid: {sorted(DECAYS)}") from None
        self.decay = factory(plateau_factor=plateau_factor, plateau_patience=plateau_patience,
                             step_factor=step_factor, step_at=step_at)
        self.optimizer = optimizer
        self.base_lr, self.min_lr = float(lr), float(min_lr)
        self.warmup, self.warmup_epochs = float(warmup), warmup_epochs
        # where the decay starts: the warm-up's end (a warm-up in epochs: the p it ended at)
        self.decay_from: float | None = None if warmup_epochs else self.warmup

    def lr_at(self, progress: float, epoch: int = 0) -> float:
        """The learning rate at ``progress`` (fraction of the run) in ``epoch``."""
        if epoch < self.warmup_epochs:
            return self.base_lr * (epoch + 1) / (self.warmup_epochs + 1)
        if progress < self.warmup:
            return self.base_lr * (0.1 + 0.9 * progress / self.warmup)
        start = progress if self.decay_from is None else self.decay_from
        return self.decay.lr(self.base_lr, self.min_lr, progress, start)

    def set(self, progress: float, epoch: int = 0) -> float:
        """Give the optimiser the learning rate at ``progress``; returns it."""
        if self.decay_from is None and epoch >= self.warmup_epochs:
            self.decay_from = progress
        lr = self.lr_at(progress, epoch)
        for group in self.optimizer.param_groups:  # lr_factor: e.g. pretrained weights
            group["lr"] = lr * group.get("lr_factor", 1.0)
        return lr

    def observe(self, metric: float) -> None:
        """Report a validation metric (lower is better)."""
        self.decay.observe(metric)

    def forget_best(self) -> None:
        """A new loss stage changes the validation metric; keep the lr, judge anew."""
        self.decay.forget_best()

    def set_base_lr(self, lr: float) -> None:
        """Set the learning rate that warm-up and decay scale (a loss stage's ``lr``); a plateau
        decay starts afresh."""
        self.base_lr = float(lr)
        self.decay.reset()

    def state_dict(self) -> Dict[str, Any]:
        """The schedule's state for a checkpoint."""
        return {"base_lr": self.base_lr, "decay": self.decay.state_dict(),
                "decay_from": self.decay_from}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore from :meth:`state_dict`."""
        self.base_lr = float(state["base_lr"])
        self.decay.load_state_dict(state["decay"])
        if state.get("decay_from") is not None:  # older checkpoints: none stored
            self.decay_from = float(state["decay_from"])


@dataclasses.dataclass(frozen=True)
class Stage:
    """From ``epoch`` (or, when ``at`` is given, from that fraction of the run) on: the
    loss weights given here (others unchanged), ``lr`` and ``weight_decay`` (None:
    unchanged)."""

    epoch: int | None
    weights: Mapping[str, float]
    lr: float | None = None
    weight_decay: float | None = None
    at: float | None = None

    @classmethod
    def from_mapping(cls, stage: Any) -> Stage:
        """From a config stage (mapping or object with ``at`` or ``epoch``,
        ``<term>_weight``, ``lr``, ``weight_decay``)."""
        get = stage.get if isinstance(stage, Mapping) else lambda k: getattr(stage, k, None)
        weights = {term: float(get(f"{term}_weight")) for term in TERM_NAMES
                   if get(f"{term}_weight") is not None}
        epoch, at = get("epoch"), get("at")
        lr, decay = get("lr"), get("weight_decay")
        return cls(None if epoch is None else int(epoch), weights,
                   None if lr is None else float(lr), None if decay is None else float(decay),
                   None if at is None else float(at))

    def started(self, epoch: int, progress: float) -> bool:
        """Whether the stage has started in ``epoch`` at ``progress`` of the run."""
        return self.at <= progress if self.at is not None else self.epoch <= epoch


class StageSchedule:
    """Which stage is active at a point of the run, and the loss weights that follow."""

    def __init__(self, initial_weights: Mapping[str, float], stages: Sequence[Stage] = ()):
        self.initial = dict(initial_weights)
        self.stages: List[Stage] = list(stages)  # in order (the config checks it)

    def index_at(self, epoch: int, progress: float = 0.0) -> int:
        """Index of the last stage started in ``epoch`` at ``progress``; -1 before the
        first stage."""
        return sum(1 for s in self.stages if s.started(epoch, progress)) - 1

    def weights_upto(self, index: int) -> Dict[str, float]:
        """The loss weights once stages ``0..index`` have started."""
        weights = dict(self.initial)
        for stage in self.stages[: index + 1]:
            weights.update(stage.weights)
        return weights

    def lr_upto(self, index: int) -> float | None:
        """The base lr set by the latest of stages ``0..index`` that gives one, or None."""
        lrs = [s.lr for s in self.stages[: index + 1] if s.lr is not None]
        return lrs[-1] if lrs else None
