"""Errors of a model on labelled structures: MAE / RMSE overall, per element, per config type.

The figures come from :mod:`mlip_gnn.quantities.metrics`, the implementation the training
metrics use: energy error per atom, (E_pred - E_ref) / n, in meV/atom; forces per Cartesian
component in meV/Å; stress per tensor component (9 per frame) in meV/Å³. Only labelled
entries count; a frame without a label of a quantity is predicted but left out of that
quantity's figures.
"""

from __future__ import annotations

import dataclasses
from typing import Dict, List, Sequence, Tuple

import numpy as np
import torch

from mlip_gnn.data import keys
from mlip_gnn.data.configuration import Configuration
from mlip_gnn.quantities import FORCES, QUANTITIES, ErrorSums, Quantity, metric_units

__all__ = ["FramePrediction", "predict_frames", "frame_graphs", "error_report",
           "format_report", "UNITS"]

UNITS = metric_units()


@dataclasses.dataclass
class FramePrediction:
    """Reference and predicted labels of one frame (eV, eV/Å, eV/Å³; None: no label) and,
    with an uncertainty estimator, the energy uncertainty (eV), per-atom force uncertainty
    [n] (eV/Å) and per-atom OOD score [n]."""

    config_type: str
    atomic_numbers: np.ndarray  # [n]
    energy: float
    energy_ref: float | None
    forces: np.ndarray  # [n, 3]
    forces_ref: np.ndarray | None
    stress: np.ndarray | None  # [3, 3]
    stress_ref: np.ndarray | None
    energy_std: float | None = None
    forces_std: np.ndarray | None = None
    ood_score: np.ndarray | None = None


def predict_frames(committee, configs: Sequence[Configuration]) -> List[FramePrediction]:
    """Evaluate ``committee`` (a :class:`~mlip_gnn.inference.Predictor`, e.g. a
    :class:`~mlip_gnn.calculators.Committee`) on every frame, labelled or not."""
    frames = []
    for conf in configs:
        pred = committee.predict(conf)
        u = pred.uncertainty
        frames.append(FramePrediction(conf.config_type, conf.atomic_numbers, pred.energy,
                                      conf.energy, pred.forces, conf.forces, pred.stress,
                                      conf.stress, None if u is None else u.energy,
                                      None if u is None else u.forces,
                                      None if u is None else u.ood))
    return frames


def _rows(q: Quantity, values: np.ndarray | None, num_atoms: int) -> torch.Tensor:
    """A frame's values of ``q`` shaped as in a one-frame graph (zeros when absent)."""
    shape = ((num_atoms, q.components) if q.per_atom
             else (1,) if q.components == 1 else (1, q.components))
    if values is None:
        return torch.zeros(shape, dtype=torch.float64)
    return torch.as_tensor(np.asarray(values, dtype=np.float64)).reshape(shape)


def frame_graphs(frame: FramePrediction) -> Tuple[Dict[str, torch.Tensor],
                                                   Dict[str, torch.Tensor]]:
    """(prediction, reference) of one frame as one-frame graphs with label masks, the
    form :class:`~mlip_gnn.quantities.ErrorSums` and the training metrics read."""
    n = len(frame.atomic_numbers)
    ref = {keys.NUM_ATOMS: torch.tensor([n]), keys.BATCH: torch.zeros(n, dtype=torch.long)}
    pred = {}
    for q in QUANTITIES:
        value, label = getattr(frame, q.name), getattr(frame, f"{q.name}_ref")
        if value is not None:
            pred[q.key] = _rows(q, value, n)
        ref[q.key] = _rows(q, label, n)
        ref[q.mask_key] = torch.tensor([float(label is not None)], dtype=torch.float64)
    return pred, ref


