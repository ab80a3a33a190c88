"""Elastic constants by stress–strain central differences with relaxed ions at fixed cell.

Voigt order xx, yy, zz, yz, xz, xy; a shear strain is the engineering strain γ = 2ε, so
C_ij = ∂σ_i/∂e_j with σ the ASE stress (positive = tensile), in GPa.
"""

from __future__ import annotations

from typing import Dict, List

import numpy as np
from ase import Atoms, units

from mlip_gnn.validation.names import elastic_names
from mlip_gnn.validation.result import Check, Measurement
from mlip_gnn.validation.structures import Bulk, relax_positions

__all__ = ["voigt_strain_matrix", "elastic_tensor", "reduce_elastic", "born_stable",
           "measure_elastic"]

#: equivalent Voigt index pairs (0-based) behind each reported constant
_CUBIC = {"C11": [(0, 0), (1, 1), (2, 2)], "C12": [(0, 1), (0, 2), (1, 2)],
          "C44": [(3, 3), (4, 4), (5, 5)]}
_HEXAGONAL = {"C11": [(0, 0), (1, 1)], "C12": [(0, 1)], "C13": [(0, 2), (1, 2)],
              "C33": [(2, 2)], "C44": [(3, 3), (4, 4)]}


def voigt_strain_matrix(e: np.ndarray) -> np.ndarray:
    """Symmetric 3×3 strain of a Voigt 6-vector with engineering shears ([6] → [3, 3])."""
    return np.array([[e[0], e[5] / 2, e[4] / 2],
                     [e[5] / 2, e[1], e[3] / 2],
                     [e[4] / 2, e[3] / 2, e[2]]])


def _strained_stress(atoms: Atoms, calc, e: np.ndarray, fmax: float, steps: int):
    strained = atoms.copy()
    strained.set_cell(atoms.cell[:] @ (np.eye(3) + voigt_strain_matrix(e)), scale_atoms=True)
    strained.calc = calc
    converged = relax_positions(strained, fmax, steps)
    return strained.get_stress(voigt=True), converged


def elastic_tensor(atoms: Atoms, calc, strain: float, fmax: float = 1e-4,
                   steps: int = 200):
    """6×6 elastic tensor (GPa) of ``atoms`` (relaxed, any cell) by central differences
    of the stress at Voigt strains ±``strain``, ions relaxed to ``fmax`` (eV/Å) at fixed
    cell; and whether every ionic relaxation converged."""
    tensor = np.zeros((6, 6))
    converged = True
    for j in range(6):
        e = np.zeros(6)
        e[j] = strain
        plus, ok_plus = _strained_stress(atoms, calc, e, fmax, steps)
        minus, ok_minus = _strained_stress(atoms, calc, -e, fmax, steps)
        tensor[:, j] = (plus - minus) / (2.0 * strain) / units.GPa
        converged = converged and ok_plus and ok_minus
    return tensor, converged


def _groups(lattice: str) -> Dict[str, List[tuple]]:
    if lattice == "hcp":
        return _HEXAGONAL
    if lattice in ("fcc", "bcc", "diamond", "sc"):
        return _CUBIC
    return {name: [(int(name[1]) - 1, int(name[2]) - 1)] for name in elastic_names(lattice)}


def reduce_elastic(tensor: np.ndarray, lattice: str):
    """The reported constants (averages over symmetry-equivalent entries of the
    symmetrised tensor) and the largest deviation from the lattice's symmetry, GPa."""
    sym = 0.5 * (tensor + tensor.T)
    values, deviation = {}, float(np.max(np.abs(tensor - tensor.T)))
    covered = np.zeros((6, 6), dtype=bool)
    for name, pairs in _groups(lattice).items():
        entries = np.array([sym[i, j] for i, j in pairs])
        values[name] = float(entries.mean())
        deviation = max(deviation, float(np.max(np.abs(entries - entries.mean()))))
        for i, j in pairs:
            covered[i, j] = covered[j, i] = True
    if lattice == "hcp":  # C66 = (C11 - C12)/2 in a hexagonal crystal
        deviation = max(deviation, abs(sym[5, 5] - 0.5 * (values["C11"] - values["C12"])))
        covered[5, 5] = True
    if lattice in ("fcc", "bcc", "diamond", "sc", "hcp"):
        deviation = max(deviation, float(np.max(np.abs(sym[~covered]), initial=0.0)))
    return values, deviation


def born_stable(tensor: np.ndarray) -> bool:
    """Born stability of any crystal: the symmetrised tensor is positive definite
    (Mouhat & Coudert, Phys. Rev. B 90, 224104 (2014))."""
    return bool(np.all(np.linalg.eigvalsh(0.5 * (tensor + tensor.T)) > 0.0))


def measure_elastic(bulk: Bulk, calc) -> Measurement:
    """Elastic constants C_ij (GPa) of the relaxed bulk, with the Born stability check."""
    settings = bulk.spec.settings.elastic
    tensor, converged = elastic_tensor(bulk.conventional(), calc, settings.strain,
                                       settings.fmax, settings.steps)
    values, deviation = reduce_elastic(tensor, bulk.spec.lattice)
    scale = float(np.max(np.abs(tensor))) or 1.0
    b_voigt = float((np.trace(tensor[:3, :3]) + 2 * (tensor[0, 1] + tensor[0, 2]
                                                    + tensor[1, 2])) / 9.0)
    checks = [
        Check("elastic", born_stable(tensor), "Born stability (positive definite C): "
              + ("stable" if born_stable(tensor) else "UNSTABLE")),
        Check("elastic", deviation <= 0.01 * scale, f"largest deviation from the lattice "
              f"symmetry {deviation:.3g} GPa ({100 * deviation / scale:.2f} % of max |C|)"),
        Check("elastic", converged, "ionic relaxations at fixed cell "
              + ("converged" if converged else "did NOT all reach fmax")),
    ]
    return Measurement(values=values, checks=checks,
                       curves={"elastic": {"tensor": tensor, "bulk_modulus_voigt": b_voigt}})
