"""Errors of a trained model on labelled data: tables, JSON and parity plots.

>>> report, frames = evaluate(["cu.pt"], ["test.xyz"])  # doctest: +SKIP
>>> print(format_report(report))  # doctest: +SKIP
"""

from mlip_gnn.evaluation.prediction_errors import (FramePrediction, error_report, format_report,
                                        predict_frames)
from mlip_gnn.evaluation.evaluate import METRICS_FILE, evaluate, write_outputs
from mlip_gnn.evaluation.plots import parity_data, write_parity_plots

__all__ = ["FramePrediction", "error_report", "format_report", "predict_frames", "evaluate",
           "write_outputs", "METRICS_FILE", "parity_data", "write_parity_plots"]
