"""Reference data where range matters, labelled with GFN1-xTB (tblite) through ASE.

(a) Binding curves of charged and polar molecular pairs in open boundaries (ion/ion of
the same sign, ion/molecule, polar dimers; see DEFAULT_PAIRS for why no +/- ion pair):
for each pair, random relative orientations (one curve each), the nearest-atom distance
swept from contact (2.2 Å) out to 18.5 Å (centre-of-mass distance beyond 18 Å), denser
near contact; every frame's monomers are rattled (thermal-like, 0.04 Å per coordinate)
and labelled alone at the same geometry, so that the reference interaction energy
E_int = E(AB) - E(A) - E(B) is known per frame. Curves are split whole into train /
valid / test, and every pair has held-out test curves.
(b) Rocksalt NaCl, 64 atoms, periodic: random strains (up to ±5 %) and displacements
(RMS 0.05-0.3 Å), labelled with periodic GFN1-xTB (energy, forces, stress).

GFN1, not GFN2: GFN2's SCF fails for an ion a few Å from a neutral molecule. A frame
whose SCF does not converge (tblite raises CalculationFailed) is dropped together with
its monomers and counted; it is never written. tblite is not a dependency of mlip_gnn:
run this with the python of a separate environment that has it::

    python3.11 -m venv ../xtb-venv && ../xtb-venv/bin/pip install tblite ase numpy
    OMP_NUM_THREADS=1 ../xtb-venv/bin/python scripts/make_long_range_data.py

Writes to ``--out`` (default ``data/generated/long_range/``): ``dimers_{split}.xyz``,
``nacl_{split}.xyz`` and ``summary.json`` (counts, failures, wall times). Frame info:
``charge`` (total charge, e), ``config_type``, per atom ``xtb_charges`` (GFN1 partial
charges, e); dimer-set frames also ``pair``,
``curve``, ``role`` (dimer | A | B), ``frame_id``; dimers ``distance`` (nearest-atom
distance between the monomers, Å), ``com_distance`` (Å), ``frame_a`` / ``frame_b`` (the
``frame_id`` of their monomer frames; a one-atom monomer has one frame per pair and
split, shared by all its dimers), ``charge_a`` (GFN1 partial charge of A in the dimer, e)
and ``e_int`` (reference interaction energy, eV).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Dict, List

import numpy as np
from ase import Atoms
from ase.build import bulk, molecule
from ase.calculators.singlepoint import SinglePointCalculator

ROOT = Path(__file__).resolve().parents[1]
METHOD = "GFN1-xTB"
SPLITS = ("train", "valid", "test")
#: nearest-atom distances between the monomers of a curve, Å: dense near contact
DISTANCES = (2.2, 2.5, 2.8, 3.1, 3.5, 4.0, 4.5, 5.0, 5.5, 6.0, 7.0, 8.0, 9.0, 10.5, 11.5,
             12.5, 14.0, 15.5, 17.0, 18.5)
RATTLE = 0.04  # Å, per coordinate, monomer geometries
#: pair name -> (monomer A, monomer B)
PAIRS = {"NH4+/Na+": ("NH4+", "Na+"), "Cl-/HCOO-": ("Cl-", "HCOO-"),
         "Na+/H2O": ("Na+", "H2O"), "Cl-/H2O": ("Cl-", "H2O"), "H2O/H2O": ("H2O", "H2O"),
         "HCOOH/HCOOH": ("HCOOH", "HCOOH"), "NH4+/HCOO-": ("NH4+", "HCOO-")}
#: NH4+/HCOO- is left out by default: GFN1 moves charge between the separated ions
#: (NH4 keeps +0.57 e at 20 Å) and its E_int levels off near -2.2 eV instead of -14.4/r
DEFAULT_PAIRS = ("NH4+/Na+", "Cl-/HCOO-", "Na+/H2O", "Cl-/H2O", "H2O/H2O", "HCOOH/HCOOH")
CHARGES = {"NH4+": 1, "HCOO-": -1, "Na+": 1, "Cl-": -1, "H2O": 0, "HCOOH": 0}
NACL_A = 5.64  # Å, conventional rocksalt cell


def monomer(name: str) -> Atoms:
    """Starting geometry of a monomer (relaxed with GFN1 before use)."""
    if name in ("Na+", "Cl-"):
        return Atoms(name[:-1], positions=[[0.0, 0.0, 0.0]])
    if name == "NH4+":
        b = 1.03 / np.sqrt(3.0)
        return Atoms("NH4", positions=[[0, 0, 0], [b, b, b], [-b, -b, b], [-b, b, -b],
                                       [b, -b, -b]])
    if name == "HCOO-":
        formic = molecule("HCOOH")
        del formic[3]  # the acidic H (bonded to the first O)
        return formic
    return molecule(name)


def calculator(charge: int, damped: bool = False):
    """A GFN1-xTB calculator for total charge ``charge`` (e); tblite imported here only.
    ``damped``: heavy mixing damping and more cycles, the fallback when the default SCF
    does not converge (separated ion pairs); where both converge they agree."""
    from tblite.ase import TBLite

    extra = {"mixer_damping": 0.1, "max_iterations": 1000} if damped else {}
    return TBLite(method=METHOD, charge=charge, verbosity=0, **extra)


def label(atoms: Atoms, charge: int, stats: dict, stress: bool = False) -> Atoms | None:
    """A copy of ``atoms`` with GFN1 energy, forces (and stress) attached, or None when the
    SCF did not converge, with the default mixer nor the damped one (tblite raises
    CalculationFailed), or gave non-finite results. SCF failures are counted in
    ``stats["default_scf_failures"]`` and ``stats["damped_scf_failures"]``."""
    from ase.calculators.calculator import CalculationFailed

    for damped in (False, True):
        work = atoms.copy()
        work.calc = calculator(charge, damped)
        try:
            results = {"energy": work.get_potential_energy(), "forces": work.get_forces()}
            if stress:
                results["stress"] = work.get_stress()
            break
        except CalculationFailed:
            stats["damped_scf_failures" if damped else "default_scf_failures"] += 1
    else:
        return None
    if not all(np.all(np.isfinite(v)) for v in results.values()):
        return None
    out = atoms.copy()
    out.info["charge"] = int(charge)
    out.arrays["xtb_charges"] = np.asarray(work.calc.results["charges"])  # partial, e
    out.calc = SinglePointCalculator(out, **results)
    return out


def relaxed(name: str) -> Atoms:
    """The monomer relaxed with GFN1 at its charge (BFGS to 0.01 eV/Å)."""
    from ase.optimize import BFGS

    atoms = monomer(name)
    if len(atoms) > 1:
        atoms.calc = calculator(CHARGES[name])
        BFGS(atoms, logfile=None).run(fmax=0.01, steps=200)
        atoms.calc = None
    return atoms


def random_rotation(rng: np.random.Generator) -> np.ndarray:
    """A uniformly random rotation matrix [3, 3] (from a random unit quaternion)."""
    w, x, y, z = (q := rng.normal(size=4)) / np.linalg.norm(q)
    return np.array([[1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
                     [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
                     [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)]])


def nearest_distance(pos_a: np.ndarray, pos_b: np.ndarray) -> float:
    """Smallest distance (Å) between an atom of [na, 3] and an atom of [nb, 3]."""
    return float(np.linalg.norm(pos_a[:, None, :] - pos_b[None, :, :], axis=-1).min())


def separation_for(pos_a: np.ndarray, pos_b: np.ndarray, direction: np.ndarray,
                   target: float) -> float:
    """Shift s (Å) along the unit ``direction`` such that B + s·direction is ``target`` Å
    (nearest atoms) from A: approached from far, so the first crossing is found."""
    def gap(s: float) -> float:
        return nearest_distance(pos_a, pos_b + s * direction) - target

    reach = np.linalg.norm(pos_a, axis=1).max() + np.linalg.norm(pos_b, axis=1).max()
    far = target + reach + 1.0
    near = far
    while gap(near) > 0.0:
        far, near = near, near - 0.05
    for _ in range(50):
        mid = 0.5 * (near + far)
        near, far = (mid, far) if gap(mid) < 0.0 else (near, mid)
    return far


def centred(atoms: Atoms) -> Atoms:
    """``atoms`` moved so that their centre of mass is the origin."""
    out = atoms.copy()
    out.positions -= out.get_center_of_mass()
    return out


def split_curves(num_curves: int, num_valid: int, num_test: int,
                 rng: np.random.Generator) -> List[str]:
    """The split of each of ``num_curves`` curves ("train" | "valid" | "test"), whole
    curves held out at random; at least one train curve must remain."""
    if num_valid < 0 or num_test < 0 or num_valid + num_test >= num_curves:
        raise ValueError(f"split_curves: {num_valid} valid + {num_test} test curves leave "
                         f"no training curve of {num_curves}")
    order = rng.permutation(num_curves)
    splits = ["train"] * num_curves
    for index in order[:num_test]:
        splits[index] = "test"
    for index in order[num_test:num_test + num_valid]:
        splits[index] = "valid"
    return splits


def curve_frames(pair: str, curve: int, base: Dict[str, Atoms],
                 rng: np.random.Generator, stats: dict) -> List[Atoms]:
    """Labelled dimer and monomer frames of one curve (one random orientation); a
    distance whose dimer or monomers fail the SCF is dropped and counted."""
    name_a, name_b = PAIRS[pair]
    rot_a, rot_b = random_rotation(rng), random_rotation(rng)
    direction = (v := rng.normal(size=3)) / np.linalg.norm(v)
    frames = []
    for step, target in enumerate(DISTANCES):
        a, b = centred(base[name_a]), centred(base[name_b])
        for mono, rot in ((a, rot_a), (b, rot_b)):
            mono.positions = mono.positions @ rot.T
            if len(mono) > 1:
                mono.positions += rng.normal(scale=RATTLE, size=mono.positions.shape)
        a, b = centred(a), centred(b)
        b.positions += separation_for(a.positions, b.positions, direction, target) * direction
        q_a, q_b = CHARGES[name_a], CHARGES[name_b]
        labelled = [label(a + b, q_a + q_b, stats),
                    label(a, q_a, stats) if len(a) > 1 else base[f"{pair}:A"],
                    label(b, q_b, stats) if len(b) > 1 else base[f"{pair}:B"]]
        stats["calls"] += 1 + (len(a) > 1) + (len(b) > 1)
        if any(x is None for x in labelled):
            stats["failed"].append(f"{pair} curve {curve} distance {target}")
            continue
        dimer, mono_a, mono_b = labelled
        frame_id = f"{pair}:c{curve:02d}:d{step:02d}"
        ids = [f"{frame_id}:A" if len(a) > 1 else f"{pair}:A",
               f"{frame_id}:B" if len(b) > 1 else f"{pair}:B"]
        dimer.info.update(pair=pair, curve=f"{pair}:c{curve:02d}", role="dimer",
                          frame_id=frame_id, frame_a=ids[0], frame_b=ids[1],
                          distance=nearest_distance(a.positions, b.positions),
                          com_distance=float(np.linalg.norm(
                              a.get_center_of_mass() - b.get_center_of_mass())),
                          config_type=pair)
        # GFN1 moves charge between separated ions (delocalisation error): keep the
        # partial charge of A so that the curves can be judged
        dimer.info["charge_a"] = float(dimer.arrays["xtb_charges"][:len(a)].sum())
        dimer.info["e_int"] = (dimer.get_potential_energy() - mono_a.get_potential_energy()
                               - mono_b.get_potential_energy())
        frames.append(dimer)
        for role, mono, mono_id, size in (("A", mono_a, ids[0], len(a)),
                                          ("B", mono_b, ids[1], len(b))):
            if size > 1:
                mono.info.update(pair=pair, curve=dimer.info["curve"], role=role,
                                 frame_id=mono_id, config_type=f"{pair}:monomer")
                frames.append(mono)
    return frames


def single_atom_frame(pair: str, role: str, name: str, stats: dict) -> Atoms:
    """The labelled frame of a one-atom monomer, shared by all dimers of a pair."""
    atoms = label(monomer(name), CHARGES[name], stats)
    if atoms is None:
        raise RuntimeError(f"{name}: GFN1 failed for the isolated ion")
    atoms.info.update(pair=pair, curve=f"{pair}:{role}", role=role,
                      frame_id=f"{pair}:{role}", config_type=f"{pair}:monomer")
    return atoms


def make_dimers(pairs: List[str], num_curves: int, num_valid: int, num_test: int,
                seed: int) -> tuple:
    """{split: frames} of the curves of ``pairs``, and the labelling record."""
    rng = np.random.default_rng(seed)
    start, cpu = time.perf_counter(), time.process_time()
    base = {name: relaxed(name) for name in CHARGES}
    stats = {"calls": 0, "failed": [], "default_scf_failures": 0, "damped_scf_failures": 0}
    out = {split: [] for split in SPLITS}
    for pair, names in ((p, PAIRS[p]) for p in pairs):
        singles = {role: single_atom_frame(pair, role, name, stats)
                   for role, name in zip("AB", names) if len(base[name]) == 1}
        base.update({f"{pair}:{role}": atoms for role, atoms in singles.items()})
        splits = split_curves(num_curves, num_valid, num_test, rng)
        for curve, split in enumerate(splits):
            out[split] += curve_frames(pair, curve, base, rng, stats)
        for split, single in ((s, a) for s in SPLITS for a in singles.values()):
            copy = single.copy()
            copy.calc = SinglePointCalculator(copy, **single.calc.results)
            out[split].append(copy)
        print(f"{pair}: {len(stats['failed'])} failed so far, "
              f"{time.perf_counter() - start:.0f} s", flush=True)
    record = {"method": METHOD, "pairs": {p: list(PAIRS[p]) for p in pairs},
              "curves_per_pair": num_curves, "valid_curves": num_valid,
              "test_curves": num_test, "distances": list(DISTANCES),
              "tblite_calls": stats["calls"], "failed": stats["failed"],
              "default_scf_failures": stats["default_scf_failures"],
              "damped_scf_failures": stats["damped_scf_failures"],
              "wall_s": time.perf_counter() - start, "cpu_s": time.process_time() - cpu}
    return out, record


def nacl_frame(rng: np.random.Generator) -> Atoms:
    """A strained (±5 % normal, ±2 % shear) and rattled (RMS 0.05-0.3 Å) 64-atom cell."""
    atoms = bulk("NaCl", "rocksalt", a=NACL_A, cubic=True).repeat((2, 2, 2))
    strain = np.diag(rng.uniform(-0.05, 0.05, size=3))
    shear = np.triu(rng.uniform(-0.02, 0.02, size=(3, 3)), 1)
    atoms.set_cell(atoms.cell.array @ (np.eye(3) + strain + shear + shear.T),
                   scale_atoms=True)
    rms = rng.uniform(0.05, 0.3)
    atoms.positions += rng.normal(scale=rms / np.sqrt(3.0), size=atoms.positions.shape)
    atoms.info["rattle_rms"] = rms
    return atoms


def make_nacl(counts: Dict[str, int], seed: int) -> tuple:
    """{split: labelled NaCl frames} and the labelling record (cost per frame)."""
    rng = np.random.default_rng(seed)
    start, cpu, out, failed = time.perf_counter(), time.process_time(), {}, 0
    stats = {"default_scf_failures": 0, "damped_scf_failures": 0}
    for split in SPLITS:
        out[split] = []
        while len(out[split]) < counts[split]:
            atoms = label(nacl_frame(rng), 0, stats, stress=True)
            if atoms is None:
                failed += 1
                continue
            atoms.info["config_type"] = "NaCl"
            out[split].append(atoms)
            done = sum(len(v) for v in out.values())
            if done % 10 == 0:
                print(f"NaCl: {done} frames, {(time.perf_counter() - start) / done:.1f} s "
                      "per frame", flush=True)
    wall = time.perf_counter() - start
    total = sum(counts.values())
    return out, {"method": METHOD, "atoms": 64, "lattice_A": NACL_A, "failed": failed,
                 **stats,
                 "wall_s": wall, "cpu_s": time.process_time() - cpu,
                 "s_per_frame": wall / max(total + failed, 1)}


def write_sets(out_dir: Path, name: str, sets: Dict[str, List[Atoms]]) -> Dict[str, int]:
    """Write ``{name}_{split}.xyz`` for every split; returns the frame counts."""
    from ase.io import write

    for split, frames in sets.items():
        write(out_dir / f"{name}_{split}.xyz", frames, format="extxyz")
    return {split: len(frames) for split, frames in sets.items()}


def main() -> None:
    """Command line: make one or both parts and record counts and costs."""
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--out", type=Path, default=ROOT / "data/generated/long_range")
    p.add_argument("--parts", nargs="+", choices=["dimers", "nacl"],
                   default=["dimers", "nacl"])
    p.add_argument("--pairs", nargs="+", choices=sorted(PAIRS), default=list(DEFAULT_PAIRS))
    p.add_argument("--curves", type=int, default=16, help="orientations per pair")
    p.add_argument("--valid-curves", type=int, default=3)
    p.add_argument("--test-curves", type=int, default=3)
    p.add_argument("--nacl", type=int, nargs=3, default=[110, 15, 25],
                   metavar=("TRAIN", "VALID", "TEST"), help="NaCl frames per split")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    summary = {}
    if "dimers" in args.parts:
        sets, record = make_dimers(args.pairs, args.curves, args.valid_curves, args.test_curves,
                                   args.seed)
        record["frames"] = write_sets(args.out, "dimers", sets)
        record["dimer_frames"] = {s: sum(a.info["role"] == "dimer" for a in f)
                                  for s, f in sets.items()}
        summary["dimers"] = record
    if "nacl" in args.parts:
        sets, record = make_nacl(dict(zip(SPLITS, args.nacl)), args.seed + 1)
        record["frames"] = write_sets(args.out, "nacl", sets)
        summary["nacl"] = record
    path = args.out / "summary.json"  # read just now: the parts may run side by side
    summary = {**(json.loads(path.read_text()) if path.exists() else {}), **summary}
    path.write_text(json.dumps(summary, indent=1) + "\n")
    print(json.dumps({k: {x: v[x] for x in ("frames", "failed", "wall_s")}
                      for k, v in summary.items()}, indent=1))


if __name__ == "__main__":
    main()
