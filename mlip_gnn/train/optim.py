"""Optimisers (a registry), gradient clipping with a non-finite check, and an EMA of the
weights."""

from __future__ import annotations

import contextlib
from typing import Callable, Collection, Dict, Iterable, Iterator, List, Mapping

import torch
from torch import Tensor, nn

__all__ = ["OPTIMIZERS", "SPARED_KEY", "build_optimizer", "spare_from_decay",
           "set_weight_decay", "clip_gradients", "ExponentialMovingAverage"]

#: config name → optimiser class; Adam's ``weight_decay`` is an L2 term, AdamW's decoupled
OPTIMIZERS: Dict[str, Callable[..., torch.optim.Optimizer]] = {
    "adam": torch.optim.Adam,
    "adamw": torch.optim.AdamW,
}


def build_optimizer(name: str, params: Iterable[nn.Parameter], lr: float,
                    weight_decay: float = 0.0, amsgrad: bool = False) -> torch.optim.Optimizer:
    """The optimiser ``name`` (a key of OPTIMIZERS) over ``params``; a miss lists the valid
    names."""
    try:
        cls = OPTIMIZERS[name]
    except KeyError:
        raise ValueError(f"unknown optimizer {name!r}; valid: {sorted(OPTIMIZERS)}") from None
    return cls(params, lr=lr, weight_decay=weight_decay, amsgrad=amsgrad)


#: parameter-group key of the groups that never decay (optim.no_weight_decay, partly frozen
#: tensors), whatever decay a loss stage sets
SPARED_KEY = "decay_spared"


def spare_from_decay(model: nn.Module, spared: Collection[str],
                     groups: List[dict] | None = None) -> List[dict]:
    """Parameter groups in which the parameters named in ``spared`` get no weight decay.

    Each group (by default one of all parameters) splits in two: its other parameters keep
    the optimiser's decay, the spared ones go to a copy of the group with ``weight_decay``
    0 and ``name`` suffixed ``/no_decay``. Empty groups are dropped, so the number of groups
    depends on the model and the spared names only (a resumed run rebuilds the same ones).
    """
    if groups is None:
        groups = [{"params": list(model.parameters()), "name": "all"}]
    spared = set(spared)
    spared_ids = {id(p) for name, p in model.named_parameters() if name in spared}
    out = []
    for group in groups:
        decayed = [p for p in group["params"] if id(p) not in spared_ids]
        kept = [p for p in group["params"] if id(p) in spared_ids]
        if decayed:
            out.append({**group, "params": decayed})
        if kept:
            name = group.get("name", "group")
            out.append({**group, "params": kept, "weight_decay": 0.0,
                        "name": f"{name}/no_decay", SPARED_KEY: True})
    return out


def set_weight_decay(optimizer: torch.optim.Optimizer, weight_decay: float) -> None:
    """The weight decay of every parameter group but the spared ones (``SPARED_KEY``)."""
    for group in optimizer.param_groups:
        if not group.get(SPARED_KEY, False):
            group["weight_decay"] = weight_decay


def clip_gradients(params: Iterable[nn.Parameter], max_norm: float | None) -> Tensor:
    """Clip the global gradient norm to ``max_norm`` (no clipping when None) and return the
    norm before clipping; a non-finite norm is returned, never raised, so the caller can
    skip the step."""
    params = [p for p in params if p.grad is not None]
    if not params:
        return torch.zeros(())
    limit = float("inf") if max_norm is None else float(max_norm)
    return torch.nn.utils.clip_grad_norm_(params, limit, error_if_nonfinite=False)


class ExponentialMovingAverage:
    """Shadow copy θ̄ ← d·θ̄ + (1 - d)·θ of every floating tensor in a model's state.

    The decay ramps up as d = min(decay, (1 + n) / (10 + n)) over the first updates n, so
    early averages are not dominated by the random initial weights (as in TensorFlow's
    ``ExponentialMovingAverage`` with ``num_updates``).
    """

    def __init__(self, model: nn.Module, decay: float):
        if not 0.0 < decay < 1.0:
            raise ValueError(f"ema_decay must be in (0, 1), got {decay}")
        self.decay = float(decay)
        self.num_updates = 0
        self.shadow: Dict[str, Tensor] = {
            name: t.detach().clone() for name, t in model.state_dict().items()}

    @torch.no_grad()
    def update(self, model: nn.Module, follow: bool = False) -> None:
        """Move the averages towards ``model``'s current weights; ``follow``: copy the
        weights instead and start the average (its ramp-up included) afresh from the next
        update."""
        if follow:
            for name, value in model.state_dict().items():
                self.shadow[name].copy_(value)
            self.num_updates = 0
            return
        decay = min(self.decay, (1.0 + self.num_updates) / (10.0 + self.num_updates))
        for name, value in model.state_dict().items():
            shadow = self.shadow[name]
            if shadow.is_floating_point():
                shadow.lerp_(value.detach(), 1.0 - decay)
            else:
                shadow.copy_(value)
        self.num_updates += 1

    @contextlib.contextmanager
    def applied(self, model: nn.Module) -> Iterator[nn.Module]:
        """Temporarily load the averaged weights into ``model``; restored in ``finally``."""
        backup = {name: t.detach().clone() for name, t in model.state_dict().items()}
        model.load_state_dict(self.shadow)
        try:
            yield model
        finally:
            model.load_state_dict(backup)

    def state_dict(self) -> Dict[str, object]:
        """Decay, update count and averages, to checkpoint."""
        return {"decay": self.decay, "num_updates": self.num_updates,
                "shadow": {k: v.detach().cpu().clone() for k, v in self.shadow.items()}}

    def load_state_dict(self, state: Mapping[str, object]) -> None:
        """Restore what :meth:`state_dict` saved."""
        self.decay = float(state["decay"])
        self.num_updates = int(state["num_updates"])
        for name, value in state["shadow"].items():
            self.shadow[name].copy_(value)
