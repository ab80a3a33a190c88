"""A structural fingerprint for telling minima apart: the Gaussian-smeared pair-distance
histogram per atom, up to a cutoff.

Why this one: it is invariant to translation, rotation, reflection, the order of the
atoms and (bulk) the choice of the periodic cell, so two relaxations that land in one
basin give the same curve without any matching of atoms; it costs one neighbour list;
and a cluster's histogram is its full set of pair distances, which separates the Cu13
icosahedron from the cuboctahedron and the decahedron. Distinct minima that share the
histogram (homometric sets) are rare; the energy tolerance of :func:`same_minimum`
keeps apart the ones with different energies.
"""

from __future__ import annotations

import numpy as np
from ase import Atoms
from ase.neighborlist import neighbor_list

__all__ = ["fingerprint", "fingerprint_distance", "same_minimum", "GRID_STEP"]

#: spacing of the histogram's grid, Å
GRID_STEP = 0.02


def fingerprint(atoms: Atoms, r_cut: float = 6.0, sigma: float = 0.1) -> np.ndarray:
    """Pair-distance density g(r) on a grid of :data:`GRID_STEP` Å from 0 to ``r_cut`` Å:
    each pair i < j within ``r_cut`` (all periodic images) adds a Gaussian of width
    ``sigma`` Å; divided by the number of atoms, so that a supercell has the same curve."""
    grid = np.arange(0.0, r_cut + 3 * sigma, GRID_STEP)  # [m], Å
    if atoms.pbc.any():
        dist = neighbor_list("d", atoms, r_cut)
        weight = 0.5  # every pair appears as i-j and j-i
    else:
        i, j = np.triu_indices(len(atoms), k=1)
        dist = np.linalg.norm(atoms.positions[i] - atoms.positions[j], axis=1)
        dist = dist[dist < r_cut]
        weight = 1.0
    curve = np.exp(-0.5 * ((grid[None, :] - dist[:, None]) / sigma) ** 2).sum(axis=0)
    return weight * curve / len(atoms)


def fingerprint_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Relative distance |a - b| / ((|a| + |b|) / 2) of two fingerprints: 0 for the same
    structure, 2 for structures without a pair distance in common. (The cosine distance
    was tried first: it is quadratic in small differences, so the Cu13 icosahedron and a
    minimum 0.75 eV above it were 0.004 apart.)"""
    scale = 0.5 * (np.linalg.norm(a) + np.linalg.norm(b))
    if scale == 0.0:
        return 0.0
    return float(np.linalg.norm(a - b) / scale)


def same_minimum(energy_a: float, energy_b: float, fp_a: np.ndarray, fp_b: np.ndarray,
                 n_atoms: int, energy_tol: float, fingerprint_tol: float) -> bool:
    """Whether two relaxed structures are one minimum: energies within ``energy_tol``
    eV/atom and fingerprints within ``fingerprint_tol`` (:func:`fingerprint_distance`)."""
    if abs(energy_a - energy_b) / n_atoms > energy_tol:
        return False
    return fingerprint_distance(fp_a, fp_b) <= fingerprint_tol
