"""Parity plots (predicted vs reference) as PNG, drawn with matplotlib's Agg canvas.

The figures are made without ``pyplot``, so no global backend is selected or changed.
"""

from __future__ import annotations

from pathlib import Path
from typing import BinaryIO, Dict, Sequence, Tuple

import numpy as np

from mlip_gnn.evaluation.errors import FramePrediction
from mlip_gnn.utils.files import atomic_write

__all__ = ["parity_data", "write_parity_plots"]

_LABELS = {"energy": ("energy per atom", "eV/atom"), "forces": ("force components", "eV/Å"),
           "stress": ("stress components", "eV/Å³")}


def parity_data(frames: Sequence[FramePrediction]) -> Dict[str, Tuple[np.ndarray, np.ndarray]]:
    """(reference, predicted) arrays of every labelled quantity."""
    pairs: Dict[str, Tuple[list, list]] = {"energy": ([], []), "forces": ([], []),
                                           "stress": ([], [])}
    for f in frames:
        n = len(f.atomic_numbers)
        if f.energy_ref is not None:
            pairs["energy"][0].append(np.array([f.energy_ref / n]))
            pairs["energy"][1].append(np.array([f.energy / n]))
        if f.forces_ref is not None:
            pairs["forces"][0].append(f.forces_ref.reshape(-1))
            pairs["forces"][1].append(f.forces.reshape(-1))
        if f.stress_ref is not None and f.stress is not None:
            pairs["stress"][0].append(f.stress_ref.reshape(-1))
            pairs["stress"][1].append(f.stress.reshape(-1))
    return {name: (np.concatenate(ref), np.concatenate(pred))
            for name, (ref, pred) in pairs.items() if ref}


def _plot(name: str, ref: np.ndarray, pred: np.ndarray, target: BinaryIO) -> None:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    title, unit = _LABELS[name]
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
