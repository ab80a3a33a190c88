"""Parity plots (predicted vs reference) as PNG, drawn with matplotlib's Agg canvas.

The figures are made without ``pyplot``, so no global backend is selected or changed.
"""

from __future__ import annotations

from pathlib import Path
from typing import BinaryIO, Dict, Sequence, Tuple

import numpy as np

from mlip_gnn.evaluation.prediction_errors import FramePrediction, frame_graphs
from mlip_gnn.quantities import QUANTITIES, labelled_values, quantity
from mlip_gnn.utils.files import atomic_write

__all__ = ["parity_data", "write_parity_plots"]

def parity_data(frames: Sequence[FramePrediction]) -> Dict[str, Tuple[np.ndarray, np.ndarray]]:
    """(reference, predicted) arrays of every labelled quantity, in its ``error_unit``."""
    pairs: Dict[str, Tuple[list, list]] = {q.name: ([], []) for q in QUANTITIES}
    for frame in frames:
        pred, ref = frame_graphs(frame)
        for q in QUANTITIES:
            values = labelled_values(q, pred, ref)
            if values is not None and values[0].numel():
                pairs[q.name][0].append(values[1].numpy())
                pairs[q.name][1].append(values[0].numpy())
    return {name: (np.concatenate(ref), np.concatenate(pred))
            for name, (ref, pred) in pairs.items() if ref}


def _plot(name: str, ref: np.ndarray, pred: np.ndarray, target: BinaryIO) -> None:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    title, unit = quantity(name).title, quantity(name).error_unit
    fig = Figure(figsize=(4.5, 4.5), dpi=120)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    lo, hi = float(min(ref.min(), pred.min())), float(max(ref.max(), pred.max()))
    pad = 0.05 * (hi - lo or 1.0)
    ax.plot([lo - pad, hi + pad], [lo - pad, hi + pad], color="0.6", lw=1)
    ax.scatter(ref, pred, s=6, alpha=0.6)
    rmse = float(np.sqrt(np.mean((pred - ref) ** 2)))
    ax.set(xlabel=f"reference ({unit})", ylabel=f"predicted ({unit})",
           title=f"{title}: RMSE {rmse:.3g} {unit}", aspect="equal",
           xlim=(lo - pad, hi + pad), ylim=(lo - pad, hi + pad))
    fig.tight_layout()
    fig.savefig(target, format="png")


def write_parity_plots(frames: Sequence[FramePrediction], out_dir: Path) -> Dict[str, Path]:
    """``parity_<quantity>.png`` in ``out_dir`` for every labelled quantity."""
    written = {}
    for name, (ref, pred) in parity_data(frames).items():
        path = Path(out_dir) / f"parity_{name}.png"
        with atomic_write(path, "wb") as handle:
            _plot(name, ref, pred, handle)
        written[name] = path
    return written
