"""GPU check: everything a first CUDA run of mlip_gnn must show, in one script.

    python benchmarks/gpu_check.py [--out DIR] [--mace-python PY] [--cpu]

Steps (each timed, with a status and a line of detail; one table at the end, and
``DIR/gpu_check.json``):

- ``environment``: torch, CUDA, the device and its memory.
- ``parity-<dtype>``: models of correlation 1-3 and max_ell 1-3, built on the CPU in
  float64, moved to the device in float64 and float32 (TF32 off): energies, forces and
  stresses of a periodic cell and a cluster against the CPU float64 result (float64: 1e-9
  relative; float32: 1e-4). The CPU result obeys the physics suite (tests/model), so a
  device that matches it obeys it too.
- ``export-<dtype>``: the TorchScript export, loaded on the device, against the eager
  model on the device (to a few ulps).
- ``train``: ``mlip-gnn train`` on the device, two epochs of a small Cu/EMT set; the
  losses must be finite. Then ``export`` of that run on the device and the ASE calculator
  on the device against the CPU (1e-9 in float64).
- ``speed``: ``benchmarks/bench_speed.py`` on the device (beside MACE with --mace-python).
- ``lammps``: the pair style on the device (``pair_style mlip_gnn device cuda``) against
  the ASE calculator, when ``make lammps`` has built it.
- ``ddp``: ``torchrun`` training with one process per GPU (NCCL; NCCL refuses two ranks on
  one GPU, so one GPU runs one rank) or two CPU processes (gloo).

Without a CUDA device (or with --cpu) it says so and runs every step on the CPU as a dry
run with smaller sizes, so CI keeps the script working; it exits 0 when every step passes
or is skipped, 1 otherwise.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import platform
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable, Dict, List

import numpy as np
import torch

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
SPECIES = [13, 29]  # Al, Cu
R_MAX = 4.0
VARIANTS = [(1, 1), (2, 2), (3, 3), (3, 1), (1, 3)]  # (correlation, max_ell)
TOLERANCE = {"float64": 1e-9, "float32": 1e-4}  # largest deviation / largest value


@dataclasses.dataclass
class Step:
    name: str
    status: str  # ok, FAIL, skip
    detail: str
    seconds: float


@dataclasses.dataclass
class Context:
    device: torch.device
    dry_run: bool
    work: Path
    mace_python: str | None
    values: Dict[str, object] = dataclasses.field(default_factory=dict)


class Skip(Exception):
    """A step that cannot run here (e.g. LAMMPS not built); not a failure."""


# ---------------------------------------------------------------- structures and models

def _structures():
    from ase.build import bulk

    rng = np.random.default_rng(0)
    crystal = bulk("Cu", "fcc", a=3.6, cubic=True).repeat((2, 2, 2))
    crystal.numbers[rng.choice(len(crystal), 8, replace=False)] = 13
    crystal.positions += rng.normal(0.0, 0.1, crystal.positions.shape)
    cluster = crystal[:13].copy()
    cluster.pbc = False
    return [crystal, cluster]


def _graph(atoms, dtype, device):
    from mlip_gnn.data import SpeciesTable, configuration_from_atoms, graph_from_configuration

    graph = graph_from_configuration(configuration_from_atoms(atoms), R_MAX,
                                     SpeciesTable(SPECIES), dtype)
    return {k: v.to(device) for k, v in graph.items()}


def _outputs(model, atoms, dtype, device) -> Dict[str, np.ndarray]:
    out = model(_graph(atoms, dtype, device), compute_forces=True,
                compute_stress=bool(atoms.pbc.all()))
    keys = ["energy", "forces"] + (["stress"] if atoms.pbc.all() else [])
    return {k: out[k].detach().to("cpu", torch.float64).numpy() for k in keys}


def _deviation(got: Dict[str, np.ndarray], ref: Dict[str, np.ndarray]) -> float:
    return max(float(np.abs(got[k] - ref[k]).max() / max(np.abs(ref[k]).max(), 1e-12))
               for k in ref)


def _model(correlation: int, max_ell: int):
    from mlip_gnn.model import build_model

    return build_model(species=SPECIES, r_max=R_MAX, avg_num_neighbors=20.0, num_layers=2,
                       num_channels=8, max_ell=max_ell, hidden_ell=1,
                       correlation=correlation, num_bessel=6, radial_mlp=[16],
                       dtype="float64", seed=correlation * 10 + max_ell)


def _in_dtype(model, dtype: str, device):
    import copy

    from mlip_gnn.export import deploy

    # deploy rebuilds a float32 model from its spec (constants rounded once, not twice)
    deployed, _ = deploy(copy.deepcopy(model), device=str(device), dtype=dtype)
    return deployed.model


# ---------------------------------------------------------------- the steps

def step_environment(ctx: Context) -> str:
    import mlip_gnn

    parts = [f"torch {torch.__version__}", f"mlip_gnn {mlip_gnn.__version__}",
             f"python {platform.python_version()}"]
    if ctx.device.type == "cuda":
        props = torch.cuda.get_device_properties(ctx.device)
        parts += [f"{props.name} ({props.total_memory / 2**30:.0f} GiB, sm "
                  f"{props.major}{props.minor})", f"CUDA {torch.version.cuda}",
                  f"{torch.cuda.device_count()} GPU(s)"]
    else:
        parts += [f"no CUDA device: CPU dry run ({platform.processor() or platform.machine()})"]
    ctx.values["environment"] = parts
    return "; ".join(parts)


def _parity(ctx: Context, dtype: str) -> str:
    worst = {}
    structures = _structures()
    for correlation, max_ell in VARIANTS:
        model = _model(correlation, max_ell)
        on_device = _in_dtype(model, dtype, ctx.device)
        torch_dtype = getattr(torch, dtype)
        for atoms in structures:
            ref = _outputs(model, atoms, torch.float64, "cpu")
            got = _outputs(on_device, atoms, torch_dtype, ctx.device)
            key = f"nu{correlation}-l{max_ell}"
            worst[key] = max(worst.get(key, 0.0), _deviation(got, ref))
    ctx.values[f"parity-{dtype}"] = worst
    bad = {k: v for k, v in worst.items() if not v <= TOLERANCE[dtype]}
    summary = f"largest relative deviation {max(worst.values()):.2g} over {len(worst)} " \
              f"variants (bound {TOLERANCE[dtype]:g})"
    if bad:
        raise AssertionError(f"{summary}; over the bound: {bad}")
    return summary


def _export(ctx: Context, dtype: str) -> str:
    from mlip_gnn.export import export_potential

    worst = 0.0
    for correlation, max_ell in VARIANTS[:3]:
        model = _model(correlation, max_ell)
        path = ctx.work / f"export-nu{correlation}-l{max_ell}-{dtype}.pt"
        export_potential(model, path, device=str(ctx.device), dtype=dtype)
        scripted = torch.jit.load(str(path), map_location=ctx.device)
        eager = _in_dtype(model, dtype, ctx.device)
        for atoms in _structures():
            graph = _graph(atoms, getattr(torch, dtype), ctx.device)
            cell = graph["cell"][0] * graph["pbc"][0][:, None]
            out = scripted(graph["positions"], torch.tensor(atoms.numbers, device=ctx.device),
                           graph["edge_index"], graph["edge_cell_shift"], cell,
                           bool(atoms.pbc.all()))
            ref = _outputs(eager, atoms, getattr(torch, dtype), ctx.device)
            got = {k: out[k].detach().to("cpu", torch.float64).numpy().reshape(ref[k].shape)
                   for k in ref}
            worst = max(worst, _deviation(got, ref))
    ctx.values[f"export-{dtype}"] = worst
    bound = 1e3 * torch.finfo(getattr(torch, dtype)).eps
    if not worst <= bound:
        raise AssertionError(f"export differs from eager by {worst:.2g} (bound {bound:.2g})")
    return f"largest relative deviation {worst:.2g} (bound {bound:.2g})"


def _mlip(*args: str, timeout: float = 600, env: dict | None = None
          ) -> subprocess.CompletedProcess:
    proc = subprocess.run([sys.executable, "-m", "mlip_gnn", *args], capture_output=True,
                          text=True, timeout=timeout, env={**os.environ, **(env or {})})
    if proc.returncode != 0:
        raise AssertionError(f"mlip-gnn {args[0]} exited {proc.returncode}: "
                             + " ".join(proc.stderr.split())[-600:])
    return proc


def _config(ctx: Context, name: str, run_dir: Path) -> Path:
    import yaml

    data = ctx.work / "cu_emt.xyz"
    if not data.exists():
        from mlip_gnn.data.synthetic import write_cu_emt_dataset

        write_cu_emt_dataset(data, n_frames=12 if ctx.dry_run else 40, seed=0)
    raw = {"device": str(ctx.device.type), "dtype": "float64",
           "data": {"train": str(data), "r_max": R_MAX, "batch_size": 4,
                    "valid_fraction": 0.25, "e0s": "least_squares"},
           "model": {"num_layers": 2, "num_channels": 8, "max_ell": 2, "hidden_ell": 1,
                     "correlation": 2, "radial_mlp": [16]},
           "train": {"max_epochs": 2},
           "output": {"run_dir": str(run_dir), "tensorboard": False, "progress": False}}
    path = ctx.work / name
    path.write_text(yaml.safe_dump(raw))
    return path


def _losses(run_dir: Path) -> List[float]:
    records = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().split("\n")
               if line.strip()]
    return [r["train"]["loss"] for r in records]


def step_train(ctx: Context) -> str:
    from ase.io import read

    from mlip_gnn.calculators import MLIPCalculator

    run_dir = ctx.work / "run"
    start = time.perf_counter()
    _mlip("train", str(_config(ctx, "train.yaml", run_dir)))
    seconds = time.perf_counter() - start
    losses = _losses(run_dir)
    if not losses or not all(math.isfinite(x) for x in losses):
        raise AssertionError(f"training losses not finite: {losses}")
    export = ctx.work / "cu.pt"
    _mlip("export", str(run_dir), "-o", str(export), "--device", str(ctx.device))
    ctx.values["export_file"] = str(export)
    atoms = next(a for a in read(ctx.work / "cu_emt.xyz", index=":") if a.pbc.all())
    results = {}
    for device in ("cpu", str(ctx.device)):
        atoms.calc = MLIPCalculator(str(export), device=device)
        results[device] = {"energy": np.array([atoms.get_potential_energy()]),
                           "forces": atoms.get_forces(), "stress": atoms.get_stress()}
    deviation = _deviation(results[str(ctx.device)], results["cpu"])
    ctx.values["train"] = {"seconds": seconds, "losses": losses, "calculator": deviation}
    if not deviation <= TOLERANCE["float64"]:
        raise AssertionError(f"calculator on {ctx.device} differs from the CPU by "
                             f"{deviation:.2g}")
    return (f"2 epochs in {seconds:.1f} s (process start included), losses "
            f"{', '.join(f'{x:.3g}' for x in losses)}; exported on {ctx.device}; calculator "
            f"{ctx.device} vs cpu {deviation:.2g}")


def step_speed(ctx: Context) -> str:
    out = ctx.work / "speed.json"
    args = [sys.executable, str(HERE / "bench_speed.py"), "--device", ctx.device.type,
            "--out", str(out)]
    args += (["--sizes", "small", "--cells", "2", "--repeats", "1", "--warmup", "1",
              "--budget-s", "5"] if ctx.dry_run else
             ["--sizes", "small", "medium", "--cells", "4", "10", "--repeats", "5",
              "--budget-s", "20"])
    if ctx.mace_python:
        args += ["--mace-python", ctx.mace_python]
    proc = subprocess.run(args, capture_output=True, text=True, timeout=300)
    if proc.returncode != 0:
        raise AssertionError(f"bench_speed.py exited {proc.returncode}: "
                             + " ".join(proc.stderr.split())[-600:])
    ctx.values["speed"] = json.loads(out.read_text()) if out.exists() else None
    table = [line for line in proc.stdout.splitlines() if line.strip()]
    ctx.values["speed_table"] = table
    return f"{len(table)} lines of table (in the JSON and printed below)"


def _lmp() -> Path:
    lmp = Path(sys.executable).parent / "lmp"
    if not lmp.exists():
        raise Skip("LAMMPS is not built here (make lammps)")
    return lmp


def step_lammps(ctx: Context) -> str:
    from ase.build import bulk
    from ase.io import write

    from mlip_gnn.calculators import MLIPCalculator

    lmp = _lmp()
    export = ctx.values.get("export_file")
    if not export:
        raise Skip("no exported model (the train step failed)")
    atoms = bulk("Cu", "fcc", a=3.6, cubic=True).repeat((3, 3, 3))
    atoms.positions += np.random.default_rng(1).normal(0.0, 0.05, atoms.positions.shape)
    write(ctx.work / "cu.data", atoms, format="lammps-data", masses=True)
    script = ctx.work / "in.check"
    script.write_text(
        "units metal\natom_style atomic\nboundary p p p\n"
        f"read_data {ctx.work / 'cu.data'}\n"
        f"pair_style mlip_gnn device {ctx.device.type}\npair_coeff * * {export} Cu\n"
        "thermo_style custom step pe\nthermo_modify format float %.12f\nrun 0\n")
    proc = subprocess.run([str(lmp), "-in", str(script), "-log", str(ctx.work / "lmp.log")],
                          capture_output=True, text=True, timeout=300, cwd=ctx.work)
    if proc.returncode != 0:
        raise AssertionError("lmp exited " + str(proc.returncode) + ": "
                             + " ".join((proc.stdout + proc.stderr).split())[-600:])
    lines = proc.stdout.splitlines()
    row = next(i for i, line in enumerate(lines) if line.split()[:2] == ["Step", "PotEng"])
    energy = float(lines[row + 1].split()[1])
    atoms.calc = MLIPCalculator(export, device="cpu")
    reference = atoms.get_potential_energy()
    deviation = abs(energy - reference) / abs(reference)
    ctx.values["lammps"] = {"energy": energy, "ase": reference, "relative": deviation}
    if not deviation <= 1e-8:
        raise AssertionError(f"LAMMPS {energy:.10f} eV against ASE {reference:.10f} eV")
    return f"pe {energy:.8f} eV on {ctx.device.type}, ASE (cpu) {reference:.8f}: " \
           f"{deviation:.1g} relative"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def step_ddp(ctx: Context) -> str:
    ranks = min(torch.cuda.device_count(), 2) if ctx.device.type == "cuda" else 2
    backend = "nccl" if ctx.device.type == "cuda" else "gloo"
    run_dir = ctx.work / "ddp"
    config = _config(ctx, "ddp.yaml", run_dir)
    start = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", f"--nproc_per_node={ranks}",
         f"--master_port={_free_port()}", "-m", "mlip_gnn", "train", str(config)],
        capture_output=True, text=True, timeout=600, env={**os.environ, "OMP_NUM_THREADS": "1"})
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        raise AssertionError(f"torchrun exited {proc.returncode}: "
                             + " ".join(proc.stderr.split())[-600:])
    losses = _losses(run_dir)
    if len(losses) != 2 or not all(math.isfinite(x) for x in losses):
        raise AssertionError(f"DDP losses: {losses}")
    ctx.values["ddp"] = {"ranks": ranks, "backend": backend, "seconds": seconds}
    note = " (one GPU: NCCL takes one rank per GPU)" if backend == "nccl" and ranks == 1 else ""
    return f"{ranks} rank(s), {backend}{note}, 2 epochs in {seconds:.1f} s"


STEPS: Dict[str, Callable[[Context], str]] = {
    "environment": step_environment,
    "parity-float64": lambda ctx: _parity(ctx, "float64"),
    "parity-float32": lambda ctx: _parity(ctx, "float32"),
    "export-float64": lambda ctx: _export(ctx, "float64"),
    "export-float32": lambda ctx: _export(ctx, "float32"),
    "train": step_train,
    "speed": step_speed,
    "lammps": step_lammps,
    "ddp": step_ddp,
}


def run_steps(ctx: Context, names: List[str]) -> List[Step]:
    steps = []
    for name in names:
        start = time.perf_counter()
        try:
            status, detail = "ok", STEPS[name](ctx)
        except Skip as exc:
            status, detail = "skip", str(exc)
        except Exception as exc:  # a check that fails is reported, and the others go on
            status, detail = "FAIL", f"{type(exc).__name__}: {exc}"
        steps.append(Step(name, status, detail, time.perf_counter() - start))
        print(f"{name:16s} {status:5s} {steps[-1].seconds:7.1f} s  {detail}", flush=True)
    return steps


def main(argv: List[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, help="folder of gpu_check.json and the work files "
                        "(default: benchmarks/results/gpu_check_<device>)")
    parser.add_argument("--mace-python", help="python of a venv with mace-torch, for speed")
    parser.add_argument("--cpu", action="store_true", help="the CPU dry run even with a GPU")
    parser.add_argument("--steps", nargs="+", choices=list(STEPS), default=list(STEPS))
    args = parser.parse_args(argv)
    cuda = torch.cuda.is_available() and not args.cpu
    device = torch.device("cuda", 0) if cuda else torch.device("cpu")
    if not cuda:
        print("no CUDA device" + (" requested" if args.cpu else " here")
              + ": a dry run of every step on the CPU, with smaller sizes")
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
    out = args.out or HERE / "results" / f"gpu_check_{device.type}"
    out.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="gpu-check-"))
    try:
        ctx = Context(device, not cuda, work, args.mace_python)
        start = time.perf_counter()
        steps = run_steps(ctx, args.steps)
        total = time.perf_counter() - start
    finally:
        shutil.rmtree(work, ignore_errors=True)
    for line in ctx.values.get("speed_table", []):
        print(line)
    failed = [s.name for s in steps if s.status == "FAIL"]
    print(f"\ngpu check on {device}: {len(steps) - len(failed)} steps ok or skipped "
          f"({sum(s.status == 'skip' for s in steps)} skipped), {len(failed)} failing, "
          f"{total:.0f} s")
    record = {"device": str(device), "dry_run": not cuda, "seconds": total,
              "steps": [dataclasses.asdict(s) for s in steps], "values": ctx.values}
    (out / "gpu_check.json").write_text(json.dumps(record, indent=1, default=str))
    print(f"wrote {out / 'gpu_check.json'}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
