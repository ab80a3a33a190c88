"""Checkpoints: atomic writes, integrity check on load, and last / previous / best files.

A checkpoint is a plain dict that ``torch.load(path, weights_only=True)`` reads (tensors,
numbers, strings, lists, tuples, dicts). ``save_checkpoint`` adds an ``integrity`` entry,
a SHA-256 digest over the whole content, because ``torch.load`` does not verify the data
of the tensors it reads: a flipped byte would otherwise load silently.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, Dict, List, Tuple

import torch

__all__ = ["CheckpointError", "RunDirError", "save_checkpoint", "load_checkpoint",
           "CheckpointManager", "check_writable", "check_free_space", "checkpoint_bytes",
           "LAST", "PREVIOUS", "BEST"]

LAST, PREVIOUS, BEST = "last.pt", "last.prev.pt", "best.pt"
_INTEGRITY = "integrity"
_log = logging.getLogger(__name__)


class CheckpointError(Exception):
    """Raised when a checkpoint is missing, truncated, corrupted or not one of ours."""


class RunDirError(Exception):
    """Raised when the run directory cannot be created or written, or holds a different run."""


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
    h = hashlib.sha256()
    _digest({k: v for k, v in state.items() if k != _INTEGRITY}, h)
    return h.hexdigest()


def _fsync_dir(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:  # not supported on every platform / filesystem
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_temp(state: Dict[str, Any], directory: Path, name: str) -> Path:
    """Write ``state`` (with its digest) to a temp file in ``directory``, flushed to disk."""
    state = {**state, _INTEGRITY: state_digest(state)}
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=f".{name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            torch.save(state, handle)
            handle.flush()
            os.fsync(handle.fileno())
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return Path(tmp)


def save_checkpoint(state: Dict[str, Any], path: os.PathLike) -> Path:
    """Write ``state`` to ``path`` atomically: a reader sees the old file or the new one."""
    path = Path(path)
    tmp = _write_temp(state, path.parent, path.name)
    os.replace(tmp, path)
    _fsync_dir(path.parent)
    return path


def load_checkpoint(path: os.PathLike, map_location: Any = "cpu") -> Dict[str, Any]:
    """Load and verify a checkpoint written by :func:`save_checkpoint`.

    Raises :class:`CheckpointError` when the file is missing, unreadable, truncated, was
    not written by this package or fails its integrity check.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} does not exist")
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:  # truncated zip, bad pickle, unknown type: all mean unusable
        raise CheckpointError(f"checkpoint {path} is unreadable (truncated or corrupted): "
                              f"{type(exc).__name__}: {str(exc)[:200]}") from None
    if not isinstance(state, dict) or _INTEGRITY not in state:
        raise CheckpointError(f"{path} is not an mlip_gnn checkpoint (no integrity record)")
    if state_digest(state) != state[_INTEGRITY]:
        raise CheckpointError(f"checkpoint {path} is corrupted: its content does not match "
                              "the digest written with it")
    return state


def check_writable(run_dir: os.PathLike) -> Path:
    """Create ``run_dir`` if needed and prove a file can be written there."""
    run_dir = Path(run_dir)
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=run_dir, prefix=".write-test."):
            pass
    except OSError as exc:
        raise RunDirError(f"run directory {run_dir} is not writable: {exc.strerror or exc}. "
                          "Choose another output.run_dir.") from None
    return run_dir


def checkpoint_bytes(model: torch.nn.Module) -> int:
    """Rough size of one training checkpoint of ``model``: weights, EMA copy and two Adam
    moments, plus a little for the rest."""
    weights = sum(t.numel() * t.element_size() for t in model.state_dict().values())
    return 4 * weights + 64 * 1024


def check_free_space(run_dir: os.PathLike, needed: int) -> None:
    """Raise :class:`RunDirError` unless ``run_dir``'s file system has ``needed`` bytes
    free, so that a full disk stops a run before training instead of at its first
    checkpoint."""
    free = shutil.disk_usage(run_dir).free
    if free < needed:
        raise RunDirError(f"run directory {run_dir}: only {free / 2**20:.1f} MiB free on its "
                          f"file system, checkpoints need about {needed / 2**20:.1f} MiB. "
                          "Free space or choose another output.run_dir.")


class CheckpointManager:
    """``last.pt`` (latest state), ``last.prev.pt`` (the one before) and ``best.pt``."""

    def __init__(self, run_dir: os.PathLike):
        self.run_dir = Path(run_dir)

    @property
    def last(self) -> Path:
        return self.run_dir / LAST

    @property
    def previous(self) -> Path:
        return self.run_dir / PREVIOUS

    @property
    def best(self) -> Path:
        return self.run_dir / BEST

    def has_checkpoint(self) -> bool:
        return self.last.exists() or self.previous.exists() or bool(self.snapshots())

    def save_last(self, state: Dict[str, Any]) -> Path:
        """Write the new state, then rotate: last → previous, new → last."""
        tmp = _write_temp(state, self.run_dir, LAST)
        if self.last.exists():
            os.replace(self.last, self.previous)
        os.replace(tmp, self.last)
        _fsync_dir(self.run_dir)
        return self.last

    def snapshots(self) -> List[Path]:
        """Periodic copies ``epoch_NNNNN.pt``, oldest first."""
        return sorted(self.run_dir.glob("epoch_*.pt"))

    def snapshot(self, epoch: int, keep: int) -> Path:
        """Keep ``last.pt`` as ``epoch_NNNNN.pt`` (a hard link where possible) and delete all
        but the newest ``keep`` such copies."""
        path = self.run_dir / f"epoch_{epoch:05d}.pt"
        path.unlink(missing_ok=True)
        try:
            os.link(self.last, path)
        except OSError:  # filesystems without hard links
            shutil.copyfile(self.last, path)
        for old in self.snapshots()[:-keep]:
            old.unlink(missing_ok=True)
        return path

    def save_best(self, state: Dict[str, Any]) -> Path:
        return save_checkpoint(state, self.best)

    def load_latest(self) -> Tuple[Dict[str, Any], Path]:
        """The newest loadable of ``last.pt``, ``last.prev.pt`` and the periodic copies
        (newest first); a bad file is reported (logged as a warning) and the next tried."""
        errors: List[str] = []
        for path in (self.last, self.previous, *reversed(self.snapshots())):
            if not path.exists():
                continue
            try:
                state = load_checkpoint(path)
            except CheckpointError as exc:
                errors.append(str(exc))
                _log.warning("%s; trying the previous checkpoint", exc)
                continue
            if errors:
                _log.warning("resuming from the previous checkpoint %s (epoch %s)", path,
                             state.get("epoch"))
            return state, path
        if not errors:
            raise CheckpointError(f"no checkpoint ({LAST} or {PREVIOUS}) in {self.run_dir}")
        raise CheckpointError(f"no usable checkpoint in {self.run_dir}: " + "; ".join(errors))
