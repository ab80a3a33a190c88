"""Dataset statistics that set the model's normalisation: E0s, neighbour count, scales."""

from __future__ import annotations

from typing import Callable, Dict, Mapping, Sequence

import numpy as np

from mlip_gnn.data.configuration import Configuration
from mlip_gnn.data.errors import DataError
from mlip_gnn.data.graph import SpeciesTable

__all__ = ["reference_energies", "choose_reference_energies", "is_isolated_atom",
           "interaction_energy_per_atom", "force_rms", "average_num_neighbours"]


def _composition(configs: Sequence[Configuration], species: SpeciesTable) -> np.ndarray:
    counts = np.zeros((len(configs), len(species)))
    for row, conf in enumerate(configs):
        idx = species.index(conf.atomic_numbers, conf.source)
        counts[row] = np.bincount(idx, minlength=len(species))
    return counts


def is_isolated_atom(conf: Configuration) -> bool:
    """A frame of one atom with an energy, without PBC or with config_type
    ``isolated_atom`` (e.g. a DFT atom in a large periodic box): its energy is an E0."""
    isolated = not conf.pbc.any() or conf.config_type == "isolated_atom"
    return conf.num_atoms == 1 and conf.energy is not None and isolated


def choose_reference_energies(zs: Sequence[int], method: str | Mapping[int, float],
                              isolated: Mapping[int, float],
                              least_squares: Callable[[], np.ndarray]) -> Dict[int, float]:
    """E0 per atomic number in ``zs`` by ``method``: a mapping that must cover ``zs``,
    ``"isolated"`` (the isolated-atom energies found, keyed by atomic number) or
    ``"least_squares"`` (``least_squares()`` returns E0s in the order of ``zs``; it is
    called only then)."""
    if isinstance(method, Mapping):
        missing = [z for z in zs if z not in method]
        if missing:
            raise DataError(f"reference energies given for {sorted(method)} but the data "
                            f"also has atomic numbers {missing}")
        return {z: float(method[z]) for z in zs}
    if method == "isolated":
        missing = [z for z in zs if z not in isolated]
        if missing:
            raise DataError(f"e0s='isolated' but no isolated-atom frame (one atom, with an "
                            f"energy, no PBC or config_type 'isolated_atom') for atomic "
                            f"numbers {missing}")
        return {z: float(isolated[z]) for z in zs}
    if method != "least_squares":
        raise ValueError(f"unknown E0 method {method!r}; use 'least_squares', 'isolated' "
                         "or a mapping")
    return {z: float(e) for z, e in zip(zs, least_squares())}


def reference_energies(configs: Sequence[Configuration], species: SpeciesTable,
                       method: str | Mapping[int, float] = "least_squares"
                       ) -> Dict[int, float]:
    """Per-species reference energies E0 (eV), keyed by atomic number.

    ``method`` is ``"least_squares"`` (fit E ≈ Σ_s n_s E0_s over the labelled frames),
    ``"isolated"`` (frames of one atom, see :func:`is_isolated_atom`), or a mapping atomic
    number → eV that must cover every species.
    """
    def fit() -> np.ndarray:
        labelled = [c for c in configs if c.energy is not None]
        if not labelled:
            raise DataError("cannot fit reference energies: no frame has an energy")
        counts = _composition(labelled, species)
        energies = np.array([c.energy for c in labelled])
        # min-norm least squares: well defined even when compositions are collinear
        return np.linalg.lstsq(counts, energies, rcond=None)[0]

    isolated = {int(c.atomic_numbers[0]): c.energy for c in configs if is_isolated_atom(c)}
    return choose_reference_energies(species.atomic_numbers, method, isolated, fit)


def interaction_energy_per_atom(configs: Sequence[Configuration], species: SpeciesTable,
                                e0s: Mapping[int, float]) -> np.ndarray:
    """(E - Σ E0) / n for every frame with an energy, eV/atom."""
    e0 = np.array([e0s[z] for z in species.atomic_numbers])
    out = []
    for conf in configs:
        if conf.energy is not None:
            idx = species.index(conf.atomic_numbers, conf.source)
            out.append((conf.energy - e0[idx].sum()) / conf.num_atoms)
    return np.array(out)


def force_rms(configs: Sequence[Configuration]) -> float:
    """Root mean square of all force components, eV/Å (0 when no frame has forces)."""
    sq, n = 0.0, 0
    for conf in configs:
        if conf.forces is not None:
            sq += float(np.square(conf.forces).sum())
            n += conf.forces.size
    return float(np.sqrt(sq / n)) if n else 0.0


def average_num_neighbours(graphs: Sequence[Mapping]) -> float:
    """Mean number of neighbours within r_max per atom over a set of graphs."""
    from mlip_gnn.data import keys

    edges = sum(int(g[keys.EDGE_INDEX].shape[1]) for g in graphs)
    atoms = sum(int(g[keys.POSITIONS].shape[0]) for g in graphs)
    return edges / max(atoms, 1)
