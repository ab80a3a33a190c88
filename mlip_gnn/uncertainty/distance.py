"""Distance in descriptor space: how far an atom's environment is from the training set's.

Each atom's last-layer features f_i (:mod:`.readout`; the invariant features the energy
is read from) are standardised with the training atoms' mean and standard deviation; its
distance d_i is the mean Euclidean distance to its k nearest training environments (a
random subset of at most ``max_reference`` training atoms is kept). A k-nearest-neighbour
distance needs no density model to fit and has no failure mode in high dimension with few
atoms, which a Gaussian mixture has.

Calibrated on the validation set to an error scale by a power law fitted by the Gaussian
negative log-likelihood (closed form in c for each p of a grid):

    σ_F,ic = c_F d_i^p    per force component (eV/Å);  the atom's σ_F = √3 c_F d_i^p
    σ_E²   = c_E² Σ_i d_i^(2p)                           (eV², atoms independent)

OOD score: d_i / median over validation atoms of d (1: a typical validation atom).
"""

from __future__ import annotations

import dataclasses
import math
from typing import ClassVar, Dict, Sequence

import numpy as np
import torch

from mlip_gnn.inference import CommitteeError, MemberOutput, Uncertainty, UncertaintyEstimator
from mlip_gnn.uncertainty.llpr import gaussian_nll
from mlip_gnn.uncertainty.readout import last_layer_features
from mlip_gnn.uncertainty.store import EstimatorFitError, StoredState, bind_fit

__all__ = ["DescriptorDistance", "DistanceState", "DISTANCE_FILE", "knn_distance",
           "calibrate_power_law"]

DISTANCE_FILE = "distance.pt"
_POWERS = (0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0)


def knn_distance(queries: torch.Tensor, reference: torch.Tensor, k: int,
                 chunk: int = 1024) -> torch.Tensor:
    """Mean distance of each query [m, d] to its ``k`` nearest rows of ``reference``
    [r, d] → [m] (float64)."""
    k = min(k, reference.shape[0])
    out = []
    for start in range(0, queries.shape[0], chunk):
        dist = torch.cdist(queries[start:start + chunk].to(torch.float64),
                           reference.to(torch.float64))
        out.append(dist.topk(k, dim=1, largest=False).values.mean(1))
    return torch.cat(out) if out else torch.zeros(0, dtype=torch.float64)


def calibrate_power_law(distance: np.ndarray, residual: np.ndarray,
                        powers: Sequence[float] = _POWERS) -> Dict[str, float]:
    """σ = c d^p fitted by NLL to ``residual`` [m] at ``distance`` [m] > 0: for each p,
    c² = ⟨r² / d^(2p)⟩; the p of lowest NLL wins."""
    distance = np.maximum(np.asarray(distance, dtype=np.float64), 1e-12)
    best: Dict[str, float] = {}
    for p in powers:
        unscaled = distance ** (2 * p)
        c2 = float(np.mean(np.asarray(residual) ** 2 / unscaled))
        nll = gaussian_nll(residual, c2 * unscaled)
        if not best or nll < best["nll"]:
            best = {"power": p, "scale2": c2, "nll": nll}
    return best


