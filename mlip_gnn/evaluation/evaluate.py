"""``evaluate``: read data, predict, compute errors, write JSON and parity plots."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

from mlip_gnn.calculators import Committee
from mlip_gnn.inference import Predictor
from mlip_gnn.data import KeyMap, read_many
from mlip_gnn.evaluation.errors import (FramePrediction, error_report, format_report,
                                        predict_frames)
from mlip_gnn.evaluation.plots import write_parity_plots
from mlip_gnn.utils.files import atomic_write

__all__ = ["evaluate", "write_outputs", "METRICS_FILE"]

METRICS_FILE = "metrics.json"


def evaluate(models, data: Sequence[os.PathLike], key_map: Optional[KeyMap] = None,
             device: str = "cpu") -> Tuple[Dict[str, object], list]:
    """Errors of ``models`` (one or a committee, whose mean is scored; or a
    :class:`~mlip_gnn.inference.Predictor`) on every frame of ``data``. Returns the report
    (see :func:`error_report`) and the frame predictions.

    Every file is read and checked before any model is run, so bad input fails early with
    a :class:`~mlip_gnn.data.DataError` naming file, frame and field.
    """
    configs = read_many(data, key_map or KeyMap())
    committee = models if isinstance(models, Predictor) else Committee(models, device)
    frames = predict_frames(committee, configs)
    report = error_report(frames)
    report["data"] = [str(p) for p in data]
    return report, frames


def write_outputs(report: Dict[str, object], frames: Sequence[FramePrediction],
                  out_dir: os.PathLike, model: Optional[str] = None) -> List[Path]:
    """``metrics.json``, ``errors.txt`` (the table) and ``parity_<quantity>.png`` for each
    quantity with labels, in ``out_dir``; returns the paths written."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    if model is not None:
        report = {"model": model, **report}
    written = []
    for name, text in ((METRICS_FILE, json.dumps(report, indent=2, ensure_ascii=False)),
                       ("errors.txt", format_report(report) + "\n")):
        with atomic_write(out_dir / name, "w") as handle:
            handle.write(text)
        written.append(out_dir / name)
    return written + list(write_parity_plots(frames, out_dir).values())
