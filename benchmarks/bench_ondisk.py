"""Training from a preprocessed on-disk dataset: bounded memory, throughput vs in memory.

Generates many small EMT Cu frames (4-atom fcc cells, rattled and strained; each EMT
result written ``--copies`` times under a random translation and atom order) in files of
10,000, preprocesses them (``mlip-gnn preprocess``), then trains the same small model for a
fixed wall time in fresh processes: from the on-disk dataset (all frames, and a small
subset) and from an extended XYZ file read into memory (the small subset, and twice
that). Each run reports its peak resident memory (VmHWM) and training structures per
second (steps × batch / time between the first and the last step).

    OMP_NUM_THREADS=1 python benchmarks/bench_ondisk.py --frames 200000 --small 5000
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

CHUNK = 10_000


def _generate(args) -> str:
    """``n`` frames: ``n / copies`` EMT calculations, each written ``copies`` times under a
    random rigid translation and atom order (its labels stay exact: EMT is invariant)."""
    path, n, seed, copies = args
    from ase.build import bulk
    from ase.calculators.emt import EMT
    from ase.calculators.singlepoint import SinglePointCalculator
    from ase.io import write

    rng = np.random.default_rng(seed)
    base = bulk("Cu", "fcc", a=3.61, cubic=True)
    frames = []
    for _ in range(-(-n // copies)):
        atoms = base.copy()
        strain = np.eye(3) + rng.uniform(-0.02, 0.02, (3, 3))
        atoms.set_cell(atoms.cell.array @ (0.5 * (strain + strain.T)), scale_atoms=True)
        atoms.positions += rng.normal(0.0, 0.06, atoms.positions.shape)
        atoms.calc = EMT()
        energy, forces = atoms.get_potential_energy(), atoms.get_forces()
        for _ in range(copies):
            order = rng.permutation(len(atoms))
            copy = atoms[order]
            copy.positions += rng.uniform(-1.0, 1.0, 3)
            copy.calc = SinglePointCalculator(copy, energy=energy, forces=forces[order])
            frames.append(copy)
    write(path, frames[:n], format="extxyz")
    return path


def generate(directory: Path, frames: int, workers: int, copies: int) -> list:
    directory.mkdir(parents=True, exist_ok=True)
    tasks = [(str(directory / f"cu_{i:04d}.xyz"), min(CHUNK, frames - i * CHUNK), i, copies)
             for i in range(-(-frames // CHUNK))]
    todo = [t for t in tasks if not Path(t[0]).exists()]
    with multiprocessing.get_context("spawn").Pool(workers) as pool:
        pool.map(_generate, todo)
    return [t[0] for t in tasks]


def _status_mib(field: str) -> float:
    """A memory figure of this process from /proc/self/status, MiB (VmHWM: peak resident;
    RssAnon: resident memory not backed by a file, i.e. not pages of the memory maps)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def train_child(train: str, valid: str, run_dir: str, minutes: float, batch: int) -> None:
    """One training run (in its own process, for a clean peak RSS); prints JSON."""
    from mlip_gnn.config import config_from_dict
    from mlip_gnn.train import train as run_training
    from mlip_gnn.train.trainer import Trainer

    stamps = []
    original = Trainer._step

    def step(self, batch_graph):
        out = original(self, batch_graph)
        stamps.append(time.perf_counter())
        return out

    Trainer._step = step
    cfg = config_from_dict({
        "seed": 0, "device": "cpu", "dtype": "float32",
        "data": {"train": train, "valid": valid, "r_max": 4.5, "batch_size": batch},
        "model": {"num_layers": 2, "num_channels": 16, "max_ell": 1, "hidden_ell": 1,
                  "correlation": 2},
        "train": {"max_epochs": 1000, "max_time_minutes": minutes},
        "output": {"run_dir": run_dir, "tensorboard": False, "progress": False},
    })
    start = time.perf_counter()
    run_training(cfg)
    steps = len(stamps) - 1
    rate = steps * batch / (stamps[-1] - stamps[0]) if steps > 0 else float("nan")
    print(json.dumps({"steps": len(stamps), "structures_per_s": rate,
                      "setup_s": stamps[0] - start if stamps else float("nan"),
                      "peak_rss_mib": _status_mib("VmHWM"),
                      "anon_rss_mib": _status_mib("RssAnon")}))


