"""A trained model from a checkpoint alone: spec → module, then the stored weights."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Dict, Mapping, Tuple

from torch import nn

import mlip_gnn
from mlip_gnn.modelio.checkpoint import EMA, MODEL, SPEC, VERSION, CheckpointError, load_checkpoint
from mlip_gnn.modelio.spec import ModelFactory, ModelSpec, ModelSpecError, build_from_spec

__all__ = ["model_from_checkpoint", "spec_from_state", "find_checkpoint", "CHECKPOINT_NAMES"]

#: the checkpoints of a run directory that hold a model, in order of preference
CHECKPOINT_NAMES = ("best.pt", "last.pt")


def find_checkpoint(path: os.PathLike) -> Path:
    """A run directory → its ``best.pt`` (else ``last.pt``); a file → itself. Raises
    :class:`CheckpointError` when there is neither."""
    path = Path(path)
    if path.is_dir():
        for name in CHECKPOINT_NAMES:
            if (path / name).is_file():
                return path / name
        raise CheckpointError(f"{path}: run directory holds no {' or '.join(CHECKPOINT_NAMES)}")
    if not path.is_file():
        raise CheckpointError(f"{path}: model file not found")
    return path


def spec_from_state(state: Mapping[str, Any], path: os.PathLike) -> ModelSpec:
    """The :class:`ModelSpec` of a loaded checkpoint; :class:`CheckpointError` if it has
    none or a malformed one."""
    if SPEC not in state or MODEL not in state:
        raise CheckpointError(f"{path} holds no model (no '{SPEC}' / '{MODEL}' entry)")
    try:
        return ModelSpec.from_dict(state[SPEC])
    except (ModelSpecError, TypeError, ValueError) as exc:
        raise CheckpointError(f"{path}: malformed model spec: {exc}") from None


def model_from_checkpoint(path: os.PathLike, factory: ModelFactory | None = None,
                          use_ema: bool = True
                          ) -> Tuple[nn.Module, ModelSpec, Dict[str, Any]]:
    """The model stored in a checkpoint (``best.pt``, ``last.pt``, ...), rebuilt from its
    spec by ``factory`` (default :func:`mlip_gnn.model.build_model`), with the EMA weights
    when present and ``use_ema``, on the CPU in eval mode; its spec; and the checkpoint
    dict (``config``, ``config_hash``, ``version``, ``epoch``, ...).

    Raises :class:`CheckpointError` for an unusable file, one without a model, or weights
    that do not fit the rebuilt model.
    """
    state = load_checkpoint(path)
    spec = spec_from_state(state, path)
    try:
        model = build_from_spec(spec, factory)
    except (TypeError, ValueError) as exc:  # builder arguments of another version
        raise CheckpointError(f"{path}: the stored model spec does not fit this version's "
                              f"model builder (mlip_gnn {mlip_gnn.__version__}, checkpoint "
                              f"from {state.get(VERSION, '?')}): {exc}") from None
    ema = state.get(EMA)
    try:
        model.load_state_dict(ema["shadow"] if use_ema and ema else state[MODEL])
    except RuntimeError as exc:  # weights of another architecture or package version
        message = " ".join(str(exc).split())[:300]
        raise CheckpointError(f"{path}: the stored weights do not fit the model rebuilt from "
                              f"its spec (written by mlip_gnn {state.get(VERSION, '?')}, "
                              f"this is {mlip_gnn.__version__}): {message}") from None
    return model.eval(), spec, state
