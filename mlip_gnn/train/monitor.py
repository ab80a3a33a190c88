"""What a run reports (rank 0 only): ``metrics.jsonl``, TensorBoard, ``train.log`` and
plain-text progress lines with an ETA on the console."""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import sys
import time
from pathlib import Path
from typing import Any, Dict, Iterator, List, Mapping

from mlip_gnn.quantities import QUANTITIES, metric_units
from mlip_gnn.train.checkpoint import RunDirError
from mlip_gnn.utils.files import atomic_write

__all__ = ["METRICS_FILE", "LOG_FILE", "TENSORBOARD_DIR", "log_to", "MetricsLog", "Monitor",
           "format_duration", "read_metrics"]

METRICS_FILE, LOG_FILE, TENSORBOARD_DIR = "metrics.jsonl", "train.log", "tensorboard"
_log = logging.getLogger("mlip_gnn.train")


@contextlib.contextmanager
def log_to(run_dir: Path | None, console: bool = True) -> Iterator[None]:
    """Send the package's log records to ``run_dir/train.log`` and stdout for the duration
    (handlers removed and level restored in ``finally``). ``run_dir=None``: console only."""
    logger = logging.getLogger("mlip_gnn")
    handlers: List[logging.Handler] = []
    if run_dir is not None:
        handlers.append(logging.FileHandler(Path(run_dir) / LOG_FILE, encoding="utf-8"))
        handlers[-1].setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    if console:
        handlers.append(logging.StreamHandler(sys.stdout))
        handlers[-1].setFormatter(logging.Formatter("%(message)s"))
    if not handlers:  # other ranks: silence, rather than logging's stderr last resort
        handlers.append(logging.NullHandler())
    old_level = logger.level
    logger.setLevel(logging.INFO)
    for handler in handlers:
        logger.addHandler(handler)
    try:
        yield
    finally:
        for handler in handlers:
            logger.removeHandler(handler)
            handler.close()
        logger.setLevel(old_level)


def format_duration(seconds: float) -> str:
    """``seconds`` as ``1h05m`` or ``4m07s`` (``?`` when not finite)."""
    if not math.isfinite(seconds):
        return "?"
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{secs:02d}s"


def read_metrics(path: Path) -> List[Dict[str, Any]]:
    """The records of a metrics JSON-lines file ([] when there is none); a line cut short
    by a kill is dropped with a warning."""
    path = Path(path)
    if not path.exists():
        return []
    records = []
    for number, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip():
            continue
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:  # a line cut short by a kill: the epoch reruns
            _log.warning("%s line %d is incomplete; dropped", path, number)
    return records


class MetricsLog:
    """One JSON line per epoch. On resume, lines of epochs at or after the resume epoch are
    dropped first, so the file reads as if the run had never stopped."""

    def __init__(self, path: Path, resume_epoch: int = 0):
        self.path = Path(path)
        kept = [r for r in read_metrics(self.path) if r.get("epoch", math.inf) < resume_epoch]
        try:
            with atomic_write(self.path, "w") as handle:
                handle.write("".join(json.dumps(r) + "\n" for r in kept))
        except OSError as exc:
            raise _unwritable(self.path, exc) from None

    def write(self, record: Mapping[str, Any]) -> None:
        """Append one line; a failed write (disk full, quota) leaves the file as it was and
        raises :class:`~mlip_gnn.train.checkpoint.RunDirError`."""
        size = self.path.stat().st_size if self.path.exists() else 0
        try:
            with open(self.path, "a", encoding="utf-8") as handle:
                handle.write(json.dumps(record) + "\n")
        except OSError as exc:
            with contextlib.suppress(OSError):  # no half line for the resume to trip over
                os.truncate(self.path, size)
            raise _unwritable(self.path, exc) from None


def _unwritable(path: Path, exc: OSError) -> RunDirError:
    return RunDirError(f"cannot write {path}: {exc.strerror or exc}. The checkpoints of the "
                       "run are intact; free space (or fix the permissions) and run the same "
                       "command again to resume.")


def _summary(metrics: Mapping[str, float]) -> str:
    parts = [f"loss {metrics['loss']:.4g}"] if "loss" in metrics else []
    for q in QUANTITIES:
        if f"{q.name}_rmse" in metrics:
            parts.append(f"{q.symbol} {metrics[f'{q.name}_mae']:.3g}/"
                         f"{metrics[f'{q.name}_rmse']:.3g} {q.metric_unit}")
    return " ".join(parts)


