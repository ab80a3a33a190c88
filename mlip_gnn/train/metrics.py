"""Error metrics accumulated as sums, so that an all-reduce over ranks gives exactly the
figures a single process would compute on the whole set.

Units of the results: energy per atom meV/atom, forces meV/Å (per Cartesian component),
stress meV/Å³ (per tensor component), loss as the loss function returns it. Only labelled
entries count (the ``keys.*_WEIGHT`` masks); per-config loss weights do not enter.
"""

from __future__ import annotations

from typing import Callable, Dict, Mapping, Optional

import torch
from torch import Tensor

from mlip_gnn.data import keys

__all__ = ["MetricAccumulator", "METRIC_NAMES"]

_MEV = 1000.0
_QUANTITIES = ("energy", "forces", "stress")
# sums kept per quantity: |err|, err², count
_SLOTS = {q: 3 * i for i, q in enumerate(_QUANTITIES)}
_LOSS_SLOT = 3 * len(_QUANTITIES)  # loss·frames, frames
METRIC_NAMES = tuple(f"{q}_{m}" for q in _QUANTITIES for m in ("mae", "rmse")) + ("loss",)


def _residuals(pred: Mapping[str, Tensor], ref: Mapping[str, Tensor]) -> Dict[str, Tensor]:
    """Residuals of labelled entries only, flattened, in eV/atom, eV/Å, eV/Å³."""
    out = {}
    energy_mask = ref[keys.ENERGY_WEIGHT] > 0  # [g]
    num_atoms = ref[keys.NUM_ATOMS].to(ref[keys.TOTAL_ENERGY].dtype)
    err = (pred[keys.TOTAL_ENERGY].detach() - ref[keys.TOTAL_ENERGY]) / num_atoms
    out["energy"] = err[energy_mask]
    if keys.FORCES in pred:
        atom_mask = (ref[keys.FORCES_WEIGHT] > 0)[ref[keys.BATCH]]  # [n]
        out["forces"] = (pred[keys.FORCES].detach() - ref[keys.FORCES])[atom_mask].reshape(-1)
    if keys.STRESS in pred:
        stress_mask = ref[keys.STRESS_WEIGHT] > 0
        out["stress"] = (pred[keys.STRESS].detach() - ref[keys.STRESS])[stress_mask].reshape(-1)
    return out


class MetricAccumulator:
    """Sums of absolute and squared errors; :meth:`compute` turns them into MAE/RMSE."""

    def __init__(self, device: Optional[torch.device] = None):
        self.sums = torch.zeros(_LOSS_SLOT + 2, dtype=torch.float64, device=device)

    def update(self, pred: Mapping[str, Tensor], ref: Mapping[str, Tensor],
               loss: Optional[Tensor] = None) -> None:
        with torch.no_grad():
            for name, err in _residuals(pred, ref).items():
                err = err.to(torch.float64)
                slot = _SLOTS[name]
                self.sums[slot] += err.abs().sum()
                self.sums[slot + 1] += err.square().sum()
                self.sums[slot + 2] += err.numel()
            if loss is not None:
                frames = ref[keys.NUM_ATOMS].numel()
                self.sums[_LOSS_SLOT] += loss.detach().to(torch.float64) * frames
                self.sums[_LOSS_SLOT + 1] += frames

    def reduce(self, all_reduce_sum: Callable[[Tensor], Tensor]) -> MetricAccumulator:
        """Sum the accumulators of all ranks in place (pass ``distributed.all_reduce_sum``)."""
        self.sums = all_reduce_sum(self.sums)
        return self

    def compute(self) -> Dict[str, float]:
        """MAE/RMSE of every quantity that had labelled entries, and the mean loss."""
        sums = self.sums.cpu().tolist()
        out: Dict[str, float] = {}
        for name, slot in _SLOTS.items():
            count = sums[slot + 2]
            if count > 0:
                out[f"{name}_mae"] = _MEV * sums[slot] / count
                out[f"{name}_rmse"] = _MEV * (sums[slot + 1] / count) ** 0.5
        if sums[_LOSS_SLOT + 1] > 0:
            out["loss"] = sums[_LOSS_SLOT] / sums[_LOSS_SLOT + 1]
        return out

    def state_dict(self) -> Dict[str, Tensor]:
        return {"sums": self.sums.cpu().clone()}

    def load_state_dict(self, state: Mapping[str, Tensor]) -> None:
        self.sums = state["sums"].to(self.sums.device, torch.float64).clone()
