"""Fitted estimator states on disk: small files of float64 tensors and numbers in the run
directory, written atomically and read with ``torch.load(weights_only=True)``.

A model source finds its fits beside it: a run directory holds them itself, a checkpoint
in its directory (``runs/x/best.pt`` → ``runs/x/llpr.pt``).
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any, ClassVar, Dict, Tuple, TypeVar

import torch

from mlip_gnn.errors import MlipGnnError
from mlip_gnn.uncertainty.readout import readout_parts, readout_weights
from mlip_gnn.utils.files import atomic_write

__all__ = ["EstimatorFitError", "save_state", "load_state", "fit_path", "StoredState",
           "check_weights", "bind_fit"]

FORMAT_VERSION = 1


class EstimatorFitError(MlipGnnError, ValueError):
    """Raised when an estimator's fitted state is missing, unreadable, of another kind or
    version, or was fitted for other weights than the model it is used with; and when a
    fit cannot be made (too few frames, no labels)."""


def fit_path(source: os.PathLike, file_name: str) -> Path:
    """Where the fit ``file_name`` of a model source lives: in a run directory, or beside
    a checkpoint."""
    source = Path(source)
    return source / file_name if source.is_dir() else source.parent / file_name


def save_state(path: os.PathLike, kind: str, state: Dict[str, Any]) -> Path:
    """Write ``state`` (tensors, numbers, strings) with its ``kind`` and format version."""
    path = Path(path)
    with atomic_write(path, "wb") as handle:
        torch.save({"kind": kind, "format_version": FORMAT_VERSION, **state}, handle)
    return path


def load_state(path: os.PathLike, kind: str) -> Dict[str, Any]:
    """Read a state written by :func:`save_state`; :class:`EstimatorFitError` names the
    file and says how to make it when it is missing or unusable."""
    path = Path(path)
    if not path.is_file():
        raise EstimatorFitError(f"{path}: no {kind} fit found; make it with "
                                f"`mlip-gnn uncertainty fit {path.parent}`")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # truncated or foreign file: unusable either way
        raise EstimatorFitError(f"{path}: unreadable {kind} fit ({exc}); refit it with "
                                f"`mlip-gnn uncertainty fit {path.parent}`") from None
    if not isinstance(state, dict) or state.get("kind") != kind:
        found = state.get("kind") if isinstance(state, dict) else type(state).__name__
        raise EstimatorFitError(f"{path}: not a {kind} fit (found {found!r})")
    if state.get("format_version") != FORMAT_VERSION:
        raise EstimatorFitError(f"{path}: {kind} fit of format {state.get('format_version')}"
                                f"; this version reads format {FORMAT_VERSION}: refit it")
    return state


_S = TypeVar("_S", bound="StoredState")


class StoredState:
    """Base of a fit's dataclass: saved and loaded as its fields under ``KIND``."""

    KIND: ClassVar[str]

    def save(self, path: os.PathLike) -> Path:
        """Write the fit to ``path`` (atomically); the path."""
        return save_state(path, self.KIND, dataclasses.asdict(self))

    @classmethod
    def load(cls: type[_S], path: os.PathLike) -> _S:
        """The fit stored at ``path``; :class:`EstimatorFitError` when unusable."""
        state = load_state(path, cls.KIND)
        fields = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in state.items() if k in fields})


def check_weights(stored: torch.Tensor, module: torch.nn.Module, path: object) -> None:
    """A fit belongs to the readout weights it was made with: refuse other weights (a
    retrained model, or raw weights where the fit used the EMA)."""
    current = readout_weights(module)
    if current.shape != stored.shape or not torch.allclose(current, stored, rtol=1e-5,
                                                            atol=1e-8):
        raise EstimatorFitError(f"{path}: fitted for other model weights (retrained, or "
                                "EMA against raw weights); refit with `mlip-gnn "
                                "uncertainty fit`")


def bind_fit(state: StoredState | None, state_type: type, file_name: str, member
             ) -> Tuple[StoredState, list]:
    """``(state, readout parts)`` for a committee ``member``: ``state``, or the fit
    ``file_name`` stored beside the member's source, checked to belong to its weights."""
    path = fit_path(member.name, file_name)
    if state is None:
        state = state_type.load(path)
    parts = readout_parts(member.module)
    check_weights(state.weights, member.module, path)
    return state, parts
