"""Learning-rate schedule (linear warm-up × a decay rule) and training stages.

Epochs are numbered from 0 (as ``loss.stages[].epoch``). The learning rate of epoch ``e`` is

    lr(e) = base_lr · (e + 1) / (W + 1)    for e < W (warm-up epochs)
    lr(e) = decay(base_lr, min_lr, e)      afterwards

where ``decay`` comes from :data:`DECAYS` (``plateau``, ``cosine``, ``none``). A stage that
starts at epoch ``e`` changes the loss weights it names and, when it gives ``lr``, the base
learning rate (plateau reductions start over from it).

A run with a time limit can be fitted to it (``train.fit_to_time_limit``): once the first
epochs have shown how long an epoch takes, :func:`epochs_that_fit` gives the epochs the
limit holds, and the stages not yet started and the end of the cosine move with the last
epoch (:meth:`StageSchedule.fitted`, :meth:`LRSchedule.set_last_epoch`), so that a slower
machine runs the same schedule in fewer epochs instead of being cut before its last stage.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence

import torch

from mlip_gnn.defaults import PLATEAU_FACTOR, PLATEAU_PATIENCE
from mlip_gnn.train.loss import TERM_NAMES

__all__ = ["ConstantDecay", "CosineDecay", "PlateauDecay", "DECAYS", "LRSchedule", "Stage",
           "StageSchedule", "epochs_that_fit"]


class ConstantDecay:
    def lr(self, base_lr: float, min_lr: float, epoch: int) -> float:
        return base_lr

    def observe(self, metric: float) -> None:
        pass

    def reset(self) -> None:
        pass

    def forget_best(self) -> None:
        pass

    def set_last_epoch(self, epoch: int) -> None:
        """The run now ends after ``epoch`` (a decay that depends on the length follows)."""

    def state_dict(self) -> Dict[str, Any]:
        return {}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        pass


class CosineDecay(ConstantDecay):
    """Half cosine from ``base_lr`` (first epoch after warm-up) to ``min_lr`` (last epoch)."""

    def __init__(self, first_epoch: int, last_epoch: int):
        self.first, self.last = first_epoch, last_epoch

    def lr(self, base_lr: float, min_lr: float, epoch: int) -> float:
        progress = min(max((epoch - self.first) / max(self.last - self.first, 1), 0.0), 1.0)
        return min_lr + (base_lr - min_lr) * 0.5 * (1.0 + math.cos(math.pi * progress))

    def set_last_epoch(self, epoch: int) -> None:
        self.last = epoch


class PlateauDecay(ConstantDecay):
    """Multiply the lr by ``factor`` when the validation metric has not improved (by a
    relative 1e-4) for more than ``patience`` validations; never below ``min_lr``."""

    def __init__(self, factor: float, patience: int, threshold: float = 1e-4):
        self.factor, self.patience, self.threshold = factor, patience, threshold
        self.reset()

    def reset(self) -> None:
        self.scale = 1.0
        self.forget_best()

    def forget_best(self) -> None:
        """The monitored metric changed meaning (a new loss stage): judge it afresh."""
        self.best, self.bad = math.inf, 0

    def lr(self, base_lr: float, min_lr: float, epoch: int) -> float:
        return max(min_lr, base_lr * self.scale)

    def observe(self, metric: float) -> None:
        if metric < self.best * (1.0 - self.threshold):
            self.best, self.bad = metric, 0
            return
        self.bad += 1
        if self.bad > self.patience:
            self.scale *= self.factor
            self.bad = 0

    def state_dict(self) -> Dict[str, Any]:
        return {"scale": self.scale, "best": self.best, "bad": self.bad}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.scale, self.best, self.bad = state["scale"], state["best"], state["bad"]


#: scheduler name → factory(warmup_epochs, max_epochs, plateau_factor, plateau_patience)
DECAYS: Dict[str, Callable[..., ConstantDecay]] = {
    "none": lambda **kw: ConstantDecay(),
    "cosine": lambda warmup_epochs, max_epochs, **kw: CosineDecay(warmup_epochs,
                                                                  max_epochs - 1),
    "plateau": lambda plateau_factor, plateau_patience, **kw: PlateauDecay(plateau_factor,
                                                                           plateau_patience),
}


class LRSchedule:
    """Sets the optimiser's learning rate at the start of every epoch."""

    def __init__(self, optimizer: torch.optim.Optimizer, scheduler: str, lr: float,
                 min_lr: float = 0.0, warmup_epochs: int = 0, max_epochs: int = 1,
                 plateau_factor: float = PLATEAU_FACTOR,
                 plateau_patience: int = PLATEAU_PATIENCE):
        try:
            factory = DECAYS[scheduler]
        except KeyError:
            raise ValueError(f"unknown scheduler {scheduler!r}; valid: {sorted(DECAYS)}") from None
        self.decay = factory(warmup_epochs=warmup_epochs, max_epochs=max_epochs,
                             plateau_factor=plateau_factor, plateau_patience=plateau_patience)
        self.optimizer = optimizer
        self.base_lr, self.min_lr, self.warmup_epochs = float(lr), float(min_lr), warmup_epochs

    def lr_at(self, epoch: int) -> float:
        if epoch < self.warmup_epochs:
            return self.base_lr * (epoch + 1) / (self.warmup_epochs + 1)
        return self.decay.lr(self.base_lr, self.min_lr, epoch)

    def start_epoch(self, epoch: int) -> float:
        lr = self.lr_at(epoch)
        for group in self.optimizer.param_groups:  # lr_factor: e.g. pretrained weights
            group["lr"] = lr * group.get("lr_factor", 1.0)
        return lr

    def observe(self, metric: float) -> None:
        """Report a validation metric (lower is better)."""
        self.decay.observe(metric)

    def forget_best(self) -> None:
        """A new loss stage changes the validation metric; keep the lr, judge anew."""
        self.decay.forget_best()

    def set_last_epoch(self, epoch: int) -> None:
        """The run ends after ``epoch`` (0-based): a cosine reaches ``min_lr`` there."""
        self.decay.set_last_epoch(epoch)

    def set_base_lr(self, lr: float) -> None:
        self.base_lr = float(lr)
        self.decay.reset()

    def state_dict(self) -> Dict[str, Any]:
        return {"base_lr": self.base_lr, "decay": self.decay.state_dict()}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.base_lr = float(state["base_lr"])
        self.decay.load_state_dict(state["decay"])


