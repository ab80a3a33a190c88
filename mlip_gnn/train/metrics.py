"""Training metrics: the error sums of :mod:`mlip_gnn.quantities.metrics` plus the mean
loss, accumulated so that an all-reduce over ranks gives exactly the figures a single
process would compute on the whole set.

Units of the results: each quantity's ``metric_unit`` (meV/atom, meV/Å, meV/Å³), the loss
as the loss function returns it.
"""

from __future__ import annotations

from typing import Dict, Mapping

import torch
from torch import Tensor

from mlip_gnn.data import keys
from mlip_gnn.quantities import QUANTITIES, ErrorSums
from mlip_gnn.quantities.metrics import SLOTS_PER_QUANTITY

__all__ = ["MetricAccumulator", "METRIC_NAMES"]

_LOSS_SLOT = SLOTS_PER_QUANTITY * len(QUANTITIES)  # loss·frames, frames
METRIC_NAMES = tuple(f"{q.name}_{m}" for q in QUANTITIES for m in ("mae", "rmse")) + ("loss",)


class MetricAccumulator(ErrorSums):
    """Error sums and the frame-weighted loss; :meth:`compute` gives MAE / RMSE and loss."""

    def __init__(self, device: torch.device | None = None):
        super().__init__(device, extra_slots=2)

    def update(self, pred: Mapping[str, Tensor], ref: Mapping[str, Tensor],
               loss: Tensor | None = None) -> None:
        """Add a batch's errors and, when given, its loss (weighted by frames)."""
        super().update(pred, ref)
        if loss is not None:
            frames = ref[keys.NUM_ATOMS].numel()
            self.sums[_LOSS_SLOT] += loss.detach().to(torch.float64) * frames
            self.sums[_LOSS_SLOT + 1] += frames

    def compute(self) -> Dict[str, float]:
        """MAE/RMSE of every quantity that had labelled entries, and the mean loss."""
        out = super().compute()
        loss_sum, frames = self.sums[_LOSS_SLOT:].cpu().tolist()
        if frames > 0:
            out["loss"] = loss_sum / frames
        return out
