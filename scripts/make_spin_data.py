"""Frames of a known spin-lattice model (:mod:`mlip_gnn.data.spin_lattice`) for the spin
benchmark and ``configs/spin.yaml``.

16-atom bcc and fcc Fe-like cells, their cubic constant spread ±6 % around each lattice's
equilibrium, a random symmetric strain (≤ 1.5 %) and thermal-like rattling (0.02-0.08 Å),
with collinear moments in one of four patterns: ferromagnetic, antiferromagnetic (B2 /
L1₀), random signs with a random share of up moments, and random signs with per-atom
sizes. Sizes 1.4-2.8 μB. Written as extended XYZ with energy, forces, stress,
``initial_magmoms`` (μB) and ``magnetic_forces`` (-∂E/∂m, eV/μB).

    python scripts/make_spin_data.py --train 400 --test 120 --out data/generated/spin
"""

from __future__ import annotations

import argparse
from pathlib import Path

import ase.io
import numpy as np
from ase.calculators.singlepoint import SinglePointCalculator

from mlip_gnn.data.spin_lattice import SpinLatticeCalculator, cubic_cell, ordered_moments

#: cubic constants (Å) near each lattice's equilibrium in the reference
CENTRES = {"bcc": 2.87, "fcc": 3.81}
PATTERNS = ("fm", "afm", "random", "random_sizes")


def moments(atoms, pattern: str, rng: np.random.Generator) -> np.ndarray:
    """Moments [n] μB of ``pattern`` for a perfect cubic cell."""
    size = rng.uniform(1.4, 2.8)
    if pattern in ("fm", "afm"):
        return ordered_moments(atoms, pattern, size)
    signs = np.where(rng.random(len(atoms)) < rng.uniform(0.1, 0.9), 1.0, -1.0)
    if pattern == "random":
        return size * signs
    return signs * rng.uniform(1.4, 2.8, len(atoms))


def frame(rng: np.random.Generator, calc: SpinLatticeCalculator):
    """One labelled frame."""
    lattice = str(rng.choice(sorted(CENTRES)))
    atoms = cubic_cell(lattice, CENTRES[lattice] * rng.uniform(0.94, 1.06))
    pattern = str(rng.choice(PATTERNS))
    atoms.set_initial_magnetic_moments(moments(atoms, pattern, rng))
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


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train", type=int, default=400, help="training frames")
    parser.add_argument("--test", type=int, default=120, help="test frames")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="data/generated/spin", help="output prefix")
    args = parser.parse_args(argv)
    rng = np.random.default_rng(args.seed)
    calc = SpinLatticeCalculator()
    for name, count in (("train", args.train), ("test", args.test)):
        path = Path(f"{args.out}_{name}.xyz")
        path.parent.mkdir(parents=True, exist_ok=True)
        ase.io.write(path, [frame(rng, calc) for _ in range(count)], format="extxyz")
        print(f"{path}: {count} frames")


if __name__ == "__main__":
    main()
