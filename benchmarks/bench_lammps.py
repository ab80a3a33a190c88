"""MD speed in LAMMPS (pair_style mlip_gnn) against ``mlip-gnn md`` (ASE), CPU.

    make lammps
    python benchmarks/bench_lammps.py --model cu.pt --output benchmarks/results/lammps_cpu.md

fcc Cu (a = 3.61 Å) of about 1,000 and 10,000 atoms at 300 K, velocity Verlet with 1 fs
steps. LAMMPS runs on 1 and 2 MPI ranks with one thread each; the ASE path
(``MLIPCalculator`` on the same export with ASE's VelocityVerlet, which is what
``mlip-gnn md --ensemble nve`` runs) on 1 and 2 torch threads, i.e. the same cores. The
first steps of each (TorchScript's profiling runs) are not timed. Without ``--model`` an
untrained float32 model with the quickstart architecture is used (speed does not depend on
the weights). Prints a markdown table with the machine, and writes it to ``--output``.
"""

import argparse
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from ase import units
from ase.build import bulk
from ase.md.velocitydistribution import thermalize_momenta
from ase.md.verlet import VelocityVerlet

from mlip_gnn.calculators import MLIPCalculator
from mlip_gnn.export import export_potential, read_metadata
from mlip_gnn.model import build_model

BIN = Path(sys.prefix) / "bin"
SYSTEMS = {"1k": (5, 5, 10), "10k": (10, 10, 25)}  # fcc conventional cells: 4 atoms each
LOOP = re.compile(r"Loop time of ([0-9.eE+-]+) on (\d+) procs for (\d+) steps with (\d+) atoms")

LAMMPS_INPUT = """
units metal
atom_style atomic
lattice fcc 3.61
region box block 0 {nx} 0 {ny} 0 {nz}
create_box 1 box
create_atoms 1 box
mass 1 63.546
pair_style mlip_gnn
pair_coeff * * {model} Cu
velocity all create 300 42 loop geom
timestep 0.001
fix md all nve
thermo 1000
run {warmup}
run {steps}
"""


def quickstart_architecture_model(path: Path) -> Path:
    """An untrained float32 Cu model shaped like configs/quickstart.yaml's."""
    model = build_model(species=[29], r_max=4.5, avg_num_neighbors=18.0, num_layers=2,
                        num_channels=16, max_ell=2, hidden_ell=1, correlation=2,
                        radial_mlp=[32, 32], dtype="float32", seed=0)
    return export_potential(model, path)


def lammps_rate(model: Path, cells, ranks: int, warmup: int, steps: int, workdir: Path):
    """Steps per second of the timed ``run`` and the atom count, from LAMMPS's own timer."""
    nx, ny, nz = cells
    (workdir / "in.bench").write_text(LAMMPS_INPUT.format(nx=nx, ny=ny, nz=nz, model=model,
                                                          warmup=warmup, steps=steps))
    command = [str(BIN / "lmp"), "-in", "in.bench", "-log", "none"]
    if ranks > 1:
        command = [str(BIN / "mpirun"), "-np", str(ranks)] + command
    done = subprocess.run(command, cwd=workdir, capture_output=True, text=True,
                          env={**os.environ, "OMP_NUM_THREADS": "1"}, check=False)
    loops = LOOP.findall(done.stdout)
    if done.returncode != 0 or len(loops) != 2:
        raise RuntimeError(f"lmp failed:\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}")
    seconds, _, count, atoms = loops[1]
    return int(count) / float(seconds), int(atoms)


def ase_rate(model: Path, cells, threads: int, warmup: int, steps: int):
    torch.set_num_threads(threads)
    atoms = bulk("Cu", "fcc", a=3.61, cubic=True).repeat(cells)
    thermalize_momenta(atoms, temperature_K=300, rng=np.random.default_rng(42))
    atoms.calc = MLIPCalculator(str(model))
    dyn = VelocityVerlet(atoms, timestep=1.0 * units.fs)
    dyn.run(warmup)
    start = time.perf_counter()
    dyn.run(steps)
    return steps / (time.perf_counter() - start), len(atoms)


def machine() -> str:
    cpu = platform.processor() or "?"
    if Path("/proc/cpuinfo").is_file():
        names = [ln.split(":", 1)[1].strip() for ln in Path("/proc/cpuinfo").read_text()
                 .splitlines() if ln.startswith("model name")]
        cpu = names[0] if names else cpu
    load = " / ".join(f"{x:.1f}" for x in os.getloadavg())
    return (f"{cpu}, {os.cpu_count()} cores, load average {load} at the start; "
            f"torch {torch.__version__}, Python {platform.python_version()}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--model", type=Path, help="an export (default: untrained, quickstart "
                   "architecture)")
    p.add_argument("--systems", nargs="+", choices=sorted(SYSTEMS), default=["1k", "10k"])
    p.add_argument("--ranks", nargs="+", type=int, default=[1, 2])
    p.add_argument("--steps", type=int, nargs=2, default=[10, 3],
                   help="timed steps for the 1k and the 10k system")
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--output", type=Path)
    args = p.parse_args()
    header = f"Machine: {machine()}"
    print(header, flush=True)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        model = args.model.resolve() if args.model else \
            quickstart_architecture_model(Path(tmp) / "model.pt")
        meta = read_metadata(model)
        for system in args.systems:
            steps = args.steps[0] if system == "1k" else args.steps[1]
            for ranks in args.ranks:
                lmp, atoms = lammps_rate(model, SYSTEMS[system], ranks, args.warmup, steps,
                                         Path(tmp))
                ase, _ = ase_rate(model, SYSTEMS[system], ranks, args.warmup, steps)
                rows.append((atoms, ranks, lmp, ase))
                print(f"{atoms} atoms, {ranks} core(s): LAMMPS {lmp:.3f} steps/s, "
                      f"ASE {ase:.3f} steps/s", flush=True)
    lines = [header, "",
             f"Model: {args.model.name if args.model else 'untrained'}, {meta['dtype']}, "
             f"r_max {meta['r_max']} Å, {meta.get('num_layers', '?')} layers; "
             f"fcc Cu at 300 K, NVE, 1 fs; cores = MPI ranks (LAMMPS) or torch threads (ASE)",
             "", "| atoms | cores | LAMMPS steps/s | LAMMPS atom-steps/s | ASE steps/s | "
             "ASE atom-steps/s | LAMMPS / ASE |", "| ---: | ---: | ---: | ---: | ---: | ---: "
             "| ---: |"]
    for atoms, ranks, lmp, ase in rows:
        lines.append(f"| {atoms:,} | {ranks} | {lmp:.3f} | {lmp * atoms:,.0f} | {ase:.3f} | "
                     f"{ase * atoms:,.0f} | {lmp / ase:.2f} |")
    text = "\n".join(lines) + "\n"
    print(text)
    if args.output:
        args.output.write_text(text)


if __name__ == "__main__":
    main()
