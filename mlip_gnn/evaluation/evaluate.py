"""``evaluate``: read data, predict, compute errors, write JSON and parity plots."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Dict, List, Sequence, Tuple

from mlip_gnn.calculators import Committee
from mlip_gnn.data import KeyMap, optional_moments, read_many
from mlip_gnn.evaluation.calibration import (calibration_section, format_calibration,
                                             write_calibration_plot)
from mlip_gnn.evaluation.prediction_errors import (FramePrediction, error_report, format_report,
                                        predict_frames)
from mlip_gnn.evaluation.plots import write_parity_plots
from mlip_gnn.inference import Predictor
from mlip_gnn.utils.files import atomic_write

__all__ = ["evaluate", "write_outputs", "METRICS_FILE"]

METRICS_FILE = "metrics.json"


def evaluate(models, data: Sequence[os.PathLike], key_map: KeyMap | None = None,
             device: str = "auto", estimator=None, use_ema: bool = True
             ) -> Tuple[Dict[str, object], list]:
    """Errors of ``models`` (one or a committee, whose mean is scored; or a
    :class:`~mlip_gnn.inference.Predictor`) on every frame of ``data``. Returns the report
    (see :func:`error_report`; with an uncertainty estimator — a committee's spread, or
    ``estimator`` by name or instance — also its ``calibration`` section) and the frame
    predictions. ``use_ema``: checkpoints' EMA weights (else the raw ones).

    Every file is read and checked before any model is run, so bad input fails early with
    a :class:`~mlip_gnn.data.DataError` naming file, frame and field.
    """
    configs = read_many(data, optional_moments(key_map or KeyMap()))
    committee = (models if isinstance(models, Predictor)
                 else Committee(models, device, use_ema=use_ema, estimator=estimator))
    frames = predict_frames(committee, configs)
    report = {**error_report(frames), "data": [str(p) for p in data]}
    add_calibration(report, frames, committee)
    return report, frames


def add_calibration(report: Dict[str, object], frames: Sequence[FramePrediction],
                    predictor: Predictor) -> None:
    """``report["calibration"]`` when the predictor has an uncertainty estimator."""
    if predictor.estimator is None:
        return
    section = calibration_section(frames, type(predictor.estimator).__name__)
    if section is not None:
        report["calibration"] = section


def write_outputs(report: Dict[str, object], frames: Sequence[FramePrediction],
                  out_dir: os.PathLike, model: str | None = None) -> List[Path]:
    """``metrics.json``, ``errors.txt`` (the table), ``parity_<quantity>.png`` for each
    quantity with labels and, with a calibration section, ``calibration.png`` in
    ``out_dir``; returns the paths written."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    if model is not None:
        report = {"model": model, **report}
    table = format_report(report)
    if "calibration" in report:
        table += "\n" + format_calibration(report["calibration"])
    written = []
    for name, text in ((METRICS_FILE, json.dumps(report, indent=2, ensure_ascii=False)),
                       ("errors.txt", table + "\n")):
        with atomic_write(out_dir / name, "w") as handle:
            handle.write(text)
        written.append(out_dir / name)
    written += list(write_parity_plots(frames, out_dir).values())
    if "calibration" in report:
        plot = write_calibration_plot(frames, out_dir, report["calibration"]["estimator"])
        written += [plot] if plot is not None else []
    return written
