"""Error metrics of labelled quantities: the one implementation that training, evaluation
and the tests use.

Errors are accumulated as sums (|err|, err², count per quantity) in float64, so that
adding the sums of several shards (an all-reduce over ranks, or frames one by one) gives
exactly the figures computed on the whole set. Only labelled entries count (each
quantity's mask); per-config loss weights do not enter. MAE and RMSE are reported in the
quantity's ``metric_unit`` (meV/atom, meV/Å, meV/Å³).
"""

from __future__ import annotations

from typing import Callable, Dict, Mapping, Tuple

import torch
from torch import Tensor

from mlip_gnn.data import keys
from mlip_gnn.quantities.table import METRIC_SCALE, QUANTITIES, Quantity

__all__ = ["labelled_values", "ErrorSums", "SLOTS_PER_QUANTITY"]

Graph = Mapping[str, Tensor]
#: sums kept per quantity: Σ|err|, Σerr², number of entries
SLOTS_PER_QUANTITY = 3


def labelled_values(q: Quantity, pred: Graph, ref: Graph,
                    atom_mask: Tensor | None = None) -> Tuple[Tensor, Tensor] | None:
    """(predicted, reference) values of the labelled entries of ``q``, flattened, in
    ``q.error_unit``; None when ``pred`` has no prediction of ``q``.

    ``atom_mask`` [n] bool keeps only those atoms' rows of per-atom quantities; per-frame
    quantities then give None (they belong to no single atom).
    """
    if q.key not in pred or (atom_mask is not None and not q.per_atom):
        return None
    predicted = pred[q.key].detach()
    reference = ref[q.key]
    if q.per_atom_energy:
        num_atoms = ref[keys.NUM_ATOMS].to(reference.dtype)  # [g]
        predicted, reference = predicted / num_atoms, reference / num_atoms
    mask = ref[q.mask_key] > 0  # [g]
    if q.per_atom:
        mask = mask[ref[keys.BATCH]]  # [n]
        if atom_mask is not None:
            mask = mask & atom_mask
    return predicted[mask].reshape(-1), reference[mask].reshape(-1)


class ErrorSums:
    """Σ|err|, Σerr² and entry counts of every quantity; :meth:`compute` gives MAE / RMSE.

    ``extra_slots`` float64 slots follow the error sums in :attr:`sums` for a subclass's
    own totals, so that one all-reduce carries everything.
    """

    def __init__(self, device: torch.device | None = None, extra_slots: int = 0):
        size = SLOTS_PER_QUANTITY * len(QUANTITIES) + extra_slots
        self.sums = torch.zeros(size, dtype=torch.float64, device=device)

    @staticmethod
    def slot(q: Quantity) -> int:
        """First slot of quantity ``q`` in :attr:`sums`."""
        return SLOTS_PER_QUANTITY * QUANTITIES.index(q)

    def update(self, pred: Graph, ref: Graph, atom_mask: Tensor | None = None) -> None:
        """Add the errors of a batch (``pred``: model outputs; ``ref``: the graph with its
        labels and masks)."""
        with torch.no_grad():
            for q in QUANTITIES:
                values = labelled_values(q, pred, ref, atom_mask)
                if values is None:
                    continue
                err = (values[0] - values[1]).to(torch.float64)
                slot = self.slot(q)
                self.sums[slot] += err.abs().sum()
                self.sums[slot + 1] += err.square().sum()
                self.sums[slot + 2] += err.numel()

    def reduce(self, all_reduce_sum: Callable[[Tensor], Tensor]) -> ErrorSums:
        """Sum the accumulators of all ranks in place (pass ``distributed.all_reduce_sum``)."""
        self.sums = all_reduce_sum(self.sums)
        return self

    def compute(self, counts: bool = False) -> Dict[str, float]:
        """``<name>_mae`` and ``<name>_rmse`` (and ``<name>_count`` with ``counts``) of every
        quantity that had labelled entries."""
        sums = self.sums.cpu().tolist()
        out: Dict[str, float] = {}
        for q in QUANTITIES:
            slot = self.slot(q)
            count = sums[slot + 2]
            if count > 0:
                out[f"{q.name}_mae"] = METRIC_SCALE * sums[slot] / count
                out[f"{q.name}_rmse"] = METRIC_SCALE * (sums[slot + 1] / count) ** 0.5
                if counts:
                    out[f"{q.name}_count"] = int(count)
        return out

    def state_dict(self) -> Dict[str, Tensor]:
        """The sums (float64, on the CPU), to checkpoint."""
        return {"sums": self.sums.cpu().clone()}

    def load_state_dict(self, state: Mapping[str, Tensor]) -> None:
        """Restore the sums of :meth:`state_dict`."""
        self.sums = state["sums"].to(self.sums.device, torch.float64).clone()
