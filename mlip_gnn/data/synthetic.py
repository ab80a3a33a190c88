"""The project's own quickstart data set: fcc Cu labelled with ASE's EMT potential.

EMT (effective medium theory, Jacobsen, Stoltze & Nørskov, Surf. Sci. 366, 394 (1996))
is cheap, smooth and many-body, so it stands in for DFT: every frame carries an
energy (eV), forces (eV/Å) and, for periodic frames, a stress (eV/Å³, ASE sign
convention, positive = tensile), written by extxyz as ``energy``, ``forces`` and
``stress``. ``atoms.info["config_type"]`` names the kind of frame:

- ``strained_bulk``: 1- to 32-atom cells under random symmetric strain (≤ 3 %) with
  small random displacements; most are narrower than 2·r_max for r_max = 5 Å, and the
  1-atom cell (2.1 Å wide) is narrower than r_max itself,
- ``vacancy``: supercells with one atom removed,
- ``surface``: (111) slabs with pbc (T, T, F) and (100) slabs with pbc (T, T, T), each
  with vacuum along z,
- ``md_<T>K``: decorrelated Langevin snapshots from 300 K to above EMT Cu's melting
  point (~1400 K),
- ``isolated_atom``: one Cu atom in a big non-periodic box (no stress), for E0 tests.

Only numpy and ASE are needed; the output is deterministic for a given seed.

Example::

    >>> frames = generate_cu_emt_dataset(n_frames=12, md_temperatures=(300,))
    >>> sorted({f.info["config_type"] for f in frames})
    ['isolated_atom', 'md_300K', 'strained_bulk', 'surface', 'vacancy']
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
from ase import Atoms, units
from ase.build import bulk, fcc100, fcc111
from ase.calculators.emt import EMT
from ase.calculators.singlepoint import SinglePointCalculator
from ase.constraints import FixCom
from ase.io import write
from ase.md.langevin import Langevin
from ase.md.velocitydistribution import Stationary

from mlip_gnn.utils.files import atomic_write

__all__ = ["generate_cu_emt_dataset", "write_cu_emt_dataset", "dataset_summary"]

A0_EMT_CU = 3.59  # Å, EMT equilibrium fcc lattice constant of Cu (zero stress)
DEFAULT_N_FRAMES = 200
DEFAULT_MD_TEMPERATURES = (300, 800, 1400, 2000)  # K

_MAX_STRAIN = 0.03  # largest symmetric strain component
_RATTLE_STD = 0.05  # Å, std of random displacements in static frames
# MD runs at fixed cell; these keep the pressure within a few GPa (measured with EMT).
_THERMAL_EXPANSION = 2.1e-5  # 1/K, linear: solid EMT Cu at |P| < 0.2 GPa up to 800 K
_EMT_CU_MELTING_K = 1400.0
_LIQUID_EXPANSION = 0.015  # extra linear expansion of the melt (~4.5 % in volume)
_PREMELT_K = 3500.0  # crystals superheat in small periodic cells: melt them first
_PREMELT_STEPS = 150
_MD_TIMESTEP = 4.0 * units.fs
_MD_FRICTION = 0.01 / units.fs  # thermostat relaxation time 100 fs
_MD_EQUILIBRATION_STEPS = 250  # 1 ps
_MD_SAMPLE_INTERVAL = 25  # steps between snapshots (100 fs) to decorrelate them
_POSITION_DECIMALS = 8  # extxyz writes positions as %16.8f: round so files reproduce labels


def _bulk_templates(a: float) -> list[Atoms]:
    """Static bulk cells, smallest first so that tiny data sets still get one < 2·r_max."""
    primitive = bulk("Cu", "fcc", a=a)
    cubic = bulk("Cu", "fcc", a=a, cubic=True)
    return [
        primitive,  # 1 atom, perpendicular width ≈ 2.1 Å
        cubic,  # 4 atoms, 3.59 Å
        primitive * (2, 2, 2),  # 8 atoms
        cubic * (1, 2, 2),  # 16 atoms
        primitive * (3, 3, 3),  # 27 atoms
        cubic * (2, 2, 2),  # 32 atoms
    ]


def _random_strain(rng: np.random.Generator, max_strain: float) -> np.ndarray:
    """Symmetric 3x3 strain with components uniform in [-max_strain, max_strain]."""
    eps = rng.uniform(-max_strain, max_strain, size=(3, 3))
    return 0.5 * (eps + eps.T)


def _strained(atoms: Atoms, strain: np.ndarray) -> Atoms:
    atoms = atoms.copy()
    atoms.set_cell(atoms.cell.array @ (np.eye(3) + strain), scale_atoms=True)
    return atoms


def _rattled(atoms: Atoms, rng: np.random.Generator, std: float = _RATTLE_STD) -> Atoms:
    atoms = atoms.copy()
    atoms.positions += rng.normal(0.0, std, size=atoms.positions.shape)
    return atoms


def _labelled(atoms: Atoms, config_type: str) -> Atoms:
    """A clean copy (no momenta, constraints) with EMT energy, forces and stress attached."""
    frame = Atoms(numbers=atoms.numbers, positions=atoms.positions, cell=atoms.cell,
                  pbc=atoms.pbc)
    frame.wrap()  # wraps periodic directions only
    frame.positions = np.round(frame.positions, _POSITION_DECIMALS)
    frame.calc = EMT()
    results = {"energy": frame.get_potential_energy(), "forces": frame.get_forces()}
    if frame.pbc.any():
        # [3, 3] eV/Å³. For slabs this is the virial over the full cell volume, vacuum
        # included, which is also what the model's strain derivative gives for that cell.
        results["stress"] = frame.get_stress(voigt=False)
    frame.calc = SinglePointCalculator(frame, **results)
    frame.info["config_type"] = config_type
    return frame


def _strained_bulk_frames(n: int, rng: np.random.Generator) -> list[Atoms]:
    templates = _bulk_templates(A0_EMT_CU)
    frames = []
    for i in range(n):
        atoms = _strained(templates[i % len(templates)], _random_strain(rng, _MAX_STRAIN))
        frames.append(_labelled(_rattled(atoms, rng), "strained_bulk"))
    return frames


def _vacancy_frames(n: int, rng: np.random.Generator) -> list[Atoms]:
    cubic = bulk("Cu", "fcc", a=A0_EMT_CU, cubic=True)
    templates = [cubic * (2, 2, 2), bulk("Cu", "fcc", a=A0_EMT_CU) * (3, 3, 3)]
    frames = []
    for i in range(n):
        atoms = templates[i % len(templates)].copy()
        del atoms[int(rng.integers(len(atoms)))]
        atoms = _strained(atoms, _random_strain(rng, 0.01))
        frames.append(_labelled(_rattled(atoms, rng), "vacancy"))
    return frames


def _surface_frames(n: int, rng: np.random.Generator) -> list[Atoms]:
    templates = [
        fcc111("Cu", size=(2, 2, 4), a=A0_EMT_CU, vacuum=6.0),  # pbc (T, T, F)
        fcc100("Cu", size=(2, 2, 4), a=A0_EMT_CU, vacuum=6.0, periodic=True),  # (T, T, T)
    ]
    frames = []
    for i in range(n):
        strain = _random_strain(rng, 0.01)
        strain[2, :] = strain[:, 2] = 0.0  # in-plane only: keep the vacuum as built
        atoms = _strained(templates[i % len(templates)], strain)
        frames.append(_labelled(_rattled(atoms, rng), "surface"))
    return frames


def _md_frames(n: int, temperature_k: float, cell_index: int,
               rng: np.random.Generator) -> list[Atoms]:
    """``n`` Langevin snapshots ``_MD_SAMPLE_INTERVAL`` steps apart after equilibration.

    At or above the melting point the cell is first melted at ``_PREMELT_K``; near
    1400 K it may still recrystallise, as small cells commensurate with fcc do.
    """
    molten = temperature_k >= _EMT_CU_MELTING_K
    start_k = _PREMELT_K if molten else temperature_k
    a = A0_EMT_CU * (1.0 + _THERMAL_EXPANSION * temperature_k
                     + (_LIQUID_EXPANSION if molten else 0.0))
    if cell_index % 2 == 0:
        atoms = bulk("Cu", "fcc", a=a, cubic=True) * (2, 2, 2)  # 32 atoms
    else:
        atoms = bulk("Cu", "fcc", a=a) * (3, 3, 3)  # 27 atoms, triclinic
    atoms.calc = EMT()
    atoms.set_constraint(FixCom())  # ASE's replacement for the deprecated fixcm=True
    # Maxwell-Boltzmann momenta, written out because ASE renamed its helper in 3.29.
    masses = atoms.get_masses()[:, None]  # [n_atoms, 1] amu
    atoms.set_momenta(np.sqrt(masses * units.kB * start_k)
                      * rng.standard_normal((len(atoms), 3)))
    Stationary(atoms)
    dyn = Langevin(atoms, _MD_TIMESTEP, temperature_K=start_k,
                   friction=_MD_FRICTION, fixcm=False, rng=rng)
    if molten:
        dyn.run(_PREMELT_STEPS)
        dyn.set_temperature(temperature_K=temperature_k)
    dyn.run(_MD_EQUILIBRATION_STEPS)
    frames = []
    for _ in range(n):
        dyn.run(_MD_SAMPLE_INTERVAL)
        frames.append(_labelled(atoms, f"md_{temperature_k:g}K"))
    return frames


def _isolated_atom_frame() -> Atoms:
    atoms = Atoms("Cu", positions=[[10.0, 10.0, 10.0]], cell=[20.0, 20.0, 20.0], pbc=False)
    return _labelled(atoms, "isolated_atom")


def _split_counts(n: int, parts: int) -> list[int]:
    """``n`` split into ``parts`` near-equal non-negative integers."""
    return [n // parts + (1 if i < n % parts else 0) for i in range(parts)]


def generate_cu_emt_dataset(n_frames: int = DEFAULT_N_FRAMES, seed: int = 0,
                            md_temperatures: Sequence[float] = DEFAULT_MD_TEMPERATURES,
                            ) -> list[Atoms]:
    """Generate ``n_frames`` EMT-labelled Cu frames (see the module docstring).

    About half are MD snapshots split evenly over ``md_temperatures`` (K), 6 % vacancy
    cells, 6 % surface slabs, one isolated atom and the rest strained bulk. Every kind
    appears at least once, so ``n_frames`` must be at least ``4 + len(md_temperatures)``.
    The default (200 frames, ~4,600 atoms) takes about 25 s on one CPU core.
    """
    temperatures = [float(t) for t in md_temperatures]
    if not temperatures or any(not np.isfinite(t) or t <= 0 for t in temperatures):
        raise ValueError(f"md_temperatures must be positive temperatures in K, "
                         f"got {tuple(md_temperatures)!r}")
    n_min = 4 + len(temperatures)
    if n_frames < n_min:
        raise ValueError(f"n_frames={n_frames} is too small: need at least {n_min} "
                         f"(one isolated atom, vacancy, surface, strained bulk frame "
                         f"and one MD frame per temperature)")
    rng = np.random.default_rng(seed)
    n_surface = max(1, round(0.06 * n_frames))
    n_vacancy = max(1, round(0.06 * n_frames))
    n_md = min(max(len(temperatures), round(0.5 * n_frames)),
               n_frames - 2 - n_surface - n_vacancy)  # leave >= 1 strained bulk frame
    n_bulk = n_frames - 1 - n_surface - n_vacancy - n_md

    frames = [_isolated_atom_frame()]
    frames += _strained_bulk_frames(n_bulk, rng)
    frames += _vacancy_frames(n_vacancy, rng)
    frames += _surface_frames(n_surface, rng)
    md_counts = _split_counts(n_md, len(temperatures))
    for i, (t, n) in enumerate(zip(temperatures, md_counts, strict=True)):
        frames += _md_frames(n, t, i, rng)
    return frames


def write_cu_emt_dataset(path: str | os.PathLike, **kwargs) -> Path:
    """Generate the data set (``kwargs`` go to :func:`generate_cu_emt_dataset`) and write
    it as extxyz to ``path`` atomically (temp file in the same folder, then rename)."""
    path = Path(path)
    frames = generate_cu_emt_dataset(**kwargs)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_write(path, "w") as handle:
        write(handle, frames, format="extxyz")
    return path


def dataset_summary(frames: Iterable[Atoms]) -> dict:
    """Frame and atom counts, force RMS and std (eV/Å, over all components), config types."""
    frames = list(frames)
    forces = np.concatenate([f.get_forces().ravel() for f in frames])
    n_atoms = [len(f) for f in frames]
    return {
        "n_frames": len(frames),
        "n_atoms": int(sum(n_atoms)),
        "atoms_per_frame": (min(n_atoms), max(n_atoms)),
        "force_rms": float(np.sqrt(np.mean(forces**2))),
        "force_std": float(np.std(forces)),
        "config_types": dict(Counter(f.info["config_type"] for f in frames)),
    }
