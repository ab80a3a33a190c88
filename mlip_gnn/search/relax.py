"""Local relaxation of one trial and what the model says of the minimum it reaches."""

from __future__ import annotations

import time
from typing import Dict, Type

import numpy as np
from ase import Atoms
from ase.data import covalent_radii
from ase.filters import FrechetCellFilter
from ase.optimize import BFGS, FIRE, LBFGS
from ase.optimize.optimize import Optimizer

from mlip_gnn.data import DataError
from mlip_gnn.search.log import TrialRecord
from mlip_gnn.search.structures import is_connected

__all__ = ["OPTIMIZERS", "relax", "relaxed_record", "collapsed", "COLLAPSE_FRACTION"]

#: a relaxed pair closer than this fraction of its covalent-radius sum has collapsed: a
#: model without data at short range can have false minima there
COLLAPSE_FRACTION = 0.6

#: optimiser name (``relax.optimizer``) → ASE class
OPTIMIZERS: Dict[str, Type[Optimizer]] = {"BFGS": BFGS, "FIRE": FIRE, "LBFGS": LBFGS}


def relax(atoms: Atoms, calculator, optimizer: str, fmax: float, steps: int,
          maxstep: float) -> tuple[int, bool]:
    """Relax ``atoms`` in place with ``calculator`` (a periodic cell: positions and cell,
    through ASE's FrechetCellFilter); returns (optimiser steps, converged)."""
    atoms.calc = calculator
    target = FrechetCellFilter(atoms) if atoms.pbc.all() else atoms
    opt = OPTIMIZERS[optimizer](target, logfile=None, maxstep=maxstep)
    converged = bool(opt.run(fmax=fmax, steps=steps))
    return int(opt.nsteps), converged


def collapsed(atoms: Atoms) -> float | None:
    """The shortest distance (Å, minimum image) of a pair closer than
    :data:`COLLAPSE_FRACTION` x its covalent-radius sum, or None when there is none."""
    dist = atoms.get_all_distances(mic=bool(atoms.pbc.any()))
    radii = covalent_radii[atoms.numbers]
    limit = COLLAPSE_FRACTION * (radii[:, None] + radii[None, :])
    np.fill_diagonal(dist, np.inf)
    close = dist < limit
    return float(dist[close].min()) if close.any() else None


def relaxed_record(index: int, start: Atoms, calculator, cfg, **fields) -> TrialRecord:
    """Relax ``start`` as ``cfg.relax`` says and make its :class:`TrialRecord`: energy,
    uncertainty (where the calculator gives one), and valid = False for a cluster that
    fell apart (an atom or group farther than 1.25 x the largest covalent diameter from
    the rest), atoms that collapsed onto each other (:func:`collapsed`) or a structure the
    model refused (overlapping atoms)."""
    began = time.perf_counter()
    atoms = start.copy()
    r = cfg.relax
    try:
        steps, converged = relax(atoms, calculator, r.optimizer, r.fmax, r.steps, r.maxstep)
        energy = atoms.get_potential_energy()
    except DataError as err:
        return TrialRecord.from_atoms(index, float("nan"), start, valid=False, converged=False,
                                      note=f"model refused it: {err}", **fields)
    results = calculator.results
    valid, note = bool(np.isfinite(energy)), ""
    if not valid:
        note = "energy is not finite"
    short = collapsed(atoms)
    if short is not None:
        valid, note = False, f"atoms collapsed: a pair {short:.2f} Å apart"
    if not atoms.pbc.any():
        atoms.center()
        bond = 1.25 * 2.0 * covalent_radii[atoms.numbers].max()  # Å
        if valid and not is_connected(atoms, bond):
            valid, note = False, "the cluster fell apart"
    energy_std = results.get("energy_std")
    forces_std = results.get("max_forces_std")
    atoms.calc = None
    return TrialRecord.from_atoms(
        index, energy, atoms, valid=valid, converged=converged, relax_steps=steps,
        energy_std=None if energy_std is None else float(energy_std),
        max_forces_std=None if forces_std is None else float(forces_std), note=note,
        wall_s=time.perf_counter() - began, **fields)
