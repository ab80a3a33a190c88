"""Vacancy formation energy, relaxed and unrelaxed, in a supercell of ≥ min_atoms atoms:
E_f = E(N−1) − (N−1)/N · E(N), both at the relaxed lattice constant and fixed cell."""

from __future__ import annotations

import numpy as np

from mlip_gnn.validation.result import Check, Measurement
from mlip_gnn.validation.structures import Bulk, relax_positions, repeat_to

__all__ = ["vacancy_formation_energy", "measure_vacancy"]


def vacancy_formation_energy(perfect, calc, fmax: float, steps: int, rattle: float,
                             seed: int = 0):
    """(relaxed E_f eV, unrelaxed E_f eV, relaxation converged) for the perfect
    supercell ``perfect`` with its first atom removed. Before relaxing, positions are
    displaced by a Gaussian of standard deviation ``rattle`` (Å) so that a relaxation
    that lowers the symmetry is not held back by it."""
    perfect = perfect.copy()
    perfect.calc = calc
    n = len(perfect)
    e_perfect = perfect.get_potential_energy()
    defect = perfect.copy()
    del defect[0]
    defect.calc = calc
    unrelaxed = defect.get_potential_energy() - (n - 1) / n * e_perfect
    if rattle > 0:
        rng = np.random.default_rng(seed)
        defect.positions += rng.normal(scale=rattle, size=defect.positions.shape)
    converged = relax_positions(defect, fmax, steps)
    relaxed = defect.get_potential_energy() - (n - 1) / n * e_perfect
    return float(relaxed), float(unrelaxed), converged


def measure_vacancy(bulk: Bulk, calc) -> Measurement:
    """Relaxed and unrelaxed vacancy formation energies (eV) with ``calc``."""
    settings = bulk.spec.settings.vacancy
    perfect = repeat_to(bulk.conventional(), settings.min_atoms)
    relaxed, unrelaxed, converged = vacancy_formation_energy(
        perfect, calc, settings.fmax, settings.steps, settings.rattle, settings.seed)
    checks = [Check("vacancy", converged, f"{len(perfect)}-atom cell, relaxation "
                    + ("converged" if converged else "did NOT reach fmax")),
              Check("vacancy", relaxed <= unrelaxed + 1e-6, f"relaxation lowers E_f by "
                    f"{unrelaxed - relaxed:.4f} eV")]
    return Measurement(values={"vacancy_formation_energy": relaxed,
                               "vacancy_formation_energy_unrelaxed": unrelaxed},
                       checks=checks)
