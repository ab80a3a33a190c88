"""Uncertainty from the spread of a committee of independently trained models."""

from __future__ import annotations

from typing import Sequence

import numpy as np

from mlip_gnn.inference import CommitteeError, MemberOutput, Uncertainty, UncertaintyEstimator

__all__ = ["CommitteeSpread"]


class CommitteeSpread(UncertaintyEstimator):
    """Population standard deviations over the members: energy (eV); per atom, the norm
    over x, y, z of the per-component force standard deviation [n] (eV/Å); and, as the
    extra result ``stress_std``, the per-component stress deviation [3, 3] (eV/Å³) when
    the structure has a stress. The per-atom OOD score is the force spread in units of
    ``force_reference`` (eV/Å; default 1, i.e. the spread in eV/Å): a committee has no
    fitted notion of a typical atom, so give the spread on in-distribution data to make
    1 mean "typical"."""

    def __init__(self, force_reference: float = 1.0):
        if not force_reference > 0:
            raise CommitteeError(f"force_reference: got {force_reference}; must be > 0 eV/Å")
        self.force_reference = float(force_reference)

    def check(self, num_members: int) -> None:
        """A CommitteeError unless there are two or more members."""
        if num_members < 2:
            raise CommitteeError(f"a committee spread needs two or more models; got "
                                 f"{num_members}")

    def estimate(self, members: Sequence[MemberOutput]) -> Uncertainty:
        """The members' standard deviation: energy (eV), forces [n] (eV/Å), OOD score [n]."""
        energy = float(np.std([m.energy for m in members]))
        forces_std = np.std([m.forces for m in members], axis=0)  # [n, 3]
        extra = {}
        if members[0].stress is not None:
            extra["stress_std"] = np.std([m.stress for m in members], axis=0)  # [3, 3]
        per_atom = np.linalg.norm(forces_std, axis=1)  # [n]
        return Uncertainty(energy, per_atom, extra, ood=per_atom / self.force_reference)
