"""Errors of a model on labelled structures: MAE / RMSE overall, per element, per config type.

Definitions (the same as the training metrics, :mod:`mlip_gnn.train.metrics`): energy error
per atom, (E_pred - E_ref) / n, in meV/atom; forces per Cartesian component in meV/Å;
stress per tensor component (9 per frame) in meV/Å³. Only labelled entries count.
"""

from __future__ import annotations

import dataclasses
from typing import Dict, List, Optional, Sequence

import numpy as np

from mlip_gnn.data.configuration import Configuration

__all__ = ["FramePrediction", "predict_frames", "error_report", "format_report"]

_MEV = 1000.0
UNITS = {"energy": "meV/atom", "forces": "meV/Å", "stress": "meV/Å³"}


@dataclasses.dataclass
class FramePrediction:
    """Reference and predicted labels of one frame (eV, eV/Å, eV/Å³; None: no label)."""

    config_type: str
    atomic_numbers: np.ndarray  # [n]
    energy: float
    energy_ref: Optional[float]
    forces: np.ndarray  # [n, 3]
    forces_ref: Optional[np.ndarray]
    stress: Optional[np.ndarray]  # [3, 3]
    stress_ref: Optional[np.ndarray]


def predict_frames(committee, configs: Sequence[Configuration]) -> List[FramePrediction]:
    """Evaluate ``committee`` (a :class:`~mlip_gnn.calculators.Committee`) on every frame."""
    frames = []
    for conf in configs:
        pred = committee.predict(conf)
        frames.append(FramePrediction(conf.config_type, conf.atomic_numbers, pred["energy"],
                                      conf.energy, pred["forces"], conf.forces,
                                      pred.get("stress"), conf.stress))
    return frames


def _residuals(frames: Sequence[FramePrediction]) -> Dict[str, np.ndarray]:
    energy = [(f.energy - f.energy_ref) / len(f.atomic_numbers) for f in frames
              if f.energy_ref is not None]
    forces = [(f.forces - f.forces_ref).reshape(-1) for f in frames if f.forces_ref is not None]
    stress = [(f.stress - f.stress_ref).reshape(-1) for f in frames
              if f.stress_ref is not None and f.stress is not None]
    return {"energy": np.asarray(energy, dtype=np.float64),
            "forces": np.concatenate(forces) if forces else np.zeros(0),
            "stress": np.concatenate(stress) if stress else np.zeros(0)}


def _stats(residuals: Dict[str, np.ndarray]) -> Dict[str, float]:
    out: Dict[str, float] = {}
    for name, err in residuals.items():
        if err.size:
            out[f"{name}_mae"] = _MEV * float(np.mean(np.abs(err)))
            out[f"{name}_rmse"] = _MEV * float(np.sqrt(np.mean(err ** 2)))
            out[f"{name}_count"] = int(err.size)
    return out


def _per_element(frames: Sequence[FramePrediction]) -> Dict[str, Dict[str, float]]:
    from ase.data import chemical_symbols

    errors: Dict[int, List[np.ndarray]] = {}
    for f in frames:
        if f.forces_ref is None:
            continue
        diff = f.forces - f.forces_ref
        for z in np.unique(f.atomic_numbers):
            errors.setdefault(int(z), []).append(diff[f.atomic_numbers == z].reshape(-1))
    return {chemical_symbols[z]: _stats({"forces": np.concatenate(errors[z])})
            for z in sorted(errors)}


def error_report(frames: Sequence[FramePrediction]) -> Dict[str, object]:
    """MAE / RMSE (and entry counts) overall, per element (forces) and per config type."""
    types: Dict[str, List[FramePrediction]] = {}
    for f in frames:
        types.setdefault(f.config_type, []).append(f)
    return {
        "units": UNITS,
        "num_frames": len(frames),
        "num_atoms": int(sum(len(f.atomic_numbers) for f in frames)),
        "overall": _stats(_residuals(frames)),
        "per_element": _per_element(frames),
        "per_config_type": {name: _stats(_residuals(group)) for name, group in
                            sorted(types.items())},
    }


def _row(name: str, stats: Dict[str, float], quantities=("energy", "forces", "stress")) -> str:
    cells = []
    for q in quantities:
        if f"{q}_mae" in stats:
            cells.append(f"{stats[f'{q}_mae']:10.3f} {stats[f'{q}_rmse']:10.3f}")
        else:
            cells.append(f"{'-':>10} {'-':>10}")
    return f"{name:<20.20}" + "  ".join(cells)


def format_report(report: Dict[str, object]) -> str:
    """The report as a plain-text table (MAE and RMSE per quantity)."""
    header = (f"{'':<20}{'E MAE':>10} {'E RMSE':>10}  {'F MAE':>10} {'F RMSE':>10}  "
              f"{'S MAE':>10} {'S RMSE':>10}")
    units = f"{'':<20}{'meV/atom':>21}  {'meV/Å':>21}  {'meV/Å³':>21}"
    lines = [f"{report['num_frames']} frames, {report['num_atoms']} atoms", header, units,
             _row("all", report["overall"])]
    lines += [_row(f"  {name}", stats) for name, stats in report["per_config_type"].items()]
    lines.append("forces per element")
    lines += [f"{'  ' + symbol:<20}{'':>21}  " + _row("", stats, ("forces",))[20:]
              for symbol, stats in report["per_element"].items()]
    return "\n".join(lines)
