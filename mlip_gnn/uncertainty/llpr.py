"""Last-layer prediction rigidity (LLPR): the uncertainty of a linear readout on fixed
features, for one trained model.

Bigi, Chong, Ceriotti, Grasselli, "A prediction rigidity formalism for low-cost
uncertainties in trained neural networks", Mach. Learn.: Sci. Technol. 5, 045018 (2024).
With f(A) = Σ_i f_i the last-layer features of structure A (:mod:`.readout`),

    Σ        = Σ_A f(A) f(A)ᵀ / N_A²            over the training set (float64)
    σ²_E(A*) = α_E² f(A*)ᵀ (Σ + ς² I)⁻¹ f(A*)    (eV²)

Σ is the Gauss-Newton matrix of the per-atom energy loss ((E - Ê)/N)², which is the
energy term of our training loss; σ_E is then the uncertainty of the total energy.
This is Bayesian linear regression on f: with noise variance α² and prior variance α²/ς²
on the weights, α² f*ᵀ(Σ + ς² I)⁻¹ f* is the posterior variance of w·f*.

Per atom (local prediction rigidity, LPR_i = 1 / σ²_i): σ²_i = α_E² f_iᵀ (Σ + ς² I)⁻¹ f_i.

Forces: the force of the readout w + δw is F + δw·(-∂f(A)/∂r); with δw ~ N(0, α² (Σ +
ς² I)⁻¹) (the last-layer weight ensemble in closed form) the variance of a force
component is α_F² gᵀ (Σ + ς² I)⁻¹ g with g = ∂f(A)/∂r_ic = Σ_k (u_k·g)² for any rows
u_k with Σ_k u_k u_kᵀ = (Σ + ς² I)⁻¹: one vector-Jacobian product per row, rather than
sampled weights, so it carries no sampling noise and needs no seed. With all d rows (d =
the feature dimension) it is exact. The fit orders the rows by the force variance they
carry on the validation set (principal axes of Σ_val (U J)(U J)ᵀ), so that the first few
carry nearly all of it: by default the estimator uses the fewest rows that carry 99 % of
the validation force variance (on the quickstart model 17 of 32 rows, RMS σ within 1 %
of the exact value on held-out MD frames; benchmarks/results/uncertainty_quickstart.md).

ς², α_E² and α_F² are fitted on the validation set: for each ς² of a log grid the α² that
minimise the Gaussian negative log-likelihood (NLL) have the closed form α² = ⟨r²/s⟩ (r
the residual, s the unscaled variance); the ς² with the lowest NLL of energies plus forces
wins. The forces get their own α² because the force errors of a model trained mainly on
forces are not on the energies' scale.
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path
from typing import Any, Callable, ClassVar, Dict, Sequence, Tuple

import numpy as np
import torch

from mlip_gnn.export import export_model, load_model
from mlip_gnn.inference import (CommitteeError, MemberOutput, ModelInputs, Uncertainty,
                                UncertaintyEstimator)
from mlip_gnn.uncertainty.store import (EstimatorFitError, StoredState, bind_fit,
                                      check_weights, fit_path)

__all__ = ["LLPR", "LLPRState", "LLPR_FILE", "ValidationSample", "llpr_variance",
           "calibrate_llpr", "gaussian_nll", "attach_llpr", "export_with_llpr",
           "attach_stored_llpr"]

LLPR_FILE = "llpr.pt"


def llpr_variance(features: torch.Tensor, covariance: torch.Tensor, regulariser: float,
                  alpha2: float) -> torch.Tensor:
    """α² fᵀ (Σ + ς² I)⁻¹ f for features [..., d] → [...] (float64)."""
    d = covariance.shape[0]
    reg = covariance + regulariser * torch.eye(d, dtype=torch.float64)
    f = features.to(torch.float64).reshape(-1, d)
    solved = torch.linalg.solve(reg, f.T)  # [d, m]
    return alpha2 * (f.T * solved).sum(0).reshape(features.shape[:-1])


def gaussian_nll(residual: np.ndarray, variance: np.ndarray) -> float:
    """Mean Gaussian negative log-likelihood ½ ⟨log 2πσ² + r²/σ²⟩ (per residual)."""
    variance = np.maximum(np.asarray(variance, dtype=np.float64), 1e-300)
    return float(np.mean(0.5 * (np.log(2 * math.pi * variance)
                                + np.asarray(residual) ** 2 / variance)))


@dataclasses.dataclass
class LLPRState(StoredState):
    """What a fit stores: Σ [d, d] (float64, per-atom-normalised), the readout weights w [d]
    it was fitted for, ς², α_E², α_F², the median validation atom's fᵀ(Σ + ς² I)⁻¹f (the
    OOD score's unit) and the number of training frames."""

    KIND: ClassVar[str] = "llpr"

    covariance: torch.Tensor
    weights: torch.Tensor
    regulariser: float
    alpha2_energy: float
    alpha2_forces: float
    ood_reference: float
    num_train: int
    calibration: Dict[str, float] = dataclasses.field(default_factory=dict)
    #: [d, d] rows u_k as :meth:`directions`, rotated to the principal axes of the
    #: validation force variance, most first; None: not ordered
    force_directions: torch.Tensor | None = None
    #: [d] cumulative fraction of the validation force variance the first k rows carry
    force_captured: torch.Tensor | None = None

    def summary(self) -> str:
        """The fitted numbers in one line: ς², α² and the validation NLL."""
        return (f"regulariser {self.regulariser:.3g}, alpha^2 energy {self.alpha2_energy:.3g}, "
                f"forces {self.alpha2_forces:.3g} (validation NLL energy "
                f"{self.calibration['nll_energy']:.3f}, forces "
                f"{self.calibration['nll_forces']:.3f})")

    def rows_for(self, captured: float) -> torch.Tensor:
        """The fewest rows of :attr:`force_directions` that carry ``captured`` of the
        validation force variance (all of :meth:`directions` when not ordered or
        ``captured`` >= 1)."""
        if self.force_directions is None or captured >= 1.0:
            return self.directions()
        count = int(torch.searchsorted(self.force_captured, torch.tensor(
            captured, dtype=self.force_captured.dtype))) + 1
        return self.force_directions[:min(count, self.force_directions.shape[0])]

    def directions(self) -> torch.Tensor:
        """U [d, d]: rows u_k with Σ_k u_k u_kᵀ = (Σ + ς² I)⁻¹, along Σ's eigenvectors."""
        eigenvalues, vectors = torch.linalg.eigh(self.covariance)
        return (vectors / torch.sqrt(eigenvalues.clamp(min=0) + self.regulariser)).T



