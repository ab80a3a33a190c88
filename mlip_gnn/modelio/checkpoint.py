"""Checkpoint files: schema, atomic save with a digest, load with integrity and format checks.

A checkpoint is a plain dict that ``torch.load(path, weights_only=True)`` reads (tensors,
numbers, strings, lists, tuples, dicts). :func:`save_checkpoint` stamps the format and adds
an ``integrity`` entry, a SHA-256 digest over the whole content, because ``torch.load``
does not verify the data of the tensors it reads: a flipped byte would otherwise load
silently.

Entries (format 2, mlip_gnn 0.2: the complete many-body basis; format 1 files hold the
l ≤ 1 product of mlip_gnn 0.1, whose weights do not carry over, and are refused with a
message that says what to do):

==================  ====================================================================
``format``          :data:`CHECKPOINT_FORMAT`; a newer format is refused on load
``version``         the mlip_gnn version that wrote it
``model_spec``      :meth:`ModelSpec.to_dict`: rebuilds the model
``model``           the model's state dict (``best.pt``: the EMA weights, ``weights: ema``)
``ema``             EMA state (``shadow`` weights) or None
``config``          the training config as plain values, ``config_hash`` its hash
``epoch``           epoch of the state
``integrity``       the digest
==================  ====================================================================

Training adds its own entries (``loop``, ``optimizer``, ``lr_schedule``, ``loss_weights``,
``train_sums``, ``rng``; ``metrics``, ``best_metric`` in ``best.pt``); this module passes
them through.
"""

from __future__ import annotations

import hashlib
import os
import pickle
from pathlib import Path
from typing import Any, Dict

import torch

import mlip_gnn
from mlip_gnn.errors import MlipGnnError
from mlip_gnn.utils.files import atomic_write

__all__ = ["CheckpointError", "CheckpointFormatError", "CHECKPOINT_FORMAT", "save_checkpoint",
           "load_checkpoint", "state_digest", "FORMAT", "VERSION", "SPEC", "MODEL", "EMA", "CONFIG",
           "CONFIG_HASH", "EPOCH", "WEIGHTS", "INTEGRITY", "is_archive"]

CHECKPOINT_FORMAT = 2
FORMAT, VERSION, SPEC, MODEL, EMA = "format", "version", "model_spec", "model", "ema"
CONFIG, CONFIG_HASH, EPOCH, WEIGHTS, INTEGRITY = ("config", "config_hash", "epoch", "weights",
                                                  "integrity")
_ZIP_MAGIC = b"PK\x03\x04"


class CheckpointError(MlipGnnError):
    """Raised when a checkpoint is missing, truncated, corrupted, not one of ours, or
    written in a format this version does not read."""


class CheckpointFormatError(CheckpointError):
    """Raised for an intact checkpoint of another format (newer, or format 1): an older
    file of the same run is no substitute for it."""


def _digest(obj: Any, h: hashlib._Hash) -> None:
    if isinstance(obj, torch.Tensor):
        t = obj.detach().cpu().contiguous()
        h.update(f"T{t.dtype}{tuple(t.shape)}".encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    elif isinstance(obj, dict):
        h.update(f"D{len(obj)}".encode())
        for key in sorted(obj, key=repr):
            h.update(repr(key).encode())
            _digest(obj[key], h)
    elif isinstance(obj, (list, tuple)):
        h.update(f"{type(obj).__name__[0]}{len(obj)}".encode())
        for item in obj:
            _digest(item, h)
    else:
        h.update(f"S{obj!r}".encode())


def state_digest(state: Dict[str, Any]) -> str:
    """SHA-256 over everything but the ``integrity`` entry."""
    h = hashlib.sha256()
    _digest({k: v for k, v in state.items() if k != INTEGRITY}, h)
    return h.hexdigest()


def save_checkpoint(state: Dict[str, Any], path: os.PathLike,
                    keep_previous: os.PathLike | None = None) -> Path:
    """Write ``state`` (stamped with the format and package version, plus its digest) to
    ``path`` atomically: a reader sees the old file or the new one. ``keep_previous``:
    rename an existing ``path`` to it first."""
    path = Path(path)
    state = {**state, FORMAT: CHECKPOINT_FORMAT}
    state.setdefault(VERSION, mlip_gnn.__version__)
    state[INTEGRITY] = state_digest(state)
    with atomic_write(path, "wb", keep_previous=keep_previous) as handle:
        torch.save(state, handle)
    return path


def is_archive(path: os.PathLike) -> bool:
    """Whether ``path`` starts like a zip archive, the container of every torch file
    (checkpoint or TorchScript), complete or truncated."""
    try:
        with open(path, "rb") as handle:
            return handle.read(4) == _ZIP_MAGIC
    except OSError:
        return False


def _unreadable(path: Path, exc: Exception) -> CheckpointError:
    if not is_archive(path):
        return CheckpointError(f"{path} is not an mlip_gnn model or checkpoint (not a torch "
                               "archive)")
    # torch's own text suggests loading with weights_only=False, which must never be the fix,
    # and its zip reader's advice on "an internal miniz error" is about torch, not the file
    detail = str(exc).split(". ")[0].splitlines()[0][:160] if str(exc) else type(exc).__name__
    if isinstance(exc, pickle.UnpicklingError) or any(
            word in detail.lower() for word in ("weights", "pickl", "trust")):
        detail = "it holds objects other than tensors and plain values"
    return CheckpointError(f"{path} is unreadable (truncated or corrupted): write or copy the "
                           f"model file or checkpoint again (torch: {detail})")


def _check_format(state: Dict[str, Any], path: Path) -> Dict[str, Any]:
    found = state.get(FORMAT, 1)
    if not isinstance(found, int) or isinstance(found, bool) or found < 1:
        raise CheckpointError(f"checkpoint {path}: unknown format {found!r}")
    if found > CHECKPOINT_FORMAT:
        raise CheckpointFormatError(
            f"checkpoint {path} has format {found} (written by mlip_gnn "
            f"{state.get(VERSION, '?')}); mlip_gnn {mlip_gnn.__version__} reads formats up "
            f"to {CHECKPOINT_FORMAT}. Install a newer mlip_gnn to load it.")
    if found == 1:
        raise CheckpointFormatError(
            f"checkpoint {path} was written by mlip_gnn {state.get(VERSION, '0.1')} "
            "(format 1), whose model had an l <= 1 many-body product; mlip_gnn "
            f"{mlip_gnn.__version__} has a complete basis with other weights, so it cannot "
            "be loaded. Retrain with this version (the config still works), or keep using "
            "the old model through a file exported with mlip_gnn 0.1 (`mlip-gnn export`), "
            "which loads with torch alone.")
    return state


def load_checkpoint(path: os.PathLike, map_location: Any = "cpu") -> Dict[str, Any]:
    """Load and verify a checkpoint.

    Raises :class:`CheckpointError` when the file is missing, unreadable, truncated, was
    not written by this package, fails its integrity check, has a newer format, or has
    format 1 (mlip_gnn 0.1's model, whose weights this version cannot use).
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} does not exist")
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:  # truncated zip, bad pickle, unknown type: all mean unusable
        raise _unreadable(path, exc) from None
    if not isinstance(state, dict) or INTEGRITY not in state:
        raise CheckpointError(f"{path} is not an mlip_gnn checkpoint (no integrity record)")
    if state_digest(state) != state[INTEGRITY]:
        raise CheckpointError(f"checkpoint {path} is corrupted: its content does not match "
                              "the digest written with it")
    return _check_format(state, path)
