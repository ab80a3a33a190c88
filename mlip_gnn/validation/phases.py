"""Energy differences between phases after full relaxation of each, meV/atom, relative
to the system's named ground-state lattice (which need not be the lowest)."""

from __future__ import annotations

from mlip_gnn.validation.names import phase_name
from mlip_gnn.validation.result import Check, Measurement
from mlip_gnn.validation.structures import (Bulk, RelaxationCollapse, lattice_structure,
                                            relax_cell)

__all__ = ["phase_energy", "measure_phases"]


def phase_energy(bulk: Bulk, calc, phase: str):
    """(E/atom of the relaxed ``phase`` − E/atom of the relaxed ground state in meV,
    relaxation converged); the phase starts at the ground state's volume per atom."""
    volume = bulk.primitive.get_volume() / len(bulk.primitive)
    atoms = lattice_structure(bulk.spec.element, phase, volume=volume)
    atoms.calc = calc
    relax = bulk.spec.settings.relax
    converged = relax_cell(atoms, relax.fmax, relax.steps)
    energy = atoms.get_potential_energy() / len(atoms)
    return 1000.0 * float(energy - bulk.energy_per_atom), converged


def measure_phases(bulk: Bulk, calc) -> Measurement:
    """Energy of each phase of the spec relative to the named lattice, meV/atom."""
    result = Measurement()
    for phase in bulk.spec.phases:
        try:
            value, converged = phase_energy(bulk, calc, phase)
        except RelaxationCollapse as exc:
            result.values[phase_name(phase)] = float("nan")
            result.checks.append(Check("phases", False, f"{phase}: relaxation COLLAPSED, "
                                       f"no value ({exc})"))
            continue
        result.values[phase_name(phase)] = value
        result.checks.append(Check("phases", converged, f"{phase}: relaxation "
                                   + ("converged" if converged else "did NOT reach fmax")))
        if value < 0:
            result.checks.append(Check("phases", True, f"{phase} lies {-value:.3f} meV/atom "
                                       f"BELOW the named ground state {bulk.spec.lattice}"))
    return result
