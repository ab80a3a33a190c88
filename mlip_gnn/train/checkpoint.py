"""The checkpoint files of a run directory: last / previous / periodic / best, and checks
that the directory can hold them. The file format (schema, digest, format check) is
:mod:`mlip_gnn.modelio.checkpoint`.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, Dict, List, Tuple

import torch

from mlip_gnn.errors import MlipGnnError
from mlip_gnn.utils.paths import check_output_dir, first_missing
from mlip_gnn.modelio.checkpoint import (CheckpointError, CheckpointFormatError,
                                         load_checkpoint, save_checkpoint)

__all__ = ["CheckpointError", "RunDirError", "save_checkpoint", "load_checkpoint",
           "CheckpointManager", "check_writable", "check_free_space", "checkpoint_bytes",
           "LAST", "PREVIOUS", "BEST", "StartGuard"]

LAST, PREVIOUS, BEST = "last.pt", "last.prev.pt", "best.pt"
_log = logging.getLogger(__name__)


class RunDirError(MlipGnnError):
    """Raised when the run directory cannot be created or written, or holds a different run."""


def check_writable(run_dir: os.PathLike) -> Path:
    """Create ``run_dir`` if needed and prove a file can be written there."""
    run_dir = check_output_dir(run_dir, "run directory (output.run_dir)", error=RunDirError)
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
        """Path of the latest checkpoint."""
        return self.run_dir / LAST

    @property
    def previous(self) -> Path:
        """Path of the one before it (kept until the next save)."""
        return self.run_dir / PREVIOUS

    @property
    def best(self) -> Path:
        """Path of the best checkpoint by the validation metric."""
        return self.run_dir / BEST

    def has_checkpoint(self) -> bool:
        """Whether there is anything to resume from."""
        return self.last.exists() or self.previous.exists() or bool(self.snapshots())

    def save_last(self, state: Dict[str, Any]) -> Path:
        """Write the new state, then rotate: last → previous, new → last."""
        return save_checkpoint(state, self.last, keep_previous=self.previous)

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
        """Write ``state`` as the best checkpoint."""
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
            except CheckpointFormatError:
                raise  # intact but of another version: an older file would lose work
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


class StartGuard:
    """Deletes the run directory this call created (or, in one that existed, the files
    this call added) if the run fails before training starts (bad data, bad config, ...),
    so no half-made run dir is left behind. Once
    :meth:`started` is called the directory stays, whatever happens: its log then tells
    what went wrong."""

    def __init__(self, run_dir: Path, main: bool):
        self.created = first_missing(run_dir.resolve()) if main else None
        # an existing run dir (e.g. --resume of an empty one) keeps what it held, and only that
        self.run_dir = run_dir if main and self.created is None and run_dir.is_dir() else None
        self.held = set(os.listdir(run_dir)) if self.run_dir is not None else set()

    def started(self) -> None:
        """The run has begun: from now on its files are kept, whatever happens."""
        self.created = self.run_dir = None

    def __enter__(self) -> StartGuard:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            return
        if self.created is not None and self.created.is_dir():
            shutil.rmtree(self.created, ignore_errors=True)
        if self.run_dir is not None:
            for name in set(os.listdir(self.run_dir)) - self.held:
                new = self.run_dir / name
                if new.is_dir():
                    shutil.rmtree(new, ignore_errors=True)
                else:
                    new.unlink(missing_ok=True)
