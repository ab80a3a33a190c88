"""Crystal structures of a system, relaxations, and the relaxed bulk every later property
starts from."""

from __future__ import annotations

import dataclasses
import math
from typing import TYPE_CHECKING, Dict, Optional, Tuple

import numpy as np
from ase import Atoms
from ase.build import bulk
from ase.data import atomic_numbers, reference_states
from ase.filters import FrechetCellFilter
from ase.optimize import BFGS

if TYPE_CHECKING:
    from mlip_gnn.validation.system import SystemSpec

__all__ = ["IDEAL_C_OVER_A", "Bulk", "lattice_structure", "primitive_cell", "relax_cell",
           "relax_positions", "relax_bulk", "repeat_to", "volume_per_atom_guess"]

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


def lattice_structure(symbol: str, lattice: str, a: Optional[float] = None,
                      c_over_a: Optional[float] = None, cubic: bool = False,
                      volume: Optional[float] = None) -> Atoms:
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


def relax_cell(atoms: Atoms, fmax: float, steps: int) -> bool:
    """Relax positions and cell (all six strain components) with BFGS on a
    FrechetCellFilter; returns whether ``fmax`` (eV/Å) was reached."""
    return bool(BFGS(FrechetCellFilter(atoms), logfile=None).run(fmax=fmax, steps=steps))


def relax_positions(atoms: Atoms, fmax: float, steps: int) -> bool:
    """Relax positions at fixed cell with BFGS; returns whether ``fmax`` was reached."""
    if len(atoms) == 1:
        return True
    return bool(BFGS(atoms, logfile=None).run(fmax=fmax, steps=steps))


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
    a: Optional[float]
    c_over_a: Optional[float]
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
        if self.a is None:
            return {"volume_per_atom": self.primitive.get_volume() / len(self.primitive)}
        values = {"lattice_constant": self.a}
        if self.c_over_a is not None:
            values["c_over_a"] = self.c_over_a
        return values


def _lattice_constants(lattice: str, atoms: Atoms) -> Tuple[float, Optional[float]]:
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
