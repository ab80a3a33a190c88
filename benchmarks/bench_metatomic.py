"""The metatomic export through metatomic-ase's calculator against our MLIPCalculator on
the checkpoint: agreement and time per call, CPU, one thread.

    pip install 'mlip_gnn[metatomic]'
    OMP_NUM_THREADS=1 python benchmarks/bench_metatomic.py \
        --output benchmarks/results/metatomic_cpu.md

An untrained model with the quickstart architecture (r_max 4.5 Å, 2 layers, 16 channels;
speed does not depend on the weights, the weights are perturbed so that forces are not
trivial) is saved as a checkpoint in float32 and float64 and exported with
``--format metatomic`` and as our TorchScript file. On fcc Cu (5×5×5 cubic cells, 500
atoms, a = 3.61 Å, atoms displaced by 0.05 Å) each calculator computes energy, forces and
stress; before each call the atoms move by 0.01 Å (as in MD: no cached result, the
neighbour list is rebuilt or, for metatomic-ase, its Verlet list checked). The calls of
the three calculators take turns, so that a changing load on the machine hits all alike;
the table gives the median time per call and the largest absolute differences of
metatomic-ase from ours on the checkpoint (float64 and float32).
"""

import argparse
import os
import platform
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from ase.build import bulk

from mlip_gnn.calculators import MLIPCalculator
from mlip_gnn.export import export_model
from mlip_gnn.export.metatomic import export_metatomic
from mlip_gnn.model import build_model
from mlip_gnn.modelio import ModelSpec, save_checkpoint

ARCHITECTURE = dict(species=[29], r_max=4.5, avg_num_neighbors=18.0, num_layers=2,
                    num_channels=16, max_ell=2, hidden_ell=1, correlation=2,
                    radial_mlp=[32, 32], e0s={29: -0.5}, seed=0)


def checkpoint(path: Path, dtype: str) -> Path:
    """A checkpoint of the quickstart architecture with perturbed weights."""
    kwargs = dict(ARCHITECTURE, dtype=dtype)
    model = build_model(**kwargs)
    gen = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.1 * torch.randn(p.shape, generator=gen, dtype=p.dtype))
    spec = ModelSpec.from_builder_kwargs(kwargs)
    path.mkdir(parents=True, exist_ok=True)
    save_checkpoint({"model_spec": spec.to_dict(), "model": model.state_dict(),
                     "config": {}, "config_hash": "bench", "version": "0", "epoch": 0},
                    path / "best.pt")
    return path


def compare(run_dir: Path, torchscript: Path, exported: Path, calls: int, warmup: int
            ) -> dict:
    """Median seconds per energy+forces+stress call of each calculator, and the largest
    differences of metatomic-ase from ours on the checkpoint over all calls."""
    from metatomic_ase import MetatomicCalculator

    rng = np.random.default_rng(0)
    atoms = bulk("Cu", "fcc", a=3.61, cubic=True).repeat((5, 5, 5))
    atoms.positions += 0.05 * rng.standard_normal(atoms.positions.shape)
    calcs = {"ours": MLIPCalculator(str(run_dir)),
             "torchscript": MLIPCalculator(str(torchscript)),
             "metatomic": MetatomicCalculator(str(exported), device="cpu")}
    times = {name: [] for name in calcs}
    diff = {"energy": 0.0, "forces": 0.0, "stress": 0.0}
    for step in range(warmup + calls):
        atoms.positions += 0.01 * rng.standard_normal(atoms.positions.shape)
        results = {}
        order = list(calcs)[step % 3:] + list(calcs)[:step % 3]
        for name in order:
            copy = atoms.copy()
            copy.calc = calcs[name]
            start = time.perf_counter()
            results[name] = (copy.get_potential_energy(), copy.get_forces(),
                             copy.get_stress())
            if step >= warmup:
                times[name].append(time.perf_counter() - start)
        for key, a, b in zip(diff, results["ours"], results["metatomic"]):
            diff[key] = max(diff[key], float(np.abs(np.asarray(a) - np.asarray(b)).max()))
    return {"atoms": len(atoms), **{f"{k}_s": float(np.median(v)) for k, v in times.items()},
            **diff}


def main() -> None:
    """Run both precisions and print (and with ``--output`` write) a markdown table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--output", type=Path)
    args = parser.parse_args()
    torch.set_num_threads(1)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for dtype in ("float64", "float32"):
            run_dir = checkpoint(Path(tmp) / dtype, dtype)
            exported, _ = export_metatomic(run_dir, Path(tmp) / f"{dtype}.pt")
            torchscript = export_model(run_dir, Path(tmp) / f"{dtype}-ts.pt")
            r = compare(run_dir, torchscript, exported, args.calls, args.warmup)
            ms = {k: 1e3 * r[f"{k}_s"] for k in ("ours", "torchscript", "metatomic")}
            rows.append(f"| {dtype} | {r['atoms']} | {ms['ours']:.0f} | {ms['torchscript']:.0f} "
                        f"| {ms['metatomic']:.0f} | {ms['metatomic'] / ms['ours']:.2f} | "
                        f"{ms['metatomic'] / ms['torchscript']:.2f} | "
                        f"{r['energy']:.1e} | {r['forces']:.1e} | {r['stress']:.1e} |")
    load = os.getloadavg() if hasattr(os, "getloadavg") else ("?",) * 3
    table = "\n".join([
        f"metatomic-ase (MetatomicCalculator on the metatomic export) against MLIPCalculator "
        f"(on the checkpoint, and on our TorchScript export), energy + forces + stress per "
        f"call, median of {args.calls} calls, "
        f"1 torch thread; {platform.processor() or platform.machine()}, "
        f"{os.cpu_count()} cores, load average {load[0]:.1f} at the end.", "",
        "| dtype | atoms | ours, checkpoint (ms) | ours, TorchScript export (ms) "
        "| metatomic-ase (ms) | ratio to checkpoint | ratio to TorchScript "
        "| max abs ΔE (eV) | max abs ΔF (eV/Å) | max abs Δσ (eV/Å³) |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |", *rows])
    print(table)
    if args.output:
        args.output.write_text(table + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
