"""Crystal structures of a system, relaxations, and the relaxed bulk every later property
starts from."""

from __future__ import annotations

import dataclasses
import math
from typing import TYPE_CHECKING, Dict, Tuple

import numpy as np
from ase import Atoms
from ase.build import bulk
from ase.data import atomic_numbers, reference_states
from ase.filters import FrechetCellFilter
from ase.optimize import BFGS

from mlip_gnn.errors import MlipGnnError

if TYPE_CHECKING:
    from mlip_gnn.validation.spec import SystemSpec

__all__ = ["IDEAL_C_OVER_A", "Bulk", "RelaxationCollapse", "lattice_structure",
           "primitive_cell", "relax_cell", "relax_positions", "relax_bulk", "repeat_to",
           "volume_per_atom_guess"]

IDEAL_C_OVER_A = math.sqrt(8.0 / 3.0)
_CUBIC = ("fcc", "bcc", "diamond", "sc")
#: volume per atom of a lattice with lattice constant a (hcp: with c/a), Å³
_VOLUME = {"fcc": lambda a, q: a ** 3 / 4, "bcc": lambda a, q: a ** 3 / 2,
           "diamond": lambda a, q: a ** 3 / 8, "sc": lambda a, q: a ** 3,
           "hcp": lambda a, q: a ** 3 * q * math.sqrt(3) / 4}


def volume_per_atom_guess(symbol: str) -> float:
    """Volume per atom of the element's reference state in ASE's table, Å³ (a starting
    point for relaxations; 20 Å³ where the table has no crystal)."""
    state = reference_states[atomic_numbers[symbol]] or {}
    lattice = state.get("symmetry")
    if lattice in _VOLUME and "a" in state:
        return _VOLUME[lattice](state["a"], state.get("c/a", IDEAL_C_OVER_A))
    return 20.0


def _a_for_volume(lattice: str, volume: float, c_over_a: float) -> float:
    return (volume / _VOLUME[lattice](1.0, c_over_a)) ** (1.0 / 3.0)


def lattice_structure(symbol: str, lattice: str, a: float | None = None,
                      c_over_a: float | None = None, cubic: bool = False,
                      volume: float | None = None) -> Atoms:
    """``lattice`` of ``symbol`` with lattice constant ``a`` (Å; default: the volume per
    atom ``volume`` or ASE's reference volume); ``cubic``: the conventional cubic cell."""
    q = c_over_a or IDEAL_C_OVER_A
    if a is None:
        a = _a_for_volume(lattice, volume or volume_per_atom_guess(symbol), q)
    if lattice == "hcp":
        return bulk(symbol, "hcp", a=a, c=q * a)
    return bulk(symbol, lattice, a=a, cubic=cubic and lattice in _CUBIC)


def primitive_cell(spec: SystemSpec) -> Atoms:
    """The starting (unrelaxed) primitive cell of the system's ground-state lattice."""
    if spec.structure_file is not None:
        from ase.io import read

        return read(spec.structure_file)
    return lattice_structure(spec.element, spec.lattice, spec.lattice_constant, spec.c_over_a)


class RelaxationCollapse(MlipGnnError, RuntimeError):
    """Raised when a relaxation runs away: the volume per atom falls below
    ``COLLAPSE_FRACTION`` of where it started, or two atoms come closer than that fraction
    of the shortest starting distance (a model with no repulsion at short range). A
    family's drivers report it as a failed check; for the ground state it ends the run
    (exit status 1)."""

    exit_status = 1


COLLAPSE_FRACTION = 0.5


def _shortest_distance(atoms: Atoms) -> float:
    if len(atoms) < 2:
        return math.inf
    distances = atoms.get_all_distances(mic=bool(atoms.pbc.any()))
    return float(distances[np.triu_indices(len(atoms), k=1)].min())


