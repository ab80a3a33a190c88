"""The calibration section of ``evaluate``: predicted uncertainties against actual errors.

Energies per frame, in eV/atom (residual (E - E_ref)/n against σ_E/n); forces per
Cartesian component, in eV/Å, with σ_ic = σ_i/√3 (an estimator's per-atom force
uncertainty is the norm of three per-component standard deviations). The Spearman
correlation of forces is per atom: σ_i against |F_i - F_ref,i|; that of the OOD score
likewise. Metrics: :mod:`mlip_gnn.uncertainty.calibration`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Dict, Sequence

import numpy as np

from mlip_gnn.evaluation.prediction_errors import FramePrediction
from mlip_gnn.uncertainty.calibration import calibration_curve, calibration_report, spearman
from mlip_gnn.utils.files import atomic_write

__all__ = ["calibration_section", "format_calibration", "write_calibration_plot",
           "CALIBRATION_PLOT"]

CALIBRATION_PLOT = "calibration.png"


def _arrays(frames: Sequence[FramePrediction]) -> Dict[str, np.ndarray]:
    """Residuals and σ of every frame that has both (see the module docstring)."""
    energy = [((f.energy - f.energy_ref) / len(f.atomic_numbers),
               f.energy_std / len(f.atomic_numbers)) for f in frames
              if f.energy_ref is not None and f.energy_std is not None]
    with_forces = [f for f in frames if f.forces_ref is not None and f.forces_std is not None]
    out: Dict[str, np.ndarray] = {}
    if energy:
        out["energy_residual"], out["energy_sigma"] = map(np.array, zip(*energy))
    if with_forces:
        diff = np.concatenate([f.forces - f.forces_ref for f in with_forces])  # [N, 3]
        sigma = np.concatenate([f.forces_std for f in with_forces])  # [N]
        out["forces_residual"] = diff.reshape(-1)
        out["forces_sigma"] = np.repeat(sigma / np.sqrt(3.0), 3)
        out["atom_error"] = np.linalg.norm(diff, axis=1)
        out["atom_sigma"] = sigma
        if all(f.ood_score is not None for f in with_forces):
            out["atom_ood"] = np.concatenate([f.ood_score for f in with_forces])
    return out


def calibration_section(frames: Sequence[FramePrediction], estimator: str
                        ) -> Dict[str, object] | None:
    """Spearman, NLL, miscalibration area (and RMSE, RMS σ) of energies and forces; None
    when the frames carry no uncertainty."""
    arrays = _arrays(frames)
    if not arrays:
        return None
    section: Dict[str, object] = {"estimator": estimator,
                                  "units": {"energy": "eV/atom", "forces": "eV/Å"}}
    if "energy_residual" in arrays:
        section["energy"] = calibration_report(arrays["energy_residual"],
                                               arrays["energy_sigma"])
    if "forces_residual" in arrays:
        forces = calibration_report(arrays["forces_residual"], arrays["forces_sigma"])
        forces["spearman"] = spearman(arrays["atom_sigma"], arrays["atom_error"])
        if "atom_ood" in arrays:
            forces["spearman_ood"] = spearman(arrays["atom_ood"], arrays["atom_error"])
        section["forces"] = forces
    return section


def format_calibration(section: Dict[str, object]) -> str:
    """The section as a small text table."""
    lines = [f"calibration ({section['estimator']}): Spearman(sigma, |error|), NLL, "
             "miscalibration area, RMSE, RMS sigma"]
    for name, unit in (("energy", "eV/atom"), ("forces", "eV/Å")):
        if name in section:
            s = section[name]
            ood = f"  Spearman(OOD) {s['spearman_ood']:.3f}" if "spearman_ood" in s else ""
            lines.append(f"  {name:<8} {s['spearman']:7.3f} {s['nll']:9.3f} "
                         f"{s['miscalibration_area']:7.3f} {s['rmse']:10.4g} "
                         f"{s['rms_sigma']:10.4g} {unit}{ood}")
    return "\n".join(lines)


def write_calibration_plot(frames: Sequence[FramePrediction], out_dir: Path,
                           estimator: str) -> Path | None:
    """``calibration.png``: observed against expected proportion inside the Gaussian
    intervals, and per-atom σ against |force error| (log-log); None without uncertainty."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    arrays = _arrays(frames)
    if not arrays:
        return None
    fig = Figure(figsize=(9, 4.2), dpi=120)
    FigureCanvasAgg(fig)
    curve, scatter = fig.subplots(1, 2)
    curve.plot([0, 1], [0, 1], color="0.6", lw=1)
    for name in ("energy", "forces"):
        if f"{name}_residual" in arrays:
            expected, observed = calibration_curve(arrays[f"{name}_residual"],
                                                   arrays[f"{name}_sigma"])
            curve.plot(expected, observed, label=name)
    curve.set(xlabel="expected proportion in interval", ylabel="observed proportion",
              title=f"calibration ({estimator})", xlim=(0, 1), ylim=(0, 1), aspect="equal")
    curve.legend()
    if "atom_sigma" in arrays:
        sigma, error = arrays["atom_sigma"], arrays["atom_error"]
        scatter.scatter(sigma, error, s=4, alpha=0.5)
        positive = np.concatenate([sigma[sigma > 0], error[error > 0]])
        if positive.size:
            lo, hi = positive.min(), positive.max()
            scatter.plot([lo, hi], [lo, hi], color="0.6", lw=1)
            scatter.set(xscale="log", yscale="log")
        scatter.set(xlabel="predicted force uncertainty per atom (eV/Å)",
                    ylabel="|force error| per atom (eV/Å)",
                    title=f"Spearman {spearman(sigma, error):.3f}")
    fig.tight_layout()
    path = Path(out_dir) / CALIBRATION_PLOT
    with atomic_write(path, "wb") as handle:
        fig.savefig(handle, format="png")
    return path
