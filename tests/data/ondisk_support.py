"""Small EMT Cu files: with config types and an isolated atom, or with a NaN frame."""

from pathlib import Path

import numpy as np

from emt_support import write_frames



def write_cu(path: Path, n_frames: int, seed: int) -> Path:
    """EMT Cu frames of three config types: an isolated atom (no cell, no stress), then
    rattled 4-atom cells ("bulk") and 8-atom cells ("hot") with energy, forces and stress."""
    from ase import Atoms
    from ase.build import bulk
    from ase.calculators.emt import EMT
    from ase.calculators.singlepoint import SinglePointCalculator
    from ase.io import write

    rng = np.random.default_rng(seed)
    frames = []
    for i in range(n_frames):
        if i == 0:
            atoms, kind = Atoms("Cu", positions=[[0.0, 0.0, 0.0]]), "isolated_atom"
        elif i % 2:
            atoms, kind = bulk("Cu", "fcc", a=3.6, cubic=True), "bulk"
        else:
            atoms, kind = bulk("Cu", "fcc", a=3.6) * (2, 2, 2), "hot"
        atoms.positions += rng.normal(0.0, 0.08 if i else 0.0, atoms.positions.shape)
        atoms.info["config_type"] = kind
        atoms.calc = EMT()
        results = {"energy": atoms.get_potential_energy(), "forces": atoms.get_forces()}
        if i:
            results["stress"] = atoms.get_stress()
        atoms.calc = SinglePointCalculator(atoms, **results)
        frames.append(atoms)
    write(path, frames, format="extxyz")
    return path


def write_rattled_cu(path: Path, n_frames: int, seed: int) -> Path:
    """Rattled fcc Cu cells of 4 atoms labelled by EMT: quick to make in numbers."""
    return write_frames(path, n_frames, seed, rattle=0.05)


def write_with_bad_frame(path: Path, bad: int, n_frames: int = 6, seed: int = 3) -> Path:
    """EMT Cu frames whose frame ``bad`` has a NaN energy."""
    from ase.io import read, write

    frames = read(write_rattled_cu(path, n_frames, seed), ":")
    frames[bad].calc.results["energy"] = float("nan")
    write(path, frames, format="extxyz")
    return path


def assert_same_tree(a: Path, b: Path) -> None:
    """Same files with the same bytes under both directories."""
    files_a = sorted(p.relative_to(a) for p in a.rglob("*") if p.is_file())
    files_b = sorted(p.relative_to(b) for p in b.rglob("*") if p.is_file())
    assert files_a == files_b
    for rel in files_a:
        assert (a / rel).read_bytes() == (b / rel).read_bytes(), rel


def same_configuration(x, y) -> bool:
    same = (np.array_equal(x.atomic_numbers, y.atomic_numbers)
            and np.array_equal(x.positions, y.positions) and np.array_equal(x.cell, y.cell)
            and np.array_equal(x.pbc, y.pbc) and x.energy == y.energy
            and x.weight == y.weight and x.config_type == y.config_type)
    for name in ("forces", "stress"):
        u, v = getattr(x, name), getattr(y, name)
        same = same and ((u is None and v is None)
                         or (u is not None and v is not None and np.array_equal(u, v)))
    return same
