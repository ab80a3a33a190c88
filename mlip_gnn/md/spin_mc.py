"""Metropolis Monte Carlo of collinear moments at fixed positions, for spin models.

Each trial picks one atom and proposes either a flip m_i → -m_i or a change of its size
|m_i| → ||m_i| + δ|, δ uniform in ±``size_step`` (μB; the sign of m_i is kept, the
reflection at zero keeps the proposal symmetric), and accepts it with probability
min(1, exp(-ΔE / k_B T)) (Metropolis et al., J. Chem. Phys. 21, 1087 (1953)). Both moves
are their own reverse with equal probability, so detailed balance holds. The energy
comes from ``atoms.calc`` with the moments in ``atoms.get_initial_magnetic_moments()``
(an :class:`~mlip_gnn.calculators.MLIPCalculator` of a spin model, or any calculator
that reads them). ``lattice_moves`` (e.g. ``lambda: dyn.run(10)`` with an ASE
integrator) is called after each sweep: spin-lattice sampling that alternates moment
moves with molecular dynamics at fixed moments.

>>> result = spin_monte_carlo(atoms, SpinMCSettings(temperature_K=300, sweeps=50))  # doctest: +SKIP
"""

from __future__ import annotations

import dataclasses
from typing import Callable, List

import numpy as np
from ase import units

from mlip_gnn.errors import MlipGnnError

__all__ = ["SpinMCSettings", "SpinMCResult", "SpinMCError", "spin_monte_carlo"]


class SpinMCError(MlipGnnError, ValueError):
    """Raised for settings that cannot work (negative temperature, no sweeps, a flip
    probability outside [0, 1], a negative size step), before anything runs."""


@dataclasses.dataclass
class SpinMCSettings:
    """A Monte Carlo run of the moments: temperature (K), sweeps, the share of trials that
    flip a moment (the rest change its size by up to ``size_step`` μB) and the seed."""

    temperature_K: float = 300.0
    sweeps: int = 100  # one sweep = one trial per atom
    flip_probability: float = 0.5  # share of trials that flip; the rest change |m|
    size_step: float = 0.2  # μB, largest change of |m| in one trial
    seed: int = 0

    def check(self) -> None:
        """A :class:`SpinMCError` for settings out of range."""
        if self.temperature_K < 0:
            raise SpinMCError(f"temperature_K: got {self.temperature_K}; must be >= 0")
        if self.sweeps < 1:
            raise SpinMCError(f"sweeps: got {self.sweeps}; must be >= 1")
        if not 0.0 <= self.flip_probability <= 1.0:
            raise SpinMCError(f"flip_probability: got {self.flip_probability}; must be in "
                              "[0, 1]")
        if self.size_step < 0:
            raise SpinMCError(f"size_step: got {self.size_step} μB; must be >= 0")


@dataclasses.dataclass
class SpinMCResult:
    """energies: eV after each sweep [sweeps]; acceptance: accepted share of the flips
    and of the size moves; magmoms: final moments [n] μB (also left in ``atoms``)."""

    energies: np.ndarray
    flip_acceptance: float
    size_acceptance: float
    magmoms: np.ndarray


def _accept(delta: float, kT: float, rng: np.random.Generator) -> bool:
    if delta <= 0.0:
        return True
    return kT > 0.0 and rng.random() < np.exp(-delta / kT)


def _propose(m: float, flip: bool, step: float, rng: np.random.Generator) -> float:
    if flip:
        return -m
    sign = 1.0 if m >= 0.0 else -1.0
    return sign * abs(abs(m) + rng.uniform(-step, step))


def spin_monte_carlo(atoms, settings: SpinMCSettings,
                     lattice_moves: Callable[[], None] | None = None) -> SpinMCResult:
    """Run ``settings.sweeps`` Metropolis sweeps over the moments of ``atoms`` (which
    carries the calculator); see the module docstring."""
    settings.check()
    rng = np.random.default_rng(settings.seed)
    kT = units.kB * settings.temperature_K  # eV
    moments = np.asarray(atoms.get_initial_magnetic_moments(), dtype=np.float64).copy()
    if moments.shape != (len(atoms),):
        raise SpinMCError(f"initial magnetic moments have shape {moments.shape}; collinear "
                          f"moments need one value per atom ({len(atoms)},)")
    energy = atoms.get_potential_energy()
    tried = np.zeros(2)
    accepted = np.zeros(2)
    energies: List[float] = []
    for _ in range(settings.sweeps):
        for i in rng.integers(0, len(atoms), len(atoms)):
            flip = rng.random() < settings.flip_probability
            trial = moments.copy()
            trial[i] = _propose(moments[i], flip, settings.size_step, rng)
            atoms.set_initial_magnetic_moments(trial)
            new = atoms.get_potential_energy()
            tried[int(flip)] += 1
            if _accept(new - energy, kT, rng):
                moments, energy = trial, new
                accepted[int(flip)] += 1
            else:
                atoms.set_initial_magnetic_moments(moments)
        if lattice_moves is not None:
            lattice_moves()
            energy = atoms.get_potential_energy()
        energies.append(energy)
    atoms.set_initial_magnetic_moments(moments)
    share = accepted / np.maximum(tried, 1)
    return SpinMCResult(np.array(energies), float(share[1]), float(share[0]), moments)
