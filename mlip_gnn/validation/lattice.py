"""Equilibrium structure and equation of state: lattice constant(s) from the full cell
relaxation, and a Birch–Murnaghan fit of E(V) for B and B′."""

from __future__ import annotations

import numpy as np
from ase import units
from ase.eos import EquationOfState

from mlip_gnn.validation.result import Check, Measurement
from mlip_gnn.validation.structures import Bulk

__all__ = ["measure_lattice", "energy_volume", "birch_murnaghan", "birch_murnaghan_energy",
           "measure_eos"]


def measure_lattice(bulk: Bulk) -> Measurement:
    """Lattice constant a (Å; c/a for hcp) of the relaxed primitive cell."""
    checks = [Check("lattice", bulk.converged, "cell relaxation "
                    + ("converged" if bulk.converged else "did NOT reach fmax"))]
    return Measurement(values=bulk.lattice_values(), checks=checks)


def energy_volume(bulk: Bulk, calc, strain: float, points: int):
    """E(V) per atom of the relaxed primitive cell scaled isotropically by linear strains
    in [-strain, +strain]: (volumes [points] Å³/atom, energies [points] eV/atom)."""
    atoms0 = bulk.primitive
    n = len(atoms0)
    volumes, energies = [], []
    for s in np.linspace(-strain, strain, points):
        atoms = atoms0.copy()
        atoms.set_cell(atoms0.cell * (1.0 + s), scale_atoms=True)
        atoms.calc = calc
        volumes.append(atoms.get_volume() / n)
        energies.append(atoms.get_potential_energy() / n)
    return np.array(volumes), np.array(energies)


def birch_murnaghan(volumes: np.ndarray, energies: np.ndarray):
    """Third-order Birch–Murnaghan fit (Birch, Phys. Rev. 71, 809 (1947)) through ASE's
    EquationOfState: (V0 Å³, E0 eV, B0 GPa, B0′)."""
    eos = EquationOfState(volumes, energies, eos="birchmurnaghan")
    v0, e0, b0 = eos.fit()
    b_prime = float(eos.eos_parameters[2])
    return float(v0), float(e0), float(b0 / units.GPa), b_prime


def measure_eos(bulk: Bulk, calc) -> Measurement:
    """Bulk modulus B (GPa) and B′ from a Birch–Murnaghan fit of E(V)."""
    settings = bulk.spec.settings.eos
    volumes, energies = energy_volume(bulk, calc, settings.strain, settings.points)
    v0, e0, b0, b_prime = birch_murnaghan(volumes, energies)
    v_relaxed = bulk.primitive.get_volume() / len(bulk.primitive)
    shift = abs(v0 / v_relaxed - 1.0)
    checks = [Check("eos", shift < 1e-3, f"BM minimum V0 {v0:.4f} Å³/atom vs relaxed "
                    f"{v_relaxed:.4f} ({100 * shift:.3f} %)")]
    return Measurement(values={"bulk_modulus": b0, "bulk_modulus_derivative": b_prime},
                       curves={"eos": {"volume": volumes, "energy": energies, "v0": v0,
                                       "e0": e0, "b0": b0, "b_prime": b_prime}},
                       checks=checks)


def birch_murnaghan_energy(volume: np.ndarray, v0: float, e0: float, b0_gpa: float,
                           b_prime: float) -> np.ndarray:
    """Third-order Birch–Murnaghan E(V) (eV per the volume's unit), B0 in GPa."""
    b0 = b0_gpa * units.GPa
    x = (v0 / np.asarray(volume)) ** (2.0 / 3.0) - 1.0
    return e0 + 9.0 * v0 * b0 / 16.0 * (x ** 3 * b_prime + x ** 2 * (6.0 - 4.0 * (x + 1.0)))