def run_child(train: str, valid: str, run_dir: Path, minutes: float, batch: int) -> dict:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    out = subprocess.run([sys.executable, __file__, "--child", train, valid, str(run_dir),
                          str(minutes), str(batch)], env=env, capture_output=True, text=True)
    if out.returncode:
        raise RuntimeError(out.stderr[-3000:])
    return json.loads(out.stdout.strip().splitlines()[-1])


def subset_file(files: list, n: int, path: Path) -> Path:
    from ase.io import read, write

    if not path.exists():
        frames = []
        for f in files:
            frames += read(f, f":{n - len(frames)}")
            if len(frames) >= n:
                break
        write(path, frames, format="extxyz")
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=200_000)
    parser.add_argument("--small", type=int, default=5_000)
    parser.add_argument("--minutes", type=float, default=0.75, help="training time per run")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--copies", type=int, default=20,
                        help="frames written per EMT calculation (translated, reordered)")
    parser.add_argument("--work", default="/tmp/bench_ondisk")
    parser.add_argument("--out", default="benchmarks/results/ondisk_cpu.md")
    args = parser.parse_args()
    from mlip_gnn.data.preprocess import PreprocessOptions, preprocess

    work = Path(args.work)
    t0 = time.perf_counter()
    reused = (work / "xyz").is_dir() and any((work / "xyz").iterdir())
    files = generate(work / "xyz", args.frames, args.workers, args.copies)
    gen_s = time.perf_counter() - t0
    generated = ("Generated files reused from an earlier run" if reused
                 else f"Generated in {gen_s:.0f} s")
    valid = str(work / "valid.xyz")
    if not Path(valid).exists():  # kept: a rerun resumes the datasets made from it
        _generate((valid, 200, 99999, 1))
    t0 = time.perf_counter()
    options = PreprocessOptions(r_max=4.5, workers=args.workers)
    timings = work / "preprocess_time.json"
    earlier = json.loads(timings.read_text()) if timings.exists() else None
    preprocess(files, work / "ds_all", options)
    pre_s = earlier["seconds"] if earlier else time.perf_counter() - t0
    timings.write_text(json.dumps({"seconds": pre_s}))
    preprocessed = (f"preprocessed in {pre_s:.0f} s (an earlier run)" if earlier
                    else f"preprocessed in {pre_s:.0f} s")
    small = subset_file(files, args.small, work / f"small_{args.small}.xyz")
    double = subset_file(files, 2 * args.small, work / f"small_{2 * args.small}.xyz")
    preprocess([small], work / "ds_small", options)
    preprocess([valid], work / "ds_valid", options)
    # alternated, so that a change of the machine's load hits both paths alike
    runs = [("on disk", args.frames, str(work / "ds_all"), str(work / "ds_valid")),
            ("in memory", args.small, str(small), valid),
            ("on disk", args.small, str(work / "ds_small"), str(work / "ds_valid")),
            ("in memory", 2 * args.small, str(double), valid)]
    rows = []
    for name, n, train, valid_data in runs:
        result = run_child(train, valid_data, work / f"run_{name[:2]}_{n}", args.minutes,
                           args.batch)
        rows.append((name, n, result))
        print(name, n, result, flush=True)
    lines = [f"# Training from disk vs memory ({args.frames:,} EMT Cu frames of 4 atoms)", "",
             f"`{' '.join(sys.argv)}`", "",
             f"{args.frames // args.copies:,} EMT calculations, each written {args.copies} "
             f"times (random translation and atom order). {generated}, "
             f"{preprocessed} "
             f"({args.frames / pre_s:,.0f} frames/s, {args.workers} processes). Model: 2 "
             f"layers, 16 channels, float32, batch {args.batch}, num_workers 0, "
             f"{args.minutes} min per run, one thread, CPU shared with other work.", "",
             "Peak RSS counts the pages of the memory-mapped shards that were read (backed by "
             "the files: the kernel drops them under memory pressure); anonymous RSS at the end "
             "of the run is the memory of the process itself.", "",
             "| data | frames | setup s | structures/s | peak RSS MiB | anonymous RSS MiB |",
             "|---|---:|---:|---:|---:|---:|"]
    for name, n, r in rows:
        lines.append(f"| {name} | {n:,} | {r['setup_s']:.1f} | {r['structures_per_s']:.0f} "
                     f"| {r['peak_rss_mib']:.0f} | {r['anon_rss_mib']:.0f} |")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        train_child(sys.argv[2], sys.argv[3], sys.argv[4], float(sys.argv[5]),
                    int(sys.argv[6]))
    else:
        main()
