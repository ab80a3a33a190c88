"""A tiny EMT-labelled Cu data set, for tests anywhere in the suite.

(A plain module, imported by name from the tests folder, like ``model_support``.)
"""

from pathlib import Path

import numpy as np


def rattled_cu_frames(count: int, seed: int = 0, rattle: float = 0.08,
                      stress: bool = False) -> list:
    """Fcc Cu cells of 4 atoms, each coordinate rattled by ``rattle`` Å (Gaussian), with
    EMT's energy and forces (and 3x3 stress) stored as labels."""
    from ase.build import bulk
    from ase.calculators.emt import EMT
    from ase.calculators.singlepoint import SinglePointCalculator

    rng = np.random.default_rng(seed)
    frames = []
    for _ in range(count):
        atoms = bulk("Cu", "fcc", a=3.6, cubic=True)
        atoms.positions += rng.normal(0.0, rattle, atoms.positions.shape)
        atoms.calc = EMT()
        results = {"energy": atoms.get_potential_energy(), "forces": atoms.get_forces()}
        if stress:
            results["stress"] = atoms.get_stress(voigt=False)
        atoms.calc = SinglePointCalculator(atoms, **results)
        frames.append(atoms)
    return frames


def write_frames(path: Path, n_frames: int = 6, seed: int = 0, rattle: float = 0.08) -> Path:
    """:func:`rattled_cu_frames` written to ``path`` (extended XYZ)."""
    from ase.io import write

    write(path, rattled_cu_frames(n_frames, seed, rattle), format="extxyz")
    return path