@dataclasses.dataclass
class ValidationSample:
    """One validation structure: f(A) [d], the per-atom f_i [n, d], the energy residual
    (eV; None without a label), ∂f(A)/∂r as [d, 3n] and the force residuals [3n] (eV/Å;
    None without forces)."""

    features: torch.Tensor
    atom_features: torch.Tensor
    energy_residual: float | None
    force_jacobian: torch.Tensor | None
    force_residual: np.ndarray | None


def _unscaled(eigenvalues, projections, regulariser) -> np.ndarray:
    """pᵀ diag(1/(λ+ς²)) p along the eigenbasis; projections [d, m] → [m]."""
    return (projections ** 2 / (eigenvalues[:, None] + regulariser)).sum(0).numpy()


def _scale_fit(residual: np.ndarray, unscaled: np.ndarray) -> tuple:
    """(α², NLL) of residuals with variances α² s; entries with s = 0 (features that are
    zero: an isolated atom, fixed by its reference energy) carry no information."""
    keep = unscaled > 0
    alpha2 = float(np.mean(residual[keep] ** 2 / unscaled[keep]))
    return alpha2, gaussian_nll(residual[keep], alpha2 * unscaled[keep])


def calibrate_llpr(covariance: torch.Tensor, samples: Sequence[ValidationSample],
                   regularisers: Sequence[float] | None = None) -> Dict[str, float]:
    """ς², α_E², α_F² (and the NLLs) from validation samples, as described above. The
    default grid of ς² runs from mean(eigenvalues of Σ) down by 10^-0.5 steps to 10^-10 of
    it."""
    eigenvalues, vectors = torch.linalg.eigh(covariance)
    eigenvalues = eigenvalues.clamp(min=0)
    if regularisers is None:
        top = float(eigenvalues.mean()) or 1.0
        regularisers = [top * 10.0 ** (-k / 2) for k in range(21)]
    with_energy = [s for s in samples if s.energy_residual is not None]
    with_forces = [s for s in samples if s.force_residual is not None]
    if not with_energy:
        raise EstimatorFitError("LLPR calibration needs validation frames with energies")
    p_energy = vectors.T @ torch.stack([s.features for s in with_energy]).T  # [d, m]
    r_energy = np.array([s.energy_residual for s in with_energy])
    p_forces = (vectors.T @ torch.cat([s.force_jacobian for s in with_forces], 1)
                if with_forces else None)  # [d, 3 Σn]
    r_forces = (np.concatenate([s.force_residual for s in with_forces])
                if with_forces else None)
    best: Dict[str, float] = {}
    for reg in regularisers:
        s_e = _unscaled(eigenvalues, p_energy, reg)
        a_e, nll_e = _scale_fit(r_energy, s_e)
        result = {"regulariser": reg, "alpha2_energy": a_e, "nll_energy": nll_e,
                  "alpha2_forces": a_e, "nll_forces": 0.0}
        if p_forces is not None:
            a_f, nll_f = _scale_fit(r_forces, _unscaled(eigenvalues, p_forces, reg))
            result.update(alpha2_forces=a_f, nll_forces=nll_f)
        if not best or (result["nll_energy"] + result["nll_forces"]
                        < best["nll_energy"] + best["nll_forces"]):
            best = result
    return best


