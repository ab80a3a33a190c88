"""What the inference path returns for one structure: each member's outputs, their mean,
and the uncertainty an estimator puts on them. Arrays are float64 numpy."""

from __future__ import annotations

import abc
import dataclasses
from typing import TYPE_CHECKING, Any, Dict, List, Sequence, Tuple

import numpy as np

if TYPE_CHECKING:  # members.py does not import this module; the hint only
    from mlip_gnn.inference.members import Member

__all__ = ["MemberOutput", "Uncertainty", "UncertaintyEstimator", "Prediction", "ModelInputs"]

#: the exported interface's arguments for one structure: positions [n, 3] Å, atomic
#: numbers [n], edge_index [2, e], cell_shifts [e, 3], cell [3, 3] Å (zero along
#: non-periodic directions), whether the stress is computed, and the collinear moments
#: [n] μB for spin models (None for spin-free ones, which are not passed them) and the
#: total charge [] e (passed to long-range models only)
ModelInputs = Tuple[Any, Any, Any, Any, Any, bool, Any, Any]


@dataclasses.dataclass
class MemberOutput:
    """One model on one structure: energy (eV), energies [n] (eV), forces [n, 3] (eV/Å),
    stress [3, 3] (eV/Å³; None without a periodic cell with volume), when asked for,
    named per-atom features [n, d] (see :mod:`mlip_gnn.inference.features`) and, for a
    spin model, magnetic_forces [n] (eV/μB, -∂E/∂m)."""

    energy: float
    energies: np.ndarray
    forces: np.ndarray
    stress: np.ndarray | None = None
    features: Dict[str, np.ndarray] = dataclasses.field(default_factory=dict)
    magnetic_forces: np.ndarray | None = None
    charges: np.ndarray | None = None  # [n] e, latent charges of a long-range model


@dataclasses.dataclass
class Uncertainty:
    """energy: per-structure energy uncertainty (eV, one standard deviation); forces:
    per-atom force uncertainty [n] (eV/Å, the norm over x, y, z of the per-component
    standard deviations); ood: per-atom out-of-distribution score [n] (dimensionless,
    larger = farther from the training data; each estimator documents its scale; None when
    the estimator has none); extra: estimator-specific results by name (e.g.
    ``stress_std``)."""

    energy: float
    forces: np.ndarray
    extra: Dict[str, Any] = dataclasses.field(default_factory=dict)
    ood: np.ndarray | None = None


class UncertaintyEstimator(abc.ABC):
    """Turns the members' outputs (and, if it asks for them, their features) into an
    :class:`Uncertainty`. Subclasses set :attr:`needs_features` and may refuse a committee
    size they cannot work with in :meth:`check`.

    The :class:`~mlip_gnn.inference.Predictor` calls, in this order: :meth:`check` with
    the number of models, :meth:`bind` once with the loaded members (an estimator that
    keeps a fitted state per model finds and checks it there), and per structure
    :meth:`estimate_from` with the model inputs and the members' outputs. By default
    :meth:`estimate_from` calls :meth:`estimate` on the outputs alone; an estimator that
    differentiates through the model itself (last-layer force uncertainties) overrides it.
    """

    #: whether :meth:`estimate` reads ``MemberOutput.features`` (the path records them)
    needs_features: bool = False

    def check(self, num_members: int) -> None:
        """Raise an :class:`~mlip_gnn.errors.MlipGnnError` if ``num_members`` cannot work;
        by default any number does."""
        return None

    def bind(self, members: Sequence[Member]) -> None:
        """Called once with the loaded models; by default nothing is needed."""
        return None

    @abc.abstractmethod
    def estimate(self, members: Sequence[MemberOutput]) -> Uncertainty:
        """The uncertainty of one structure's prediction."""

    def estimate_from(self, inputs: ModelInputs,
                      members: Sequence[MemberOutput]) -> Uncertainty:
        """The uncertainty of one structure's prediction, given also the inputs the
        models were run on; by default :meth:`estimate` of the outputs alone."""
        return self.estimate(members)


@dataclasses.dataclass
class Prediction:
    """The mean over members of energy, energies, forces and stress (same units and shapes
    as :class:`MemberOutput`), every member's own outputs, and the uncertainty (None
    without an estimator)."""

    energy: float
    energies: np.ndarray
    forces: np.ndarray
    stress: np.ndarray | None
    members: List[MemberOutput]
    uncertainty: Uncertainty | None = None
    magnetic_forces: np.ndarray | None = None  # [n] eV/μB, spin models only
    charges: np.ndarray | None = None  # [n] e, latent charges of long-range models

    @classmethod
    def mean_of(cls, members: List[MemberOutput],
                uncertainty: Uncertainty | None = None) -> Prediction:
        """The members' mean prediction, with ``uncertainty`` attached."""
        def mean(name):
            values = [getattr(m, name) for m in members]
            return None if values[0] is None else np.mean(values, axis=0)

        magnetic = [m.magnetic_forces for m in members]
        magnetic_mean = (None if any(v is None for v in magnetic)
                         else np.mean(magnetic, axis=0))
        charges = [m.charges for m in members]
        charges_mean = (None if any(v is None for v in charges)
                        else np.mean(charges, axis=0))
        return cls(float(mean("energy")), mean("energies"), mean("forces"), mean("stress"),
                   members, uncertainty, magnetic_mean, charges_mean)

    def results(self) -> Dict[str, Any]:
        """As a flat dict: ``energy``, ``energies``, ``forces``, ``stress`` and
        ``magnetic_forces`` (eV/μB, -∂E/∂m; when present), ``charges`` [n] (e, the latent
        charges of long-range models; when present) and, with an uncertainty,
        ``energy_std`` (eV), ``forces_std`` [n] (eV/Å), ``max_forces_std`` (eV/Å), with an
        OOD score ``ood_score`` [n] and ``max_ood_score``, and the estimator's extra results."""
        out: Dict[str, Any] = {"energy": self.energy, "energies": self.energies,
                               "forces": self.forces}
        if self.stress is not None:
            out["stress"] = self.stress
        if self.magnetic_forces is not None:
            out["magnetic_forces"] = self.magnetic_forces
        if self.charges is not None:
            out["charges"] = self.charges
        if self.uncertainty is not None:
            out["energy_std"] = self.uncertainty.energy
            out["forces_std"] = self.uncertainty.forces
            out["max_forces_std"] = float(np.max(self.uncertainty.forces, initial=0.0))
            if self.uncertainty.ood is not None:
                out["ood_score"] = self.uncertainty.ood
                out["max_ood_score"] = float(np.max(self.uncertainty.ood, initial=0.0))
            out.update(self.uncertainty.extra)
        return out