def _stats(frames: Sequence[FramePrediction], z: int | None = None) -> Dict[str, float]:
    """MAE / RMSE / counts over ``frames``; with ``z``, per-atom quantities of that element."""
    sums = ErrorSums()
    for frame in frames:
        pred, ref = frame_graphs(frame)
        atom_mask = None if z is None else torch.as_tensor(frame.atomic_numbers == z)
        sums.update(pred, ref, atom_mask)
    return sums.compute(counts=True)


def _per_element(frames: Sequence[FramePrediction]) -> Dict[str, Dict[str, float]]:
    from ase.data import chemical_symbols

    labelled = [f for f in frames if f.forces_ref is not None]
    elements = sorted({int(z) for f in labelled for z in f.atomic_numbers})
    return {chemical_symbols[z]: _stats(labelled, z) for z in elements}


def _labelled(frames: Sequence[FramePrediction]) -> Dict[str, int]:
    """Number of frames carrying each quantity's label."""
    return {q.name: sum(getattr(f, f"{q.name}_ref") is not None for f in frames)
            for q in QUANTITIES}


def error_report(frames: Sequence[FramePrediction]) -> Dict[str, object]:
    """MAE / RMSE (and entry counts) overall, per element (forces) and per config type,
    with the number of frames carrying each label (``labelled_frames``, overall and per
    config type)."""
    types: Dict[str, List[FramePrediction]] = {}
    for f in frames:
        types.setdefault(f.config_type, []).append(f)
    return {
        "units": metric_units(),
        "num_frames": len(frames),
        "num_atoms": int(sum(len(f.atomic_numbers) for f in frames)),
        "labelled_frames": _labelled(frames),
        "overall": _stats(frames),
        "per_element": _per_element(frames),
        "per_config_type": {name: _stats(group) for name, group in
                            sorted(types.items())},
        "labelled_frames_per_config_type": {name: _labelled(group) for name, group in
                                            sorted(types.items())},
    }


def _row(name: str, stats: Dict[str, float], quantities: Sequence[Quantity]) -> str:
    cells = []
    for q in quantities:
        if f"{q.name}_mae" in stats:
            cells.append(f"{stats[f'{q.name}_mae']:10.3f} {stats[f'{q.name}_rmse']:10.3f}")
        else:
            cells.append(f"{'no label':>21}")
    return f"{name:<20.20}" + "  ".join(cells)


def _missing_line(labelled: Dict[str, int], num_frames: int) -> str:
    """Which labels some frames lack, e.g. ``stress missing in 1 of 3 frames``."""
    missing = [f"{name} missing in {num_frames - count} of {num_frames} frames"
               for name, count in labelled.items() if count < num_frames]
    return "labels: " + ("; ".join(missing) if missing else "all frames carry every label")


def format_report(report: Dict[str, object]) -> str:
    """The report as a plain-text table (MAE and RMSE per quantity). Quantities no frame
    is labelled with get no column; the labels frames lack are listed."""
    labelled = report["labelled_frames"]
    shown = [q for q in QUANTITIES if labelled[q.name]]
    lines = [f"{report['num_frames']} frames, {report['num_atoms']} atoms",
             _missing_line(labelled, report["num_frames"])]
    if not shown:
        lines.append("no frame carries a label: no errors to report")
        return "\n".join(lines)
    header = f"{'':<20}" + "  ".join(f"{q.symbol + ' MAE':>10} {q.symbol + ' RMSE':>10}"
                                     for q in shown)
    units = f"{'':<20}" + "  ".join(f"{q.metric_unit:>21}" for q in shown)
    lines += [header, units, _row("all", report["overall"], shown)]
    per_type = report["labelled_frames_per_config_type"]
    for name, stats in report["per_config_type"].items():
        if any(per_type[name].values()):
            lines.append(_row(f"  {name}", stats, shown))
        else:
            lines.append(f"{'  ' + name:<20.20}no labels")
    if report["per_element"]:
        lines.append("forces per element")
        lines += [f"{'  ' + symbol:<20}" + _row("", stats, (FORCES,))[20:]
                  for symbol, stats in report["per_element"].items()]
    return "\n".join(lines)