def attach_llpr(deployed: torch.nn.Module, state: LLPRState, captured: float = 0.99
                ) -> None:
    """Give an eager :class:`~mlip_gnn.export.DeployedPotential` the fit ``state``
    (keeping the force rows that carry ``captured`` of the validation force variance):
    its ``llpr`` method, and an export of it, then compute the uncertainty."""
    directions = state.directions()
    deployed.attach_llpr(directions.T @ directions, state.rows_for(captured),
                         state.alpha2_energy, state.alpha2_forces, state.ood_reference)


def attach_stored_llpr(source: object, deployed: torch.nn.Module,
                       captured: float = 0.99) -> bool:
    """Attach the LLPR fit stored beside the model ``source`` (run directory or
    checkpoint) to ``deployed``, after checking it was made for these weights; False when
    there is none. For ``export_model(..., attach=...)``."""
    path = fit_path(source, LLPR_FILE)
    if not path.is_file():
        return False
    state = LLPRState.load(path)
    check_weights(state.weights, deployed, path)
    attach_llpr(deployed, state, captured)
    return True


def export_with_llpr(source: object, output: object, warn: Callable[[str], None],
                     format: str = "torchscript", **options: Any) -> Tuple[Path, dict]:
    """:func:`mlip_gnn.export.export_model` of ``source`` (run directory or checkpoint)
    that puts the LLPR fit stored beside it into a TorchScript file when it was made for
    the exported weights; otherwise the export goes on without it and ``warn`` gets the
    reason. ``options``: export_model's ``device``, ``dtype``, ``use_ema``. Returns the
    path written and its metadata."""
    def attach(deployed: torch.nn.Module) -> None:
        try:
            attach_stored_llpr(source, deployed)
        except EstimatorFitError as exc:
            warn(f"LLPR fit not included: {exc}")

    path = export_model(source, output, format=format,
                        attach=attach if format == "torchscript" else None, **options)
    return path, load_model(path)[1]


class LLPR(UncertaintyEstimator):
    """LLPR uncertainty of one model: a checkpoint or run directory, or a TorchScript
    export that carries its fit (``mlip-gnn export`` puts it in).

    ``state``: a fit; by default the ``llpr.pt`` beside the model source (made by
    ``mlip-gnn uncertainty fit RUN_DIR``). Reports ``energy_std`` (eV), ``forces_std``
    [n] (eV/Å), ``ood_score`` [n] = sqrt(f_iᵀ(Σ + ς² I)⁻¹f_i / its median over validation
    atoms) (1: a typical validation atom), and the extra result ``energies_std`` [n]
    (eV, the local σ_i of each atom's energy).

    ``captured``: the share of the validation force variance the force uncertainty keeps
    (see the module docstring); 1 computes it exactly. Cost per structure: one forward
    pass and one backward pass per row used beside the prediction itself.
    """

    def __init__(self, state: LLPRState | None = None, captured: float = 0.99):
        if not 0.0 < captured <= 1.0:
            raise EstimatorFitError(f"captured: got {captured}; must be in (0, 1]")
        self.state = state
        self.captured = float(captured)
        self._module: torch.nn.Module | None = None

    def check(self, num_members: int) -> None:
        """A CommitteeError unless there is exactly one member."""
        if num_members != 1:
            raise CommitteeError(f"LLPR works on one model; got {num_members} (use the "
                                 "committee spread for several)")

    def bind(self, members) -> None:
        """Attach the fit to the member (an export must carry its own)."""
        member = members[0]
        module = member.module
        if member.is_scripted:  # an export: its fit travels inside it
            if not getattr(module, "has_llpr", False):
                raise EstimatorFitError(
                    f"{member.name}: this export carries no LLPR fit; fit one with "
                    "`mlip-gnn uncertainty fit RUN_DIR`, then export the run again")
        else:
            self.state, _ = bind_fit(self.state, LLPRState, LLPR_FILE, member)
            attach_llpr(module, self.state, self.captured)
        self._rows = int(module.llpr_rows.shape[0])
        self._module = module

    @property
    def force_rows(self) -> int:
        """Backward passes per structure for the force uncertainty (after :meth:`bind`)."""
        return self._rows

    def estimate(self, members: Sequence[MemberOutput]) -> Uncertainty:
        """Not available: LLPR needs the inputs (:meth:`estimate_from`)."""
        raise EstimatorFitError("LLPR needs the model's inputs: predict through "
                                "mlip_gnn.inference.Predictor (estimate_from)")

    def estimate_from(self, inputs: ModelInputs,
                      members: Sequence[MemberOutput]) -> Uncertainty:
        """σ_E (eV), σ_F [n] (eV/Å) and the OOD score [n] of one structure."""
        if self._module is None:
            raise EstimatorFitError("LLPR: bind() was not called with the model")
        out = {k: v.detach().cpu().numpy() for k, v in self._module.llpr(*inputs[:5]).items()}
        return Uncertainty(energy=float(out["energy_std"]), forces=out["forces_std"],
                           extra={"energies_std": out["energies_std"]},
                           ood=out["ood_score"])

