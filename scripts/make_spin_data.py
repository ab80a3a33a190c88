"""Frames of a known spin-lattice model (:mod:`mlip_gnn.data.spin_lattice`) for the spin
benchmark and ``configs/spin.yaml`` (:func:`~mlip_gnn.data.spin_lattice.spin_lattice_frames`):
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

from mlip_gnn.data.spin_lattice import spin_lattice_frames


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train", type=int, default=400, help="training frames")
    parser.add_argument("--test", type=int, default=120, help="test frames")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="data/generated/spin", help="output prefix")
    args = parser.parse_args(argv)
    frames = spin_lattice_frames(args.train + args.test, args.seed)
    for name, part in (("train", frames[:args.train]), ("test", frames[args.train:])):
        path = Path(f"{args.out}_{name}.xyz")
        path.parent.mkdir(parents=True, exist_ok=True)
        ase.io.write(path, part, format="extxyz")
        print(f"{path}: {len(part)} frames")


if __name__ == "__main__":
    main()
