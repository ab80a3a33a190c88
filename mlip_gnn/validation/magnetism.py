"""Magnetic orders per phase: each (lattice, order) cell relaxed with its moments held
fixed; energy per atom relative to the first order of the ground-state lattice (meV/atom)
and equilibrium volume per atom (Å³). For spin models (``model.spin: collinear``) and
references that read ``atoms.get_initial_magnetic_moments()``: FM vs AFM energies and the
magnetovolume effect (V_FM - V_AFM)."""

from __future__ import annotations

from typing import Dict, Tuple

from mlip_gnn.data.spin_lattice import ordered_moments
from mlip_gnn.validation.names import magnetic_names
from mlip_gnn.validation.result import Check, Measurement
from mlip_gnn.validation.structures import Bulk, lattice_structure, relax_cell

__all__ = ["measure_magnetism", "ordered_cell"]


def ordered_cell(element: str, lattice: str, volume: float, order: str, moment: float):
    """The cubic conventional cell of ``lattice`` at ``volume`` Å³/atom with the moments of
    ``order`` (:data:`mlip_gnn.data.spin_lattice.ORDERS`), ``moment`` μB in size."""
    atoms = lattice_structure(element, lattice, volume=volume, cubic=True)
    atoms.info["lattice"] = lattice
    atoms.set_initial_magnetic_moments(ordered_moments(atoms, order, moment))
    return atoms


def _relaxed(bulk: Bulk, calc, lattice: str, order: str) -> Tuple[float, float, bool]:
    """(E eV/atom, V Å³/atom, converged) of one order, relaxed at fixed moments."""
    spec = bulk.spec
    volume = bulk.primitive.get_volume() / len(bulk.primitive)
    atoms = ordered_cell(spec.element, lattice, volume, order, spec.magnetism.moment)
    atoms.calc = calc
    converged = relax_cell(atoms, spec.settings.relax.fmax, spec.settings.relax.steps)
    return (atoms.get_potential_energy() / len(atoms), atoms.get_volume() / len(atoms),
            converged)


def measure_magnetism(bulk: Bulk, calc) -> Measurement:
    """Energies (meV/atom, relative to the first order of the first lattice) and volumes
    (Å³/atom) of every lattice and magnetic order of the spec, relaxed at fixed moments."""
    result = Measurement()
    magnetism = bulk.spec.magnetism
    states: Dict[Tuple[str, str], Tuple[float, float, bool]] = {
        (lattice, order): _relaxed(bulk, calc, lattice, order)
        for lattice, orders in magnetism.orders.items() for order in orders}
    zero = states[magnetism.origin()][0]
    for (lattice, order), (energy, volume, converged) in states.items():
        energy_name, volume_name = magnetic_names(lattice, order)
        result.values[energy_name] = 1000.0 * (energy - zero)
        result.values[volume_name] = volume
        result.checks.append(Check("magnetism", converged, f"{lattice} {order}: relaxation "
                                   + ("converged" if converged else "did NOT reach fmax")))
    return result
