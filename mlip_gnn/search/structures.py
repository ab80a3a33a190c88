"""Random starting structures under composition, volume and minimum-distance constraints,
and the random moves of basin hopping."""

from __future__ import annotations

from typing import List

import numpy as np
from ase import Atoms
from ase.geometry import get_distances

from mlip_gnn.errors import MlipGnnError

__all__ = ["SearchError", "random_cluster", "random_bulk", "perturbed", "is_connected",
           "CLUSTER_VACUUM"]

#: vacuum around a cluster's atoms in its (non-periodic) cell, Å: for writing only
CLUSTER_VACUUM = 6.0


class SearchError(MlipGnnError, ValueError):
    """Raised when a search cannot go on: random atoms that cannot be placed under the
    constraints, an output folder holding another search, an unusable model."""


def _place(symbols: List[str], draw, min_distance: float, max_attempts: int,
           cell=None, pbc=False, what: str = "") -> np.ndarray:
    """Positions [n, 3] (Å) drawn one atom at a time by ``draw(i)`` until each is at least
    ``min_distance`` from those placed before (minimum image under ``pbc``)."""
    placed = np.zeros((0, 3))
    for i in range(len(symbols)):
        for _ in range(max_attempts):
            trial = draw(i)[None, :]
            if len(placed) == 0:
                break
            if cell is None:
                dist = np.linalg.norm(placed - trial, axis=1)
            else:
                _, dist = get_distances(trial, placed, cell=cell, pbc=pbc)
            if dist.min() >= min_distance:
                break
        else:
            raise SearchError(
                f"could not place atom {i + 1} of {len(symbols)} at least {min_distance:.3g} Å "
                f"from the others in {what} after {max_attempts} tries "
                "(constraints.max_attempts); lower constraints.min_distance or give more room "
                "(constraints.radius / constraints.volume_per_atom)")
        placed = np.vstack([placed, trial])
    return placed


def random_cluster(symbols: List[str], radius: float, min_distance: float,
                   rng: np.random.Generator, max_attempts: int = 1000) -> Atoms:
    """Atoms uniformly at random in a sphere of ``radius`` (Å), ``min_distance`` apart,
    centred in a non-periodic box with :data:`CLUSTER_VACUUM` around."""

    def draw(i: int) -> np.ndarray:
        direction = rng.normal(size=3)
        direction /= np.linalg.norm(direction)
        return direction * radius * rng.uniform() ** (1.0 / 3.0)

    positions = _place(symbols, draw, min_distance, max_attempts,
                       what=f"a sphere of radius {radius:.3g} Å")
    atoms = Atoms(symbols, positions=positions)
    atoms.center(vacuum=CLUSTER_VACUUM)
    return atoms


def _random_cell(volume: float, min_height: float, rng: np.random.Generator) -> np.ndarray:
    """A random cell [3, 3] (rows, Å) of ``volume`` Å^3: lengths within a factor 2 of each
    other, angles in 60-120°, retried until every height is at least ``min_height``."""
    for _ in range(1000):
        lengths = rng.uniform(1.0, 2.0, 3)
        alpha, beta, gamma = np.radians(rng.uniform(60.0, 120.0, 3))
        a = lengths[0] * np.array([1.0, 0.0, 0.0])
        b = lengths[1] * np.array([np.cos(gamma), np.sin(gamma), 0.0])
        cx = np.cos(beta)
        cy = (np.cos(alpha) - np.cos(beta) * np.cos(gamma)) / np.sin(gamma)
        cz2 = 1.0 - cx * cx - cy * cy
        if cz2 <= 0.05:
            continue
        cell = np.array([a, b, lengths[2] * np.array([cx, cy, np.sqrt(cz2)])])
        cell *= (volume / abs(np.linalg.det(cell))) ** (1.0 / 3.0)
        heights = abs(np.linalg.det(cell)) / np.linalg.norm(
            np.cross(cell[[1, 2, 0]], cell[[2, 0, 1]]), axis=1)
        if heights.min() >= min_height:
            return cell
    raise SearchError(f"no random cell of {volume:.4g} Å^3 is thicker than "
                      f"{min_height:.3g} Å in every direction; raise "
                      "constraints.volume_per_atom")


def random_bulk(symbols: List[str], volume_per_atom: List[float], min_distance: float,
                rng: np.random.Generator, max_attempts: int = 1000, cells: int = 20) -> Atoms:
    """A random periodic cell of volume per atom uniform in ``volume_per_atom`` (Å^3),
    at least ``min_distance`` thick, with atoms uniformly at random in it,
    ``min_distance`` apart (minimum image); up to ``cells`` cells are tried."""
    error = None
    for _ in range(cells):
        volume = len(symbols) * rng.uniform(*volume_per_atom)
        cell = _random_cell(volume, min_height=min_distance, rng=rng)

        def draw(i: int, cell=cell) -> np.ndarray:
            return rng.uniform(size=3) @ cell

        try:
            positions = _place(symbols, draw, min_distance, max_attempts, cell=cell,
                               pbc=True, what=f"{cells} random cells (the last {volume:.4g} Å^3)")
        except SearchError as err:  # a cramped cell: draw another
            error = err
            continue
        return Atoms(symbols, positions=positions, cell=cell, pbc=True)
    raise error


def perturbed(atoms: Atoms, step_size: float, cell_strain: float, radius: float | None,
              min_distance: float, rng: np.random.Generator, max_attempts: int = 1000,
              moves: int = 10) -> Atoms:
    """A basin-hopping move: a periodic cell strained by a random symmetric strain up to
    ``cell_strain``; then every atom in turn displaced uniformly in ±``step_size`` Å per
    component, redrawn until it is ``min_distance`` from the atoms moved before it (atoms
    pushed closer than a model has seen can relax into false minima of a model that
    lacks short-range data); up to ``moves`` tries of the whole move, then a SearchError.
    A cluster's atom that leaves the sphere of ``radius`` is put back on it."""
    out = atoms.copy()
    out.calc = None
    periodic = bool(out.pbc.all())
    if periodic and cell_strain > 0:
        eps = rng.uniform(-cell_strain, cell_strain, (3, 3))
        out.set_cell(out.cell.array @ (np.eye(3) + 0.5 * (eps + eps.T)), scale_atoms=True)
    old = out.positions.copy()
    centre = old.mean(axis=0)

    def draw(i: int) -> np.ndarray:
        new = old[i] + rng.uniform(-step_size, step_size, 3)
        if radius is not None and np.linalg.norm(new - centre) > radius:
            new = centre + (new - centre) * radius / np.linalg.norm(new - centre)
        return new

    cell = out.cell.array if periodic else None
    for attempt in range(moves):
        try:
            out.positions = _place(list(out.symbols), draw, min_distance, max_attempts,
                                   cell=cell, pbc=True if periodic else None,
                                   what=f"{moves} basin-hopping moves")
            break
        except SearchError:
            if attempt == moves - 1:
                raise
    if not out.pbc.any():
        out.center()
    return out


def is_connected(atoms: Atoms, bond: float) -> bool:
    """Whether every atom of a cluster is linked to every other by a chain of distances
    below ``bond`` (Å): a cluster that lost an atom to the vacuum is not a minimum of it."""
    dist = atoms.get_all_distances()
    linked = dist < bond
    seen = np.zeros(len(atoms), bool)
    seen[0] = True
    todo = [0]
    while todo:
        new = np.flatnonzero(linked[todo.pop()] & ~seen)
        seen[new] = True
        todo.extend(new.tolist())
    return bool(seen.all())