@dataclasses.dataclass
class DistanceState(StoredState):
    """A fit: training-atom mean [d] and std [d], standardised reference environments
    [r, d], k, the calibration (power p, c_F², c_E²), the median validation distance and the
    readout weights w [d] the features belong to."""

    KIND: ClassVar[str] = "descriptor_distance"

    mean: torch.Tensor
    std: torch.Tensor
    reference: torch.Tensor
    k: int
    power: float
    scale2_forces: float
    scale2_energy: float
    ood_reference: float
    weights: torch.Tensor
    calibration: Dict[str, float] = dataclasses.field(default_factory=dict)

    def summary(self) -> str:
        """The fit in one line: reference atoms, k, the power law and the validation NLL."""
        return (f"{self.reference.shape[0]} reference atoms, k {self.k}, sigma = c "
                f"d^{self.power:g} (validation NLL forces {self.calibration['nll_forces']:.3f}, "
                f"energy {self.calibration['nll_energy']:.3f})")

    def distances(self, atom_features: torch.Tensor) -> torch.Tensor:
        """d_i [n] of features f_i [n, d]."""
        scaled = (atom_features.to(torch.float64) - self.mean) / self.std
        return knn_distance(scaled, self.reference, self.k)


    @classmethod
    def from_training(cls, atom_features: torch.Tensor, weights: torch.Tensor, k: int = 5,
                      max_reference: int = 5000, seed: int = 0) -> DistanceState:
        """Standardisation and reference set from the training atoms' f_i [N, d];
        calibration left at 1 until :meth:`calibrated`."""
        if atom_features.shape[0] < 2:
            raise EstimatorFitError("descriptor distance needs two or more training atoms")
        f = atom_features.to(torch.float64)
        mean, std = f.mean(0), f.std(0).clamp(min=1e-12)
        keep = torch.randperm(f.shape[0], generator=torch.Generator().manual_seed(seed))
        reference = ((f - mean) / std)[keep[:max_reference]]
        return cls(mean, std, reference, int(k), 1.0, 1.0, 1.0, 1.0, weights.clone())

    def calibrated(self, distances: Sequence[np.ndarray],
                   energy_residuals: Sequence[float | None],
                   force_residuals: Sequence[np.ndarray | None]) -> DistanceState:
        """Fitted on validation frames: per frame the distances [n], the energy residual
        (eV or None) and the force residuals [n, 3] (eV/Å or None)."""
        all_d = np.concatenate(distances)
        forces = [(d, r) for d, r in zip(distances, force_residuals) if r is not None]
        energies = [(d, r) for d, r in zip(distances, energy_residuals) if r is not None]
        if not forces and not energies:
            raise EstimatorFitError("descriptor distance calibration needs validation "
                                    "frames with energies or forces")
        fit = {"power": 1.0, "scale2": 1.0, "nll": float("nan")}
        if forces:
            d_comp = np.concatenate([np.repeat(d, 3) for d, _ in forces])
            r_comp = np.concatenate([r.reshape(-1) for _, r in forces])
            fit = calibrate_power_law(d_comp, r_comp)
        power = fit["power"]
        scale2_energy = fit["scale2"]
        nll_energy = float("nan")
        if energies:
            unscaled = np.array([np.sum(np.maximum(d, 1e-12) ** (2 * power))
                                 for d, _ in energies])
            r_e = np.array([r for _, r in energies])
            scale2_energy = float(np.mean(r_e ** 2 / unscaled))
            nll_energy = gaussian_nll(r_e, scale2_energy * unscaled)
        return dataclasses.replace(
            self, power=power, scale2_forces=fit["scale2"], scale2_energy=scale2_energy,
            ood_reference=float(np.median(all_d)) or 1.0,
            calibration={"nll_forces": fit["nll"], "nll_energy": nll_energy})


class DescriptorDistance(UncertaintyEstimator):
    """Descriptor-distance uncertainty of one eager model (checkpoint or run directory).

    ``state``: a fit; by default the ``distance.pt`` beside the model source (made by
    ``mlip-gnn uncertainty fit RUN_DIR``). Reports ``energy_std`` (eV), ``forces_std`` [n]
    (eV/Å), ``ood_score`` [n] and the extra result ``descriptor_distance`` [n]. Cost: a
    nearest-neighbour search on the features the prediction records (no extra model pass).
    """

    needs_features = True

    def __init__(self, state: DistanceState | None = None):
        self.state = state

    def check(self, num_members: int) -> None:
        """A CommitteeError unless there is exactly one member."""
        if num_members != 1:
            raise CommitteeError(f"descriptor distance works on one model; got {num_members}")

    def bind(self, members) -> None:
        """Load (or take) the fit for the member's weights, and its readout scale."""
        member = members[0]
        self.state, self._parts = bind_fit(self.state, DistanceState, DISTANCE_FILE, member)
        potential = getattr(member.module, "model", member.module)
        self._scale = potential.scale.detach().to(torch.float64)  # [S]
        self._lookup = member.module.species_lookup.cpu()  # atomic number → species

    def estimate(self, members: Sequence[MemberOutput]) -> Uncertainty:
        """Not available: the distance needs the inputs (:meth:`estimate_from`)."""
        raise EstimatorFitError("descriptor distance needs the atomic numbers: predict "
                                "through mlip_gnn.inference.Predictor (estimate_from)")

    def estimate_from(self, inputs, members: Sequence[MemberOutput]) -> Uncertainty:
        """σ_E (eV), σ_F [n] (eV/Å) and the OOD score [n] from the atoms' distances."""
        state = self.state
        recorded = {k: torch.from_numpy(v) for k, v in members[0].features.items()}
        species = self._lookup[inputs[1].cpu().long()]
        f = last_layer_features(recorded, self._parts, self._scale[species])
        d = state.distances(f).numpy()  # [n]
        unscaled = np.maximum(d, 1e-12) ** (2 * state.power)
        return Uncertainty(
            energy=math.sqrt(state.scale2_energy * float(unscaled.sum())),
            forces=np.sqrt(3.0 * state.scale2_forces * unscaled),
            extra={"descriptor_distance": d}, ood=d / state.ood_reference)
