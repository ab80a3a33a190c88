"""A tiny EMT-labelled Cu data set, for tests anywhere in the suite.

(A plain module, imported by name from the tests folder, like ``model_support``.)
"""

from pathlib import Path

import numpy as np


def write_frames(path: Path, n_frames: int = 6, seed: int = 0) -> Path:
    from ase.build import bulk
    from ase.calculators.emt import EMT
    from ase.calculators.singlepoint import SinglePointCalculator
    from ase.io import write

    rng = np.random.default_rng(seed)
    frames = []
    for _ in range(n_frames):
        atoms = bulk("Cu", "fcc", a=3.6, cubic=True)
        atoms.positions += rng.normal(0.0, 0.08, atoms.positions.shape)
        atoms.calc = EMT()
        results = {"energy": atoms.get_potential_energy(), "forces": atoms.get_forces()}
        atoms.calc = SinglePointCalculator(atoms, **results)
        frames.append(atoms)
    write(path, frames, format="extxyz")
    return path
