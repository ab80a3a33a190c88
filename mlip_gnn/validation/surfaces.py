"""Surface energies of low-index slabs: γ = (E_slab − N E_bulk) / 2A, J/m², relaxed slab,
bulk energy per atom from the relaxed bulk of the same calculator."""

from __future__ import annotations

from typing import Sequence

import numpy as np
from ase import units
from ase.build import surface

from mlip_gnn.validation.names import surface_name
from mlip_gnn.validation.result import Check, Measurement
from mlip_gnn.validation.structures import Bulk, relax_positions

__all__ = ["make_slab", "surface_energy", "measure_surfaces", "receptive_field"]

_J_PER_M2 = units.J / units.m ** 2  # eV/Å² per J/m²


def make_slab(conventional, miller: Sequence[int], layers: int, vacuum: float):
    """Slab of ``layers`` equivalent layers (ase.build.surface) cut from the conventional
    cell, ``vacuum`` Å on each side, periodic in all directions."""
    slab = surface(conventional, tuple(miller), layers, vacuum=vacuum, periodic=True)
    slab.pbc = True
    return slab


def surface_energy(slab, calc, energy_per_atom: float, fmax: float | None,
                   steps: int = 500):
    """(γ J/m², relaxation converged) of ``slab``; ``fmax`` None: unrelaxed."""
    slab = slab.copy()
    slab.calc = calc
    converged = True if fmax is None else relax_positions(slab, fmax, steps)
    area = float(np.linalg.norm(np.cross(slab.cell[0], slab.cell[1])))
    gamma = (slab.get_potential_energy() - len(slab) * energy_per_atom) / (2.0 * area)
    return float(gamma / _J_PER_M2), converged


def receptive_field(calc) -> float | None:
    """How far information travels in the model: layers × r_max (Å), where the calculator
    tells (mlip_gnn's own); None for others."""
    committee = getattr(calc, "committee", None)
    if committee is None:
        return None
    layers = max(int(m.spec.architecture.get("num_layers", 1)) for m in committee.members)
    return layers * float(committee.r_max)


def measure_surfaces(bulk: Bulk, calc) -> Measurement:
    """Relaxed surface energies (J/m²) of the spec's surfaces."""
    settings = bulk.spec.settings.surfaces
    result = Measurement()
    field = receptive_field(calc)
    if field is not None:
        result.checks.append(Check("surfaces", 2 * settings.vacuum > field,
                                   f"vacuum gap {2 * settings.vacuum:g} Å vs receptive field "
                                   f"{field:g} Å (layers × r_max)"))
    conventional = bulk.conventional()
    for miller in bulk.spec.surfaces:
        name = surface_name(miller)
        slab = make_slab(conventional, miller, settings.layers, settings.vacuum)
        gamma, converged = surface_energy(slab, calc, bulk.energy_per_atom, settings.fmax,
                                          settings.steps)
        result.values[name] = gamma
        result.checks.append(Check("surfaces", converged, f"{name}: {len(slab)}-atom slab, "
                                   "relaxation " + ("converged" if converged else
                                                    "did NOT reach fmax")))
        thinner = settings.layers - settings.thickness_check
        if settings.thickness_check and thinner >= 2:
            thick, _ = surface_energy(slab, calc, bulk.energy_per_atom, None)
            thin, _ = surface_energy(make_slab(conventional, miller, thinner, settings.vacuum),
                                     calc, bulk.energy_per_atom, None)
            change = abs(thick - thin) / max(abs(thick), 1e-12)
            result.checks.append(Check("surfaces", change < 0.01, f"{name}: unrelaxed γ "
                                       f"{thin:.4f} ({thinner} layers) vs {thick:.4f} "
                                       f"({settings.layers}): {100 * change:.2f} % apart"))
    return result
