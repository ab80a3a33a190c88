"""A known spin-lattice model as an ASE calculator: the reference of the spin benchmark.

Collinear moments m_i (μB, ``atoms.get_initial_magnetic_moments()``) are held fixed;

    E = Σ_{i<j} φ(r_ij) + Σ_{i<j} J(r_ij) m_i m_j + Σ_i (a m_i² + b m_i⁴)

    φ(r) = D [(1 - exp(-α (r - r0)))² - 1] f_c(r)          Morse lattice part (eV)
    J(r) = (J1 + J2 (r - r0)) f_c(r)                       Heisenberg exchange (eV/μB²)
    f_c(r) = 1 for r < r_s, ½ (1 + cos π (r - r_s)/(r_c - r_s)) up to r_c, 0 beyond

a Morse solid (Girifalco & Weizer's iron parameters, Phys. Rev. 114, 687 (1959)) with a
distance-dependent Heisenberg term and a Landau on-site term (a < 0 < b, as in
Ma, Woo & Dudarev, Phys. Rev. B 78, 024434 (2008)). J1 < 0 favours parallel moments at
the nearest-neighbour distance; J2 < 0 makes the exchange stronger at longer bonds, so a
ferromagnet swells and an antiferromagnet shrinks (a magnetovolume effect).

Energies, forces (eV/Å), stress (eV/Å³, ASE sign) and ``magnetic_forces`` = -∂E/∂m_i
(eV/μB) are computed here in numpy over ASE's neighbour list, independently of the
model code; the tests check them against finite differences.
"""

from __future__ import annotations

import dataclasses
from typing import Tuple

import numpy as np
from ase.calculators.calculator import Calculator, all_changes
from ase.calculators.singlepoint import SinglePointCalculator
from ase.neighborlist import neighbor_list

__all__ = ["SpinLatticeParameters", "SpinLatticeCalculator", "ORDERS", "ordered_moments",
           "conventional_constant", "pair_terms", "cubic_cell", "REPEATS",
           "CENTRES", "PATTERNS", "random_moments", "spin_lattice_frames"]


@dataclasses.dataclass(frozen=True)
class SpinLatticeParameters:
    """D eV, alpha 1/Å, r0 Å; j1 eV/μB², j2 eV/(μB² Å); a eV/μB², b eV/μB⁴; r_s, r_c Å."""

    D: float = 0.4174
    alpha: float = 1.3885
    r0: float = 2.845
    j1: float = -0.012
    j2: float = -0.020
    a: float = -0.50
    b: float = 0.05
    r_s: float = 3.5
    r_c: float = 4.5


def _cutoff(r: np.ndarray, p: SpinLatticeParameters) -> Tuple[np.ndarray, np.ndarray]:
    """f_c(r) and df_c/dr, [e]."""
    x = np.clip((r - p.r_s) / (p.r_c - p.r_s), 0.0, 1.0)
    f = 0.5 * (1.0 + np.cos(np.pi * x))
    inside = (r > p.r_s) & (r < p.r_c)
    df = np.where(inside, -0.5 * np.pi / (p.r_c - p.r_s) * np.sin(np.pi * x), 0.0)
    return f, df


def pair_terms(r: np.ndarray, p: SpinLatticeParameters):
    """φ, dφ/dr (eV, eV/Å) and J, dJ/dr (eV/μB², eV/(μB² Å)) at distances r [e] Å."""
    fc, dfc = _cutoff(r, p)
    e = np.exp(-p.alpha * (r - p.r0))
    morse = p.D * ((1.0 - e) ** 2 - 1.0)
    dmorse = 2.0 * p.D * p.alpha * (1.0 - e) * e
    j = p.j1 + p.j2 * (r - p.r0)
    return (morse * fc, dmorse * fc + morse * dfc, j * fc, p.j2 * fc + j * dfc)


class SpinLatticeCalculator(Calculator):
    """ASE calculator of the model above: ``energy``, ``free_energy``, ``forces``,
    ``stress`` (periodic cells) and ``magnetic_forces`` (-∂E/∂m_i, eV/μB)."""

    implemented_properties = ["energy", "free_energy", "forces", "stress",
                              "magnetic_forces"]

    def __init__(self, parameters: SpinLatticeParameters = SpinLatticeParameters(),
                 **kwargs):
        super().__init__(**kwargs)
        self.p = parameters

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        """Energy, forces, stress (periodic cells) and -dE/dm of ``atoms`` with its initial
        magnetic moments."""
        super().calculate(atoms, properties, system_changes)
        atoms = self.atoms
        p = self.p
        m = np.asarray(atoms.get_initial_magnetic_moments(), dtype=np.float64)  # [n] μB
        i, j, d, vec = neighbor_list("ijdD", atoms, p.r_c)  # each pair twice
        phi, dphi, jr, djr = pair_terms(d, p)
        mm = m[i] * m[j]
        energy = 0.5 * np.sum(phi + jr * mm) + np.sum(p.a * m**2 + p.b * m**4)
        de_dr = 0.5 * (dphi + djr * mm)  # [e] eV/Å, half: both orders listed
        pair = (de_dr / d)[:, None] * vec  # dE/d(r_j - r_i) per listed pair
        forces = np.zeros((len(atoms), 3))
        np.add.at(forces, i, pair)
        np.add.at(forces, j, -pair)
        exchange = np.zeros(len(atoms))
        np.add.at(exchange, i, jr * m[j])  # Σ_j J(r_ij) m_j
        self.results = {"energy": float(energy), "free_energy": float(energy),
                        "forces": forces,
                        "magnetic_forces": -(exchange + 2 * p.a * m + 4 * p.b * m**3)}
        if atoms.pbc.all():
            virial = np.einsum("ea,eb->ab", pair, vec)  # Σ dE/dr ⊗ r = ∂E/∂ε
            stress = 0.5 * (virial + virial.T) / atoms.get_volume()
            self.results["stress"] = stress[[0, 1, 2, 1, 0, 0], [0, 1, 2, 2, 2, 1]]


