"""How far a run has come: its progress p ∈ [0, 1], the fraction of its planned length done.

A run's length is given in epochs, optimiser steps or seconds of training (a time budget,
counted over resumes), or several of these: the run ends at the first reached, and p is the
largest of the fractions done, so every schedule given in fractions (loss stages, warm-up,
cosine or step decay, EMA start) follows whichever length ends the run. With a time budget
p = elapsed / (budget − reserve): the time a run has left is planned afresh at every step
from the time actually spent, so a slower (or faster, or changing) pace moves the stages and
the decay with it. ``reserve`` keeps in hand what must still happen after the last step: the
last validation, the test set and the last checkpoint, estimated from their measured cost.

:func:`plan` turns the pace seen so far into a forecast (steps and epochs the run has, the
step at which each fractional stage starts), which the run logs.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Dict, List, Sequence

__all__ = ["RunLength", "Plan", "plan", "reserve_s"]

#: longest share of a time budget kept in hand for the final validation, test and checkpoint
MAX_RESERVE = 0.25


@dataclasses.dataclass(frozen=True)
class RunLength:
    """The run's length: any of epochs, optimiser steps and seconds (None: not limited)."""

    epochs: int | None = None
    steps: int | None = None
    seconds: float | None = None

    def fractions(self, epochs: float, steps: int, seconds: float,
                  reserve: float = 0.0) -> Dict[str, float]:
        """Fraction done of each length that is set, by its config key; ``epochs`` may be
        fractional (steps into the epoch in progress), ``reserve`` s of the budget are kept
        for the end of the run."""
        out = {}
        if self.epochs is not None:
            out["max_epochs"] = epochs / self.epochs
        if self.steps is not None:
            out["max_steps"] = steps / self.steps
        if self.seconds is not None:
            out["budget_minutes"] = seconds / max(self.seconds - reserve, 1e-9)
        return out

    def progress(self, epochs: float, steps: int, seconds: float,
                 reserve: float = 0.0) -> float:
        """The run's progress p: the largest fraction done (may pass 1 at the very end)."""
        return max(self.fractions(epochs, steps, seconds, reserve).values())

    def reached(self, epochs: float, steps: int, seconds: float,
                reserve: float = 0.0) -> str | None:
        """The config key of the length that ends the run now, or None."""
        fractions = self.fractions(epochs, steps, seconds, reserve)
        key = max(fractions, key=fractions.__getitem__)
        return key if fractions[key] >= 1.0 else None


def reserve_s(budget_s: float, valid_s: float, checkpoint_s: float,
              test_share: float) -> float:
    """Seconds of a time budget kept for after the last step: a validation (``valid_s``,
    measured), the test set (``test_share`` × a validation: its size relative to the
    validation set) and a checkpoint (``checkpoint_s``, measured); at most
    :data:`MAX_RESERVE` of the budget."""
    return min(valid_s * (1.0 + test_share) + checkpoint_s, MAX_RESERVE * budget_s)


@dataclasses.dataclass(frozen=True)
class Plan:
    """A forecast of a time-budgeted run from the pace so far."""

    seconds_per_step: float
    steps: int  # optimiser steps the budget holds in all
    epochs: float  # the same in epochs
    stage_steps: List[int]  # the global step at which each fractional stage starts

    def describe(self, steps_per_epoch: int) -> str:
        """One log line: the pace, the planned steps and epochs, and the step each fractional loss
        stage is forecast to start at."""
        stages = ", ".join(f"step {s} (epoch {s // max(steps_per_epoch, 1)})"
                           for s in self.stage_steps) or "none"
        return (f"{self.seconds_per_step:.3g} s per step: the run has about "
                f"{self.steps} steps ({self.epochs:.1f} epochs of {steps_per_epoch}); "
                f"fractional loss stages start at {stages}")


def plan(length: RunLength, reserve: float, elapsed_s: float, step: int,
         seconds_per_step: float, steps_per_epoch: int, stage_fractions: Sequence[float]) -> Plan:
    """Forecast at global ``step`` (``elapsed_s`` into the run): at ``seconds_per_step``,
    the steps the run has in all and the steps at which the stages at ``stage_fractions``
    start: for each, the first of the lengths set (budget, epochs, steps) to get there."""
    pace = max(seconds_per_step, 1e-12)

    def step_at(fraction: float) -> int:
        candidates = []
        if length.seconds is not None:
            left = fraction * (length.seconds - reserve) - elapsed_s
            candidates.append(step + max(0, math.ceil(left / pace)))
        if length.epochs is not None:
            candidates.append(math.ceil(fraction * length.epochs * steps_per_epoch))
        if length.steps is not None:
            candidates.append(math.ceil(fraction * length.steps))
        return max(step, min(candidates))

    total = step_at(1.0)
    return Plan(seconds_per_step, total, total / max(steps_per_epoch, 1),
                [step_at(f) for f in stage_fractions])
