"""Rebuild a trained model from a checkpoint alone (for evaluate, export, md)."""

from __future__ import annotations

import os
from typing import Any, Callable, Dict, Optional, Tuple

from torch import nn

from mlip_gnn.train.checkpoint import CheckpointError, load_checkpoint
from mlip_gnn.train.data_setup import build_model_from_kwargs

__all__ = ["model_from_checkpoint"]


def model_from_checkpoint(path: os.PathLike, factory: Optional[Callable[..., nn.Module]] = None,
                          use_ema: bool = True) -> Tuple[nn.Module, Dict[str, Any]]:
    """The model stored in ``best.pt`` or ``last.pt`` (EMA weights when present and
    ``use_ema``), on the CPU in eval mode, and the checkpoint dict (``model_kwargs``,
    ``config``, ``config_hash``, ``version``, ``epoch``...).

    Raises :class:`CheckpointError` for an unusable file or one without builder arguments.
    """
    state = load_checkpoint(path)
    if "model_kwargs" not in state or "model" not in state:
        raise CheckpointError(f"{path} holds no model (no 'model_kwargs' / 'model' entry)")
    model = build_model_from_kwargs(state["model_kwargs"], factory)
    ema = state.get("ema")
    try:
        model.load_state_dict(ema["shadow"] if use_ema and ema else state["model"])
    except RuntimeError as exc:  # weights of another architecture or package version
        raise CheckpointError(f"{path}: the stored weights do not fit the model rebuilt from "
                              f"its builder arguments (written by mlip_gnn "
                              f"{state.get('version', '?')}): {exc}") from None
    return model.eval(), state