#: collinear orders of a cubic cell: the sign of each atom's moment from its position in
#: units of the conventional lattice constant (s [n, 3]); FM all up, AFM the usual
#: checkerboard of bcc (B2: corner vs body centre) and the layered L1₀ order of fcc
#: (alternate (001) planes), which is the same rule: alternate planes a/2 apart along z
ORDERS = {
    "fm": lambda s: np.ones(len(s)),
    "afm": lambda s: np.where(np.round(2.0 * s[:, 2]).astype(int) % 2 == 0, 1.0, -1.0),
}


def ordered_moments(atoms, order: str, moment: float) -> np.ndarray:
    """Moments [n] μB of ``order`` (a key of :data:`ORDERS`) with size ``moment`` for an
    unstrained, unrattled cubic cell (see :func:`cubic_cell`)."""
    if order not in ORDERS:
        raise ValueError(f"order {order!r} is not one of {sorted(ORDERS)}")
    a = conventional_constant(atoms)
    return moment * ORDERS[order](atoms.get_positions() / a)


def conventional_constant(atoms) -> float:
    """Cubic conventional lattice constant of a bcc (2 atoms per cube) or fcc (4) cell,
    from ``atoms.info['lattice']`` ('bcc' / 'fcc') and the volume per atom."""
    per_cube = {"bcc": 2, "fcc": 4}[atoms.info["lattice"]]
    return float((atoms.get_volume() / len(atoms) * per_cube) ** (1.0 / 3.0))


#: supercells of the cubic conventional cell: 16 atoms each
REPEATS = {"bcc": (2, 2, 2), "fcc": (2, 2, 1)}


def cubic_cell(lattice: str, a: float):
    """A 16-atom bcc or fcc Fe cell of cubic constant ``a`` Å (``info['lattice']`` set)."""
    from ase.build import bulk

    if lattice not in REPEATS:
        raise ValueError(f"lattice {lattice!r} is not one of {sorted(REPEATS)}")
    atoms = bulk("Fe", lattice, a, cubic=True).repeat(REPEATS[lattice])
    atoms.info["lattice"] = lattice
    return atoms


#: cubic constants (Å) near each lattice's equilibrium in the reference
CENTRES = {"bcc": 2.87, "fcc": 3.81}
PATTERNS = ("fm", "afm", "random", "random_sizes")


def random_moments(atoms, pattern: str, rng: np.random.Generator) -> np.ndarray:
    """Moments [n] μB of ``pattern`` for a perfect cubic cell."""
    size = rng.uniform(1.4, 2.8)
    if pattern in ("fm", "afm"):
        return ordered_moments(atoms, pattern, size)
    signs = np.where(rng.random(len(atoms)) < rng.uniform(0.1, 0.9), 1.0, -1.0)
    if pattern == "random":
        return size * signs
    return signs * rng.uniform(1.4, 2.8, len(atoms))


def _frame(rng: np.random.Generator, calc: SpinLatticeCalculator):
    """One labelled frame."""
    lattice = str(rng.choice(sorted(CENTRES)))
    atoms = cubic_cell(lattice, CENTRES[lattice] * rng.uniform(0.94, 1.06))
    pattern = str(rng.choice(PATTERNS))
    atoms.set_initial_magnetic_moments(random_moments(atoms, pattern, rng))
    strain = rng.uniform(-0.015, 0.015, (3, 3))
    atoms.set_cell(atoms.cell @ (np.eye(3) + 0.5 * (strain + strain.T)), scale_atoms=True)
    atoms.positions += rng.normal(0.0, rng.uniform(0.02, 0.08), atoms.positions.shape)
    atoms.calc = calc
    results = {"energy": atoms.get_potential_energy(), "forces": atoms.get_forces(),
               "stress": atoms.get_stress()}
    atoms.arrays["magnetic_forces"] = calc.results["magnetic_forces"].copy()
    atoms.calc = SinglePointCalculator(atoms, **results)
    atoms.info["config_type"] = f"{lattice}_{pattern}"
    return atoms


def spin_lattice_frames(count: int, seed: int = 0) -> list:
    """``count`` labelled frames (deterministic for ``seed``): energy, forces and stress in
    ``atoms.calc``, moments as ``initial_magmoms``, -∂E/∂m as the array
    ``magnetic_forces``, ``info['config_type']`` = lattice_pattern."""
    rng = np.random.default_rng(seed)
    calc = SpinLatticeCalculator()
    return [_frame(rng, calc) for _ in range(count)]
