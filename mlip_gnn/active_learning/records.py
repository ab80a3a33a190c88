"""What a loop leaves on disk: the iteration folders, ``al_log.jsonl`` and the plot.

Every file is written atomically and each step of an iteration leaves a file that marks
it done, so that a loop killed at any moment resumes at the step it was in: a structure
whose label file exists is never labelled again, and an iteration whose ``summary.json``
exists is not redone.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import sys
from pathlib import Path
from typing import Iterator, List, Mapping, Sequence

from mlip_gnn.utils.files import atomic_write

__all__ = ["IterationDir", "LOG_FILE", "PLOT_FILE", "write_json", "read_json",
           "write_frames", "write_log", "copy_file", "plot_progress", "log_to_work_dir"]

LOG_FILE = "al_log.jsonl"
PLOT_FILE = "al_progress.png"


class IterationDir:
    """The folder of iteration ``index`` and the files in it."""

    def __init__(self, work_dir: Path, index: int):
        self.index = index
        self.root = Path(work_dir) / f"iter_{index:03d}"
        self.train_file = self.root / "train.xyz"  # every labelled frame the models saw
        self.models = self.root / "models"
        self.heldout = self.root / "heldout.json"
        self.explore = self.root / "explore"
        self.selection = self.root / "selection.xyz"  # chosen, not yet labelled
        self.labels = self.root / "labels"  # one file per labelled or failed structure
        self.added = self.root / "added.xyz"  # the labelled frames this iteration adds
        self.summary = self.root / "summary.json"  # the iteration is done
        self.plot = self.root / "progress.png"

    def member(self, k: int) -> Path:
        """Run directory of committee member ``k``."""
        return self.models / f"member_{k}"

    def member_done(self, k: int) -> Path:
        """Marker file written when member ``k`` has finished training."""
        return self.models / f"member_{k}.done"


def write_json(path: Path, data) -> None:
    """Write ``data`` to ``path`` as JSON, atomically (folders made as needed)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_write(path) as handle:
        json.dump(data, handle, indent=1, allow_nan=True)


def read_json(path: Path):
    """The JSON document at ``path``."""
    return json.loads(Path(path).read_text(encoding="utf-8"))


def write_frames(path: Path, frames: Sequence) -> None:
    """Extended XYZ, atomically (an empty list gives an empty file)."""
    from ase.io import write

    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_write(path) as handle:
        if frames:
            write(handle, list(frames), format="extxyz")


def copy_file(source: Path, target: Path) -> None:
    """Copy ``source`` to ``target`` atomically."""
    data = Path(source).read_bytes()
    with atomic_write(target, "wb") as handle:
        handle.write(data)


def write_log(work_dir: Path, summaries: Sequence[Mapping]) -> None:
    """``al_log.jsonl``: one JSON line per finished iteration, rewritten whole."""
    with atomic_write(Path(work_dir) / LOG_FILE) as handle:
        for summary in summaries:
            handle.write(json.dumps(summary, allow_nan=True) + "\n")


def _series(summaries: Sequence[Mapping], key: str) -> List[float]:
    values = [s.get(key) for s in summaries]
    return [math.nan if v is None else float(v) for v in values]


def plot_progress(summaries: Sequence[Mapping], path: Path) -> None:
    """Labels, candidates, accurate fraction (hardest condition) and held-out errors
    against the iteration, as one PNG (matplotlib's Agg canvas; no pyplot)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    x = [s["iteration"] for s in summaries]
    fig = Figure(figsize=(9, 6.5), dpi=100)
    FigureCanvasAgg(fig)
    panels = [("labels", "labelled frames (training set)", None),
              ("candidates", "candidates found", None),
              ("accurate_fraction", "accurate fraction, hardest condition", None),
              ("heldout_forces_rmse", "held-out force RMSE (meV/Å)",
               "heldout_energy_rmse")]
    for i, (key, title, second) in enumerate(panels):
        ax = fig.add_subplot(2, 2, i + 1)
        ax.plot(x, _series(summaries, key), "o-", label=key)
        if second is not None:
            twin = ax.twinx()
            twin.plot(x, _series(summaries, second), "s--", color="tab:orange")
            twin.set_ylabel("held-out energy RMSE (meV/atom)", color="tab:orange")
        ax.set(title=title, xlabel="iteration")
        if key == "accurate_fraction":
            ax.set_ylim(-0.03, 1.03)
        ax.set_xticks(x)
    fig.tight_layout()
    with atomic_write(path, "wb") as handle:
        fig.savefig(handle, format="png")


@contextlib.contextmanager
def log_to_work_dir(work_dir: Path, name: str) -> Iterator[logging.Logger]:
    """Logger ``name`` writing to ``work_dir/al.log`` and stdout for the block (handlers
    removed, level and propagation restored in ``finally``)."""
    logger = logging.getLogger(name)
    handlers = [logging.FileHandler(Path(work_dir) / "al.log", encoding="utf-8"),
                logging.StreamHandler(sys.stdout)]
    handlers[0].setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    handlers[1].setFormatter(logging.Formatter("[active-learn] %(message)s"))
    old = logger.level, logger.propagate
    logger.setLevel(logging.INFO)
    logger.propagate = False
    for handler in handlers:
        logger.addHandler(handler)
    try:
        yield logger
    finally:
        for handler in handlers:
            logger.removeHandler(handler)
            handler.close()
        logger.setLevel(old[0])
        logger.propagate = old[1]
