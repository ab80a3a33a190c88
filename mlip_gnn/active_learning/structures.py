"""Starting structures: named structures from files or ``ase.build.bulk``, random strain
and rattle, seed frames for the first training set, and a held-out set made by MD with
the reference calculator."""

from __future__ import annotations

from typing import Dict, List

import numpy as np
from ase import Atoms, units

from mlip_gnn.errors import MlipGnnError

__all__ = ["StructureError", "build_structures", "strained", "rattled", "seed_frames",
           "reference_md_frames"]


class StructureError(MlipGnnError, ValueError):
    """Raised for a named structure that cannot be read or built."""


def build_structures(structures: Dict[str, object]) -> Dict[str, Atoms]:
    """name → Atoms for every :class:`~mlip_gnn.active_learning.schema.StructureConfig`."""
    from ase.build import bulk
    from ase.io import read

    out = {}
    for name, spec in structures.items():
        where = f"structures.{name}"
        try:
            if spec.file is not None:
                atoms = read(spec.file, index=spec.index)
            else:
                b = spec.bulk
                atoms = bulk(b.name, b.crystalstructure, a=b.a, c=b.c, cubic=b.cubic,
                             orthorhombic=b.orthorhombic)
        except Exception as err:  # ASE raises many kinds for an unreadable or bad input
            raise StructureError(f"{where}: cannot make the structure ({type(err).__name__}"
                                 f": {err})") from None
        atoms = atoms * tuple(spec.repeat)
        atoms.calc = None
        atoms.info = {"structure": name}
        out[name] = atoms
    return out


def strained(atoms: Atoms, max_strain: float, rng: np.random.Generator) -> Atoms:
    """A copy whose cell (and atoms with it) is deformed by I + ε, ε symmetric with
    components uniform in [-max_strain, max_strain]; non-periodic rows are kept."""
    out = atoms.copy()
    if max_strain == 0.0 or not atoms.pbc.any():
        return out
    eps = rng.uniform(-max_strain, max_strain, (3, 3))
    eps = 0.5 * (eps + eps.T)
    eps[~atoms.pbc, :] = eps[:, ~atoms.pbc] = 0.0
    out.set_cell(atoms.cell.array @ (np.eye(3) + eps), scale_atoms=True)
    return out


def rattled(atoms: Atoms, std: float, rng: np.random.Generator) -> Atoms:
    """A copy with Gaussian displacements of ``std`` Å on every coordinate."""
    out = atoms.copy()
    out.positions = out.positions + rng.normal(0.0, std, out.positions.shape)
    return out


def seed_frames(templates: List[Atoms], count: int, rattle: float, strain: float,
                rng: np.random.Generator) -> List[Atoms]:
    """``count`` strained, rattled copies of ``templates`` in turn (unlabelled)."""
    frames = []
    for i in range(count):
        frame = rattled(strained(templates[i % len(templates)], strain, rng), rattle, rng)
        frame.info = {**frame.info, "config_type": "initial"}
        frames.append(frame)
    return frames


def reference_md_frames(atoms: Atoms, calculator, temperature_K: float, frames: int,
                        equilibration_steps: int, interval: int, timestep_fs: float,
                        seed: int) -> List[Atoms]:
    """``frames`` snapshots, ``interval`` steps apart after ``equilibration_steps``, of
    Langevin MD (friction 0.01/fs) at ``temperature_K`` driven by the reference
    ``calculator``; unlabelled copies (the labeller labels them)."""
    from mlip_gnn.md import MDSettings, prepare_velocities
    from mlip_gnn.md.run import ENSEMBLES

    work = atoms.copy()
    work.calc = calculator
    settings = MDSettings(ensemble="langevin", temperature_K=temperature_K,
                          timestep_fs=timestep_fs, seed=seed)
    prepare_velocities(work, temperature_K, seed)
    dyn = ENSEMBLES["langevin"](work, settings)
    dyn.run(equilibration_steps)
    out = []
    for i in range(frames):
        dyn.run(interval)
        frame = Atoms(numbers=work.numbers, positions=work.get_positions(wrap=True),
                      cell=work.cell, pbc=work.pbc)
        time_ps = (equilibration_steps + (i + 1) * interval) * timestep_fs * units.fs
        frame.info = {"config_type": f"heldout_{temperature_K:g}K",
                      "time_ps": time_ps / (1000.0 * units.fs)}
        out.append(frame)
    return out
