"""Additive dataset statistics: what the trainer needs, gathered in one pass and mergeable.

A :class:`DatasetStatistics` holds sums, not results: shards of a dataset are summarised in
parallel and merged, and a training run derives the E0s, the mean per-atom energy, the
force RMS and the average neighbour count from the merged sums without reading the frames.
The least-squares E0 fit keeps its normal equations (AᵀA, Aᵀb over the atom counts A of
the labelled frames); solving them with a min-norm least-squares solver gives the same E0s
as fitting A directly (A⁺ = (AᵀA)⁺Aᵀ).
"""

from __future__ import annotations

import dataclasses
from typing import Dict, List, Mapping

import numpy as np

from mlip_gnn.data.configuration import Configuration
from mlip_gnn.data.errors import DataError
from mlip_gnn.data.statistics import choose_reference_energies, is_isolated_atom

__all__ = ["DatasetStatistics", "LABELS"]

LABELS = ("energy", "forces", "stress")


@dataclasses.dataclass
class DatasetStatistics:
    """Sums over frames. Atomic numbers index every per-species field (``zs`` sorted)."""

    zs: List[int] = dataclasses.field(default_factory=list)
    num_frames: int = 0
    num_atoms: int = 0
    atoms_per_species: List[int] = dataclasses.field(default_factory=list)  # [S]
    labelled: Dict[str, int] = dataclasses.field(
        default_factory=lambda: {label: 0 for label in LABELS})
    ata: List[List[float]] = dataclasses.field(default_factory=list)  # [S, S] Σ n_s n_t
    atb: List[float] = dataclasses.field(default_factory=list)  # [S] Σ n_s E, eV
    energy_per_atom_sum: float = 0.0  # Σ E / n, eV
    fraction_sum: List[float] = dataclasses.field(default_factory=list)  # [S] Σ n_s / n
    isolated: Dict[int, float] = dataclasses.field(default_factory=dict)  # Z → eV
    force_sq_sum: float = 0.0  # Σ F², (eV/Å)²
    force_components: int = 0
    num_edges: int = 0  # directed pairs within r_max
    r_max: float | None = None  # Å, cutoff of num_edges (None: not counted)

    # --- accumulation --------------------------------------------------------------------
    def _grow(self, zs) -> None:
        """Extend the species axis to include ``zs``."""
        new = sorted(set(self.zs) | {int(z) for z in zs})
        if new == self.zs:
            return
        where = [new.index(z) for z in self.zs]
        size = len(new)
        ata = np.zeros((size, size))
        ata[np.ix_(where, where)] = np.asarray(self.ata).reshape(len(where), len(where))
        vectors = {}
        for name in ("atoms_per_species", "atb", "fraction_sum"):
            grown = np.zeros(size)
            grown[where] = getattr(self, name)
            vectors[name] = grown
        self.zs, self.ata = new, ata.tolist()
        self.atoms_per_species = [int(v) for v in vectors["atoms_per_species"]]
        self.atb, self.fraction_sum = vectors["atb"].tolist(), vectors["fraction_sum"].tolist()

    def add(self, conf: Configuration, num_edges: int | None = None) -> None:
        """Add one frame (``num_edges``: its directed pairs within :attr:`r_max`)."""
        self._grow(np.unique(conf.atomic_numbers))
        counts = np.array([(conf.atomic_numbers == z).sum() for z in self.zs], dtype=float)
        n = conf.num_atoms
        self.num_frames += 1
        self.num_atoms += n
        self.atoms_per_species = [int(a + c) for a, c in zip(self.atoms_per_species, counts)]
        if conf.energy is not None:
            self.labelled["energy"] += 1
            self.ata = (np.asarray(self.ata) + np.outer(counts, counts)).tolist()
            self.atb = (np.asarray(self.atb) + counts * conf.energy).tolist()
            self.energy_per_atom_sum += conf.energy / n
            self.fraction_sum = (np.asarray(self.fraction_sum) + counts / n).tolist()
            if is_isolated_atom(conf):
                self.isolated[int(conf.atomic_numbers[0])] = float(conf.energy)
        if conf.forces is not None:
            self.labelled["forces"] += 1
            self.force_sq_sum += float(np.square(conf.forces).sum())
            self.force_components += conf.forces.size
        if conf.stress is not None:
            self.labelled["stress"] += 1
        if num_edges is not None:
            self.num_edges += int(num_edges)

    def merge(self, other: DatasetStatistics) -> DatasetStatistics:
        """The statistics of both sets of frames (``self`` first: its isolated-atom
        energies are overridden by ``other``'s, as a later frame overrides an earlier)."""
        if self.r_max != other.r_max and self.num_frames and other.num_frames:
            raise DataError(f"cannot merge statistics counted at r_max {self.r_max} and "
                            f"{other.r_max} Å")
        out = dataclasses.replace(self, labelled=dict(self.labelled),
                                  isolated=dict(self.isolated))
        out._grow(other.zs)
        where = [out.zs.index(z) for z in other.zs]
        ata = np.asarray(out.ata)
        ata[np.ix_(where, where)] += np.asarray(other.ata).reshape(len(where), len(where))
        vectors = {name: np.asarray(getattr(out, name), dtype=float)
                   for name in ("atoms_per_species", "atb", "fraction_sum")}
        for name, vector in vectors.items():
            vector[where] += getattr(other, name)
        out.ata, out.atb = ata.tolist(), vectors["atb"].tolist()
        out.fraction_sum = vectors["fraction_sum"].tolist()
        out.atoms_per_species = [int(v) for v in vectors["atoms_per_species"]]
        out.num_frames += other.num_frames
        out.num_atoms += other.num_atoms
        out.labelled = {k: out.labelled[k] + other.labelled[k] for k in LABELS}
        out.energy_per_atom_sum += other.energy_per_atom_sum
        out.isolated.update(other.isolated)
        out.force_sq_sum += other.force_sq_sum
        out.force_components += other.force_components
        out.num_edges += other.num_edges
        out.r_max = other.r_max if out.r_max is None else out.r_max
        return out

    def minus(self, other: DatasetStatistics) -> DatasetStatistics:
        """The statistics of this set of frames without ``other``, a subset of it. Species
        left without atoms are dropped; the isolated-atom energies are kept as they are
        (the caller knows which single-atom frames remain)."""
        if not set(other.zs) <= set(self.zs):
            raise ValueError(f"species {other.zs} are not a subset of {self.zs}")
        where = [self.zs.index(z) for z in other.zs]
        ata = np.asarray(self.ata, dtype=float).reshape(len(self.zs), len(self.zs))
        ata[np.ix_(where, where)] -= np.asarray(other.ata).reshape(len(where), len(where))
        vectors = {name: np.asarray(getattr(self, name), dtype=float)
                   for name in ("atoms_per_species", "atb", "fraction_sum")}
        for name, vector in vectors.items():
            vector[where] -= getattr(other, name)
        keep = np.flatnonzero(vectors["atoms_per_species"] > 0)
        return DatasetStatistics(
            zs=[self.zs[k] for k in keep], num_frames=self.num_frames - other.num_frames,
            num_atoms=self.num_atoms - other.num_atoms,
            atoms_per_species=[int(v) for v in vectors["atoms_per_species"][keep]],
            labelled={k: self.labelled[k] - other.labelled[k] for k in LABELS},
            ata=ata[np.ix_(keep, keep)].tolist(), atb=vectors["atb"][keep].tolist(),
            energy_per_atom_sum=self.energy_per_atom_sum - other.energy_per_atom_sum,
            fraction_sum=vectors["fraction_sum"][keep].tolist(),
            isolated=dict(self.isolated), force_sq_sum=self.force_sq_sum - other.force_sq_sum,
            force_components=self.force_components - other.force_components,
            num_edges=self.num_edges - other.num_edges, r_max=self.r_max)

    # --- results -------------------------------------------------------------------------
    def reference_energies(self, method: str | Mapping[int, float] = "least_squares"
                           ) -> Dict[int, float]:
        """E0 per atomic number, eV; ``method`` as in
        :func:`mlip_gnn.data.reference_energies`."""
        def fit() -> np.ndarray:
            if not self.labelled["energy"]:
                raise DataError("cannot fit reference energies: no frame has an energy")
            return np.linalg.lstsq(np.asarray(self.ata), np.asarray(self.atb), rcond=None)[0]

        return choose_reference_energies(self.zs, method, self.isolated, fit)

    def mean_interaction_energy(self, e0s: Mapping[int, float]) -> float:
        """Mean over labelled frames of (E - Σ E0) / n, eV/atom (0 without energies)."""
        if not self.labelled["energy"]:
            return 0.0
        e0 = np.array([e0s[z] for z in self.zs])
        total = self.energy_per_atom_sum - float(np.dot(self.fraction_sum, e0))
        return total / self.labelled["energy"]

    def force_rms(self) -> float:
        """RMS of all force components, eV/Å (0 when no frame has forces)."""
        if not self.force_components:
            return 0.0
        return float(np.sqrt(self.force_sq_sum / self.force_components))

    def average_num_neighbours(self) -> float:
        """Mean number of neighbours within :attr:`r_max` per atom."""
        if self.r_max is None:
            raise DataError("neighbour counts were not recorded for these statistics")
        return self.num_edges / max(self.num_atoms, 1)

    # --- (de)serialisation -----------------------------------------------------------------
    def to_dict(self) -> dict:
        """Plain JSON-ready values (atomic numbers as string keys)."""
        out = dataclasses.asdict(self)
        out["isolated"] = {str(z): e for z, e in self.isolated.items()}
        return out

    @classmethod
    def from_dict(cls, data: Mapping) -> DatasetStatistics:
        """The statistics written by :meth:`to_dict`."""
        data = dict(data)
        data["isolated"] = {int(z): float(e) for z, e in data.get("isolated", {}).items()}
        return cls(**data)
