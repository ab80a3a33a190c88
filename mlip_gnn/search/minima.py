"""Distinct minima of a search: the valid trials deduplicated by energy and fingerprint,
with their volume, symmetry and the model's uncertainty."""

from __future__ import annotations

import dataclasses
import math
import warnings
from typing import List

from ase import Atoms

from mlip_gnn.search.fingerprint import fingerprint, same_minimum
from mlip_gnn.search.log import TrialRecord

__all__ = ["Minimum", "distinct_minima", "spacegroup", "volume_of", "minimum_atoms"]


@dataclasses.dataclass
class Minimum:
    """One distinct minimum: its lowest-energy trial and how often the search reached it."""

    record: TrialRecord
    times_found: int
    trials: List[int]  # every trial that reached it
    volume: float  # Å^3: the cell (bulk) or the convex hull of the atoms (cluster)
    spacegroup: str  # "Fm-3m (225)" (bulk, spglib), "none" (cluster or no spglib)
    flagged: bool  # the model is unsure of it (see FlagConfig)

    @property
    def n_atoms(self) -> int:
        """Number of atoms."""
        return len(self.record.numbers)

    @property
    def energy_per_atom(self) -> float:
        """eV/atom."""
        return self.record.energy / self.n_atoms

    @property
    def uncertainty(self) -> float | None:
        """Energy uncertainty, eV/atom (None without an estimator)."""
        std = self.record.energy_std
        return None if std is None else std / self.n_atoms


def volume_of(atoms: Atoms) -> float:
    """Volume, Å^3: the cell of a periodic structure, the convex hull of a cluster's atoms
    (0 for fewer than 4 atoms or a flat cluster)."""
    if atoms.pbc.all():
        return float(atoms.get_volume())
    try:
        from scipy.spatial import ConvexHull, QhullError
    except ImportError:  # scipy comes with ASE, but keep the report alive without it
        return float("nan")
    try:
        return float(ConvexHull(atoms.positions).volume)
    except (QhullError, ValueError):
        return 0.0


def spacegroup(atoms: Atoms, symprec: float = 0.1) -> str:
    """International symbol and number of a periodic structure's space group found by
    spglib at ``symprec`` Å; "none" for a cluster or when spglib is not installed."""
    if not atoms.pbc.all():
        return "none"
    try:
        import spglib
    except ImportError:
        return "none"
    cell = (atoms.cell.array, atoms.get_scaled_positions(), atoms.numbers)
    with warnings.catch_warnings():  # spglib 2.5+ warns about its old error handling
        warnings.simplefilter("ignore", DeprecationWarning)
        data = spglib.get_symmetry_dataset(cell, symprec=symprec)
    if data is None:
        return "none"
    if isinstance(data, dict):  # spglib < 2.5
        return f"{data['international']} ({data['number']})"
    return f"{data.international} ({data.number})"


def _flagged(record: TrialRecord, n_atoms: int, flag) -> bool:
    if record.energy_std is not None and record.energy_std / n_atoms > flag.energy_std_per_atom:
        return True
    return record.max_forces_std is not None and record.max_forces_std > flag.max_force_std


def distinct_minima(records: List[TrialRecord], cfg) -> List[Minimum]:
    """The valid trials grouped into distinct minima (:func:`same_minimum` with
    ``cfg.dedup``), lowest energy first; each keeps its lowest-energy trial."""
    d = cfg.dedup
    valid = sorted((r for r in records if r.valid and math.isfinite(r.energy)),
                   key=lambda r: (r.energy, r.index))
    groups: List[list] = []  # [record, fingerprint, [trial indices]]
    for record in valid:
        fp = fingerprint(record.atoms(), d.r_cut, d.sigma)
        for group in groups:
            if same_minimum(record.energy, group[0].energy, fp, group[1], len(record.numbers),
                            d.energy_tol, d.fingerprint_tol):
                group[2].append(record.index)
                break
        else:
            groups.append([record, fp, [record.index]])
    out = []
    for record, _, trials in groups:
        atoms = record.atoms()
        out.append(Minimum(record=record, times_found=len(trials), trials=sorted(trials),
                           volume=volume_of(atoms), spacegroup=spacegroup(atoms),
                           flagged=_flagged(record, len(atoms), cfg.flag)))
    return out


def minimum_atoms(minimum: Minimum, rank: int, labelled: bool = True) -> Atoms:
    """The minimum as ASE atoms with its data in ``info``. ``labelled``: the model energy
    under ``energy`` (ASE's readers move it to a SinglePointCalculator); otherwise under
    ``model_energy``, so that a reader never takes it for a reference label."""
    atoms = minimum.record.atoms()
    r = minimum.record
    nan = float("nan")
    info = {"energy" if labelled else "model_energy": r.energy,
            "energy_per_atom": minimum.energy_per_atom, "volume": minimum.volume,
            "spacegroup": minimum.spacegroup,
            "uncertainty": nan if minimum.uncertainty is None else minimum.uncertainty,
            "energy_std": nan if r.energy_std is None else r.energy_std,
            "max_forces_std": nan if r.max_forces_std is None else r.max_forces_std,
            "flagged": minimum.flagged, "rank": rank, "times_found": minimum.times_found,
            "first_trial": minimum.trials[0], "converged": r.converged,
            "config_type": "search_minimum"}
    atoms.info.update(info)
    return atoms

