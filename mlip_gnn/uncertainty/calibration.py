"""How well predicted uncertainties match actual errors (numpy; no model needed).

- Spearman rank correlation between σ and |error|: does the estimator rank errors?
- Gaussian negative log-likelihood of the residuals under N(0, σ²).
- Miscalibration area (Tran et al., "Methods for comparing uncertainty quantifications for
  material property predictions", Mach. Learn.: Sci. Technol. 1, 025006 (2020)): for
  expected proportions p ∈ (0, 1), the observed fraction of residuals inside the central
  interval ±σ Φ⁻¹((1 + p)/2) of N(0, σ²); the area between that curve and the diagonal.
  0 for calibrated σ; σ off by a factor 2 either way gives about 0.2.
"""

from __future__ import annotations

from statistics import NormalDist
from typing import Dict, Tuple

import numpy as np

from mlip_gnn.uncertainty.llpr import gaussian_nll

__all__ = ["rank", "spearman", "calibration_curve", "miscalibration_area",
           "calibration_report", "gaussian_nll"]

_PROPORTIONS = np.linspace(0.01, 0.99, 99)


def rank(values: np.ndarray) -> np.ndarray:
    """Ranks 1..m of ``values`` [m], ties sharing their mean rank."""
    values = np.asarray(values, dtype=np.float64)
    order = np.argsort(values, kind="mergesort")
    ranks = np.empty(len(values), dtype=np.float64)
    ranks[order] = np.arange(1, len(values) + 1)
    _, inverse, counts = np.unique(values, return_inverse=True, return_counts=True)
    sums = np.bincount(inverse, weights=ranks)
    return sums[inverse] / counts[inverse]


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman rank correlation of ``a`` and ``b`` [m] (NaN when either is constant)."""
    ra, rb = rank(a) - (len(a) + 1) / 2, rank(b) - (len(b) + 1) / 2
    denom = np.sqrt(np.sum(ra ** 2) * np.sum(rb ** 2))
    return float(np.sum(ra * rb) / denom) if denom > 0 else float("nan")


def calibration_curve(residual: np.ndarray, sigma: np.ndarray
                      ) -> Tuple[np.ndarray, np.ndarray]:
    """(expected proportions [99], observed proportions [99]) of ``residual`` [m] inside
    the central intervals of N(0, ``sigma``²)."""
    z = np.abs(np.asarray(residual)) / np.maximum(np.asarray(sigma), 1e-300)
    bounds = np.array([NormalDist().inv_cdf(0.5 + p / 2) for p in _PROPORTIONS])
    observed = (z[None, :] <= bounds[:, None]).mean(axis=1)
    return _PROPORTIONS, observed


def miscalibration_area(residual: np.ndarray, sigma: np.ndarray) -> float:
    """Mean |observed - expected| proportion over p ∈ [0.01, 0.99] (the area, to the
    sampling of p)."""
    expected, observed = calibration_curve(residual, sigma)
    return float(np.mean(np.abs(observed - expected)))


def calibration_report(residual: np.ndarray, sigma: np.ndarray) -> Dict[str, float]:
    """Spearman(σ, |r|), NLL, miscalibration area, RMS residual and RMS σ of residuals
    [m] with predicted standard deviations σ [m] (same unit).

    Entries with σ = 0 (an isolated atom has no features, so LLPR gives it none: its
    energy is the reference energy by construction) are counted in ``zero_sigma`` and left
    out of the NLL and the area, which a zero variance would make infinite; the Spearman
    correlation and the RMS figures use every entry."""
    residual, sigma = np.asarray(residual, np.float64), np.asarray(sigma, np.float64)
    positive = sigma > 0
    return {"count": int(residual.size), "zero_sigma": int((~positive).sum()),
            "spearman": spearman(sigma, np.abs(residual)),
            "nll": gaussian_nll(residual[positive], sigma[positive] ** 2),
            "miscalibration_area": miscalibration_area(residual[positive], sigma[positive]),
            "rmse": float(np.sqrt(np.mean(residual ** 2))),
            "rms_sigma": float(np.sqrt(np.mean(sigma ** 2)))}
