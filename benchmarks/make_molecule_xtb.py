"""A small-molecule MD data set labelled with GFN1-xTB (tblite), for first-epoch checks.

tert-butanol, C4H10O (15 atoms): ASE's isobutane with the tertiary hydrogen replaced by
OH, relaxed, then Langevin MD at 300, 400, 500 and 600 K (0.5 fs steps, 200 steps of
equilibration, a frame every 10 steps, 50 frames each: 200 frames), plus the isolated
H, C and O atoms (spin-polarised: doublet, triplet, triplet) for ``e0s: isolated``.
Energies eV, forces eV/Å. Deterministic (seeded thermostat).

Needs ``ase`` and ``tblite`` (not dependencies of mlip_gnn), e.g. a separate venv:

    python3.11 -m venv /work/venvs/xtb-init
    /work/venvs/xtb-init/bin/pip install tblite ase
    /work/venvs/xtb-init/bin/python benchmarks/make_molecule_xtb.py OUT.xyz
"""

import argparse

import numpy as np
from ase import Atoms, units
from ase.build import molecule
from ase.calculators.singlepoint import SinglePointCalculator
from ase.io import write
from ase.md.langevin import Langevin
from ase.md.velocitydistribution import MaxwellBoltzmannDistribution
from ase.optimize import BFGS
from tblite.ase import TBLite

TEMPERATURES_K = (300, 400, 500, 600)
FRAMES_PER_TEMPERATURE = 50
STRIDE = 10
EQUILIBRATION = 200
ATOM_SPINS = {"H": 1, "C": 2, "O": 2}  # unpaired electrons of the free atoms


def tert_butanol() -> Atoms:
    """Isobutane with its tertiary C–H replaced by C–O–H (C–O 1.43 Å, O–H 0.96 Å)."""
    atoms = molecule("isobutane")
    carbons = [i for i, s in enumerate(atoms.symbols) if s == "C"]
    d = atoms.get_all_distances()
    centre = max(carbons, key=lambda i: sum(d[i, j] < 1.7 for j in carbons if j != i))
    h = min((i for i, s in enumerate(atoms.symbols) if s == "H"), key=lambda i: d[centre, i])
    axis = atoms.positions[h] - atoms.positions[centre]
    axis /= np.linalg.norm(axis)
    o = atoms.positions[centre] + 1.43 * axis
    side = np.cross(axis, [0.0, 0.0, 1.0] if abs(axis[2]) < 0.9 else [1.0, 0.0, 0.0])
    side /= np.linalg.norm(side)
    angle = np.deg2rad(180.0 - 108.5)
    hydroxyl = o + 0.96 * (np.cos(angle) * axis + np.sin(angle) * side)
    atoms.positions[h] = o
    atoms.symbols[h] = "O"
    return atoms + Atoms("H", positions=[hydroxyl])


def labelled(atoms: Atoms, calc: TBLite, config_type: str) -> Atoms:
    """A copy of ``atoms`` with the xTB energy and forces stored."""
    atoms.calc = calc
    energy, forces = atoms.get_potential_energy(), atoms.get_forces()
    frame = atoms.copy()
    frame.calc = SinglePointCalculator(frame, energy=energy, forces=forces)
    frame.info["config_type"] = config_type
    return frame


def main() -> None:
    """Write the frames (isolated atoms first) to the file named on the command line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    frames = []
    for symbol, spin in ATOM_SPINS.items():
        atom = Atoms(symbol, positions=[[0.0, 0.0, 0.0]])
        frames.append(labelled(atom, TBLite(method="GFN1-xTB", multiplicity=spin + 1,
                                            verbosity=0), "isolated_atom"))
    start = tert_butanol()
    start.calc = TBLite(method="GFN1-xTB", verbosity=0)
    BFGS(start, logfile=None).run(fmax=0.01)
    rng = np.random.default_rng(args.seed)
    for temperature in TEMPERATURES_K:
        atoms = start.copy()
        calc = TBLite(method="GFN1-xTB", verbosity=0)
        atoms.calc = calc
        MaxwellBoltzmannDistribution(atoms, temperature_K=temperature, rng=rng)
        dyn = Langevin(atoms, 0.5 * units.fs, temperature_K=temperature, friction=0.02,
                       rng=rng)
        dyn.run(EQUILIBRATION)
        for _ in range(FRAMES_PER_TEMPERATURE):
            dyn.run(STRIDE)
            frames.append(labelled(atoms.copy(), calc, f"md_{temperature}K"))
    write(args.out, frames, format="extxyz")
    forces = np.concatenate([f.get_forces() for f in frames[len(ATOM_SPINS):]])
    print(f"{len(frames)} frames -> {args.out}; force RMS {np.sqrt((forces ** 2).mean()):.3f} "
          "eV/Å")


if __name__ == "__main__":
    main()
