"""MD steps per second through the ASE calculator: TorchScript export, eager, compiled,
AOTInductor export.

    python benchmarks/bench_md.py --size medium64 --cells 4 --steps 20 --threads 1

A randomly initialised float32 model (``benchlib.SIZES``) on rattled fcc Cu, written as a
checkpoint and exported; then velocity-Verlet steps (1 fs, forces every step) with
``MLIPCalculator`` on the export (TorchScript), on the checkpoint (eager) and on the
checkpoint with ``compile=True`` (``torch.compile``), and on the ahead-of-time compiled
``.pt2`` package (``--aoti``; compiling it takes minutes). The first steps (compilation,
warm-up) are not timed. Prints steps/s and the ratio to the TorchScript export.
"""

import argparse
import tempfile
import time
from pathlib import Path

import torch
from ase import units
from ase.md.verlet import VelocityVerlet
from benchlib import R_MAX, SIZES, make_atoms

from mlip_gnn.calculators import MLIPCalculator
from mlip_gnn.export import export_model, export_potential
from mlip_gnn.model import build_model
from mlip_gnn.modelio import ModelSpec, save_checkpoint


def _steps_per_second(calc: MLIPCalculator, cells: int, warmup: int, steps: int) -> float:
    atoms = make_atoms(cells)
    atoms.calc = calc
    dyn = VelocityVerlet(atoms, timestep=1.0 * units.fs)
    dyn.run(warmup)
    start = time.perf_counter()
    dyn.run(steps)
    return steps / (time.perf_counter() - start)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--size", choices=sorted(SIZES), default="medium64")
    p.add_argument("--cells", type=int, default=4)
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--aoti", action="store_true", help="also the AOTInductor package")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    kwargs = dict(species=[29], r_max=R_MAX, avg_num_neighbors=42.0, scale=0.1,
                  dtype="float32", **SIZES[args.size])
    model = build_model(**kwargs, seed=0)
    with tempfile.TemporaryDirectory() as tmp:
        checkpoint = save_checkpoint({"model_spec": ModelSpec.from_builder_kwargs(kwargs)
                                      .to_dict(), "model": model.state_dict()},
                                     Path(tmp) / "best.pt")
        exported = export_potential(model, Path(tmp) / "model.pt")
        cases = [("TorchScript export", lambda: MLIPCalculator(str(exported))),
                 ("eager checkpoint", lambda: MLIPCalculator(str(checkpoint))),
                 ("compiled checkpoint", lambda: MLIPCalculator(str(checkpoint), compile=True))]
        if args.aoti:
            package = export_model(checkpoint, Path(tmp) / "model.pt2", format="aoti")
            cases.append(("AOTInductor export", lambda: MLIPCalculator(str(package))))
        rates = {}
        for name, calc in cases:
            rates[name] = _steps_per_second(calc(), args.cells, args.warmup, args.steps)
    print(f"{args.size} model, {4 * args.cells ** 3} atoms, float32, CPU, "
          f"{args.threads} thread(s), {args.steps} timed steps")
    print("| calculator | steps/s | ratio to TorchScript |")
    print("|---|---|---|")
    for name, rate in rates.items():
        print(f"| {name} | {rate:.2f} | {rate / rates['TorchScript export']:.2f} |")


if __name__ == "__main__":
    main()