class Monitor:
    """All reporting of a run; every method is a no-op on ranks other than 0."""

    def __init__(self, run_dir: Path, *, enabled: bool, tensorboard: bool, progress: bool,
                 max_epochs: int | None, resume_epoch: int = 0, resume_step: int = 0,
                 progress_every_s: float = 10.0):
        self.enabled, self.progress, self.max_epochs = enabled, progress, max_epochs
        self.progress_every_s = progress_every_s
        self.metrics = MetricsLog(Path(run_dir) / METRICS_FILE, resume_epoch) if enabled else None
        self.writer = None
        if enabled and tensorboard:
            from torch.utils.tensorboard import SummaryWriter

            # purge_step drops events a previous, interrupted run wrote after this step
            self.writer = SummaryWriter(str(Path(run_dir) / TENSORBOARD_DIR),
                                        purge_step=resume_step or None)
        self._epoch_times: List[float] = []
        self._last_progress = time.monotonic()

    def info(self, message: str, *args) -> None:
        """Log on the main process only."""
        if self.enabled:
            _log.info(message, *args)

    def warning(self, message: str, *args) -> None:
        """Log a warning on the main process only."""
        if self.enabled:
            _log.warning(message, *args)

    def step(self, *, epoch: int, global_step: int, batch: int, num_batches: int,
             loss: float, grad_norm: float, epoch_elapsed: float) -> None:
        """Record one optimiser step: loss and gradient norm to TensorBoard, a progress
        line with the epoch's ETA now and then."""
        if not self.enabled:
            return
        if self.writer is not None:
            self.writer.add_scalar("step/loss", loss, global_step)
            self.writer.add_scalar("step/grad_norm", grad_norm, global_step)
        now = time.monotonic()
        if self.progress and (now - self._last_progress >= self.progress_every_s
                              or batch == num_batches):
            self._last_progress = now
            eta = epoch_elapsed / batch * (num_batches - batch)
            _log.info("  epoch %d [%d/%d] loss %.4g | grad norm %.3g | epoch ETA %s", epoch,
                      batch, num_batches, loss, grad_norm, format_duration(eta))

    def epoch(self, record: Mapping[str, Any], time_left_s: float = math.inf) -> None:
        """Log one epoch: ``record`` has epoch, lr, epoch_time_s, train and maybe valid."""
        if not self.enabled:
            return
        self.metrics.write(record)
        epoch, seconds = record["epoch"], record["epoch_time_s"]
        self._epoch_times.append(seconds)
        if self.writer is not None:
            for split in ("train", "valid"):
                for name, value in record.get(split, {}).items():
                    self.writer.add_scalar(f"{split}/{name}", value, epoch)
            self.writer.add_scalar("lr", record["lr"], epoch)
            self.writer.add_scalar("epoch_time_s", seconds, epoch)
            self.writer.flush()
        mean = sum(self._epoch_times) / len(self._epoch_times)
        eta, done = time_left_s, f"{100.0 * min(record.get('progress', 0.0), 1.0):.0f} %"
        if self.max_epochs is not None:
            eta = min(mean * (self.max_epochs - epoch - 1), time_left_s)
            done = f"{epoch + 1}/{self.max_epochs}"
        line = f"epoch {epoch} ({done}) | train {_summary(record['train'])}"
        if "valid" in record:
            line += f" | valid {_summary(record['valid'])}"
        line += f" | lr {record['lr']:.3g} | {seconds:.1f} s | ETA {format_duration(eta)}"
        _log.info(line)

    def table(self, title: str, rows: Mapping[str, Mapping[str, float]]) -> None:
        """A plain-text table: one row per subset, MAE / RMSE columns."""
        if not self.enabled:
            return
        units = metric_units()
        columns = [f"{q}_{m}" for q in units for m in ("mae", "rmse")
                   if any(f"{q}_{m}" in r for r in rows.values())]
        heads = [f"{c.replace('_', ' ')} ({units[c.split('_')[0]]})" for c in columns]
        width = max([len(k) for k in rows] + [8])
        lines = [title, " " * width + "".join(f"  {h:>22}" for h in heads)]
        for name, row in rows.items():
            cells = "".join(f"  {row[c]:>22.4g}" if c in row else f"  {'-':>22}"
                            for c in columns)
            lines.append(f"{name:<{width}}{cells}")
        _log.info("\n".join(lines))

    def close(self) -> None:
        """Flush and close the TensorBoard writer."""
        if self.writer is not None:
            self.writer.close()
            self.writer = None