@dataclasses.dataclass(frozen=True)
class Stage:
    """From ``epoch`` on: the loss weights given here (others unchanged), ``lr`` and
    ``weight_decay`` (None: unchanged)."""

    epoch: int
    weights: Mapping[str, float]
    lr: Optional[float] = None
    weight_decay: Optional[float] = None

    @classmethod
    def from_mapping(cls, stage: Any) -> Stage:
        """From a config stage (mapping or object with ``epoch``, ``<term>_weight``, ``lr``,
        ``weight_decay``)."""
        get = stage.get if isinstance(stage, Mapping) else lambda k: getattr(stage, k, None)
        weights = {term: float(get(f"{term}_weight")) for term in TERM_NAMES
                   if get(f"{term}_weight") is not None}
        lr, decay = get("lr"), get("weight_decay")
        return cls(int(get("epoch")), weights, None if lr is None else float(lr),
                   None if decay is None else float(decay))


class StageSchedule:
    """Which stage is active at an epoch, and the loss weights that follow from it."""

    def __init__(self, initial_weights: Mapping[str, float], stages: Sequence[Stage] = ()):
        self.initial = dict(initial_weights)
        self.stages: List[Stage] = sorted(stages, key=lambda s: s.epoch)

    def index_at(self, epoch: int) -> int:
        """Index of the last stage started by ``epoch``; -1 before the first stage."""
        return sum(1 for s in self.stages if s.epoch <= epoch) - 1

    def weights_at(self, epoch: int) -> Dict[str, float]:
        weights = dict(self.initial)
        for stage in self.stages[: self.index_at(epoch) + 1]:
            weights.update(stage.weights)
        return weights

    def lr_at(self, epoch: int) -> Optional[float]:
        """The base lr set by the latest stage that gives one, or None."""
        lrs = [s.lr for s in self.stages[: self.index_at(epoch) + 1] if s.lr is not None]
        return lrs[-1] if lrs else None

    def fitted(self, max_epochs: int, new_max_epochs: int, from_epoch: int) -> StageSchedule:
        """The schedule of a run cut from ``max_epochs`` to ``new_max_epochs`` at
        ``from_epoch`` (the next epoch to run): stages that started before it keep their
        epoch; the others start at the same fraction of the new length (never before
        ``from_epoch``, and still one after another)."""
        stages, previous = [], -1
        for stage in self.stages:
            epoch = stage.epoch
            if epoch >= from_epoch:
                epoch = max(from_epoch, round(epoch * new_max_epochs / max_epochs))
            epoch = max(epoch, previous + 1)
            stages.append(dataclasses.replace(stage, epoch=epoch))
            previous = epoch
        return StageSchedule(self.initial, stages)


def epochs_that_fit(limit_s: float, elapsed_s: float, epochs_timed: int, next_epoch: int,
                    max_epochs: int, margin: float) -> int:
    """The epochs a run can have when ``epochs_timed`` epochs took ``elapsed_s`` seconds
    and the run may take ``limit_s``: ``next_epoch`` (epochs done) plus the whole epochs,
    at that pace, that fit in ``margin`` (< 1: room for slower epochs) of what is left;
    never more than ``max_epochs``."""
    per_epoch = elapsed_s / max(epochs_timed, 1)
    more = math.floor((margin * limit_s - elapsed_s) / per_epoch) if per_epoch > 0 else max_epochs
    return min(max_epochs, next_epoch + max(more, 0))