def _guarded_run(optimizer, atoms: Atoms, fmax: float, steps: int) -> bool:
    volume0 = atoms.get_volume() / len(atoms) if atoms.cell.rank == 3 else None
    shortest0 = _shortest_distance(atoms)
    converged = False
    for state in optimizer.irun(fmax=fmax, steps=steps):
        converged = state
        volume = atoms.get_volume() / len(atoms) if volume0 is not None else None
        if volume is not None and volume < COLLAPSE_FRACTION * volume0:
            raise RelaxationCollapse(f"volume per atom fell from {volume0:.3g} to "
                                     f"{volume:.3g} Å³")
        if _shortest_distance(atoms) < COLLAPSE_FRACTION * shortest0:
            raise RelaxationCollapse(f"two atoms came within {_shortest_distance(atoms):.3g} Å "
                                     f"(started at {shortest0:.3g} Å)")
    return bool(converged)


def relax_cell(atoms: Atoms, fmax: float, steps: int) -> bool:
    """Relax positions and cell (all six strain components) with BFGS on a
    FrechetCellFilter; returns whether ``fmax`` (eV/Å) was reached. Raises
    :class:`RelaxationCollapse` when the structure runs away."""
    return _guarded_run(BFGS(FrechetCellFilter(atoms), logfile=None), atoms, fmax, steps)


def relax_positions(atoms: Atoms, fmax: float, steps: int) -> bool:
    """Relax positions at fixed cell with BFGS; returns whether ``fmax`` was reached.
    Raises :class:`RelaxationCollapse` when atoms run into each other."""
    if len(atoms) == 1:
        return True
    return _guarded_run(BFGS(atoms, logfile=None), atoms, fmax, steps)


def repeat_to(atoms: Atoms, min_atoms: int) -> Atoms:
    """``atoms`` repeated n × n × n with the smallest n giving at least ``min_atoms``."""
    n = max(1, math.ceil((min_atoms / len(atoms)) ** (1.0 / 3.0) - 1e-9))
    return atoms.repeat((n, n, n))


@dataclasses.dataclass
class Bulk:
    """The relaxed ground state of one calculator: ``primitive`` (relaxed, calculator
    attached), lattice constant ``a`` (Å), ``c_over_a`` (hcp), energy per atom (eV)."""

    spec: SystemSpec
    primitive: Atoms
    a: float | None
    c_over_a: float | None
    energy_per_atom: float
    converged: bool

    def conventional(self) -> Atoms:
        """The conventional cell at the relaxed lattice constant (cubic for the cubic
        lattices, the 2-atom cell for hcp, the relaxed structure for a file), without a
        calculator."""
        if self.a is None:
            atoms = self.primitive.copy()
        else:
            atoms = lattice_structure(self.spec.element, self.spec.lattice, self.a,
                                      self.c_over_a, cubic=True)
        atoms.calc = None
        return atoms

    def lattice_values(self) -> Dict[str, float]:
        """Lattice constant (Å) and c/a, or the volume per atom (Å³) of a structure file."""
        if self.a is None:
            return {"volume_per_atom": self.primitive.get_volume() / len(self.primitive)}
        values = {"lattice_constant": self.a}
        if self.c_over_a is not None:
            values["c_over_a"] = self.c_over_a
        return values


def _lattice_constants(lattice: str, atoms: Atoms) -> Tuple[float, float | None]:
    """a (Å) and c/a of a relaxed primitive cell; cubic lattices from the volume, which
    holds for any small residual shear."""
    if lattice == "hcp":
        lengths = atoms.cell.lengths()
        a = float(np.mean(lengths[:2]))
        return a, float(lengths[2] / a)
    return _a_for_volume(lattice, atoms.get_volume() / len(atoms), 1.0), None


def relax_bulk(spec: SystemSpec, calc) -> Bulk:
    """Fully relax the system's primitive cell with ``calc``."""
    atoms = primitive_cell(spec)
    atoms.calc = calc
    relax = spec.settings.relax
    converged = relax_cell(atoms, relax.fmax, relax.steps)
    a, c_over_a = (None, None) if spec.structure_file is not None \
        else _lattice_constants(spec.lattice, atoms)
    energy = atoms.get_potential_energy() / len(atoms)
    return Bulk(spec, atoms, a, c_over_a, float(energy), converged)
