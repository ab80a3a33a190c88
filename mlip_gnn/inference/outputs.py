"""What the inference path returns for one structure: each member's outputs, their mean,
and the uncertainty an estimator puts on them. Arrays are float64 numpy."""

from __future__ import annotations

import abc
import dataclasses
from typing import Any, Dict, List, Optional, Sequence

import numpy as np

__all__ = ["MemberOutput", "Uncertainty", "UncertaintyEstimator", "Prediction"]


@dataclasses.dataclass
class MemberOutput:
    """One model on one structure: energy (eV), energies [n] (eV), forces [n, 3] (eV/Å),
    stress [3, 3] (eV/Å³; None without a periodic cell with volume) and, when asked for,
    named per-atom features [n, d] (see :mod:`mlip_gnn.inference.features`)."""

    energy: float
    energies: np.ndarray
    forces: np.ndarray
    stress: Optional[np.ndarray] = None
    features: Dict[str, np.ndarray] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass
class Uncertainty:
    """energy: per-structure energy uncertainty (eV); forces: per-atom force uncertainty
    [n] (eV/Å); extra: estimator-specific results by name (e.g. ``stress_std``)."""

    energy: float
    forces: np.ndarray
    extra: Dict[str, Any] = dataclasses.field(default_factory=dict)


class UncertaintyEstimator(abc.ABC):
    """Turns the members' outputs (and, if it asks for them, their features) into an
    :class:`Uncertainty`. Subclasses set :attr:`needs_features` and may refuse a committee
    size they cannot work with in :meth:`check`."""

    #: whether :meth:`estimate` reads ``MemberOutput.features`` (the path records them)
    needs_features: bool = False

    def check(self, num_members: int) -> None:
        """Raise an :class:`~mlip_gnn.errors.MlipGnnError` if ``num_members`` cannot work;
        by default any number does."""
        return None

    @abc.abstractmethod
    def estimate(self, members: Sequence[MemberOutput]) -> Uncertainty:
        """The uncertainty of one structure's prediction."""


@dataclasses.dataclass
class Prediction:
    """The mean over members of energy, energies, forces and stress (same units and shapes
    as :class:`MemberOutput`), every member's own outputs, and the uncertainty (None
    without an estimator)."""

    energy: float
    energies: np.ndarray
    forces: np.ndarray
    stress: Optional[np.ndarray]
    members: List[MemberOutput]
    uncertainty: Optional[Uncertainty] = None

    @classmethod
    def mean_of(cls, members: List[MemberOutput],
                uncertainty: Optional[Uncertainty] = None) -> Prediction:
        def mean(name):
            values = [getattr(m, name) for m in members]
            return None if values[0] is None else np.mean(values, axis=0)

        return cls(float(mean("energy")), mean("energies"), mean("forces"), mean("stress"),
                   members, uncertainty)

    def results(self) -> Dict[str, Any]:
        """As a flat dict: ``energy``, ``energies``, ``forces``, ``stress`` (when present)
        and, with an uncertainty, ``energy_std`` (eV), ``forces_std`` [n] (eV/Å),
        ``max_forces_std`` (eV/Å) and the estimator's extra results."""
        out: Dict[str, Any] = {"energy": self.energy, "energies": self.energies,
                               "forces": self.forces}
        if self.stress is not None:
            out["stress"] = self.stress
        if self.uncertainty is not None:
            out["energy_std"] = self.uncertainty.energy
            out["forces_std"] = self.uncertainty.forces
            out["max_forces_std"] = float(np.max(self.uncertainty.forces, initial=0.0))
            out.update(self.uncertainty.extra)
        return out
