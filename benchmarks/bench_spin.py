"""Spin-aware vs spin-free potential on a known spin-lattice reference.

Trains ``configs/spin.yaml`` twice on the same frames (``model.spin: collinear`` and
``none``), exports both, and compares them with the reference
(:class:`mlip_gnn.data.spin_lattice.SpinLatticeCalculator`):

- test energy RMSE of both models (all frames; frames with mixed moments),
- FM - AFM energy difference of perfect bcc and fcc cells (at each order's own E-V
  minimum, Birch-Murnaghan fit),
- equilibrium volume per atom of FM and AFM (magnetovolume effect ΔV = V_FM - V_AFM),
- cost of energy + forces, spin on / off, timed side by side in this process (the
  exported models called alternately on a 128-atom bcc cell; medians).

    python scripts/make_spin_data.py --out data/generated/spin
    python benchmarks/bench_spin.py --train data/generated/spin_train.xyz \\
        --test data/generated/spin_test.xyz --out benchmarks/results/spin
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

import ase.io
import numpy as np
import torch
from ase.eos import EquationOfState

from mlip_gnn.calculators import MLIPCalculator
from mlip_gnn.data import configuration_from_atoms
from mlip_gnn.data.spin_lattice import (CENTRES, SpinLatticeCalculator, cubic_cell,
                                        ordered_moments)
from mlip_gnn.export import export_model
from mlip_gnn.inference import Predictor

ROOT = Path(__file__).resolve().parents[1]
MOMENT = 2.2  # μB
MODES = ("collinear", "none")


def train(mode: str, args) -> Path:
    run_dir = args.out / f"run_{mode}"
    if not (args.reuse and (run_dir / "best.pt").exists()):
        command = [sys.executable, "-c", "import sys; from mlip_gnn.cli.main import main; "
                   "sys.exit(main(sys.argv[1:]))", "train", str(args.config),
                   "--set", f"data.train={args.train.resolve()}",
                   "--set", f"data.test={args.test.resolve()}",
                   "--set", f"model.spin={mode}", "--set", f"output.run_dir={run_dir}",
                   "--set", "output.progress=false", "--set", "output.tensorboard=false"]
        command += [part for item in args.set for part in ("--set", item)]
        with open(args.out / f"train_{mode}.log", "w") as log:
            subprocess.run(command, check=True, stdout=log, stderr=subprocess.STDOUT)
    return export_model(run_dir, args.out / f"model_{mode}.pt")


def test_rmse(calc, frames) -> dict:
    """Energy RMSE (meV/atom) over all frames and over those with mixed moments."""
    errors, mixed = [], []
    for atoms in frames:
        reference = atoms.get_potential_energy() / len(atoms)
        probe = atoms.copy()
        probe.calc = calc
        errors.append(probe.get_potential_energy() / len(atoms) - reference)
        mixed.append("random" in atoms.info.get("config_type", ""))
    errors, mixed = np.array(errors), np.array(mixed)
    return {"all": 1000 * float(np.sqrt(np.mean(errors**2))),
            "mixed": 1000 * float(np.sqrt(np.mean(errors[mixed] ** 2)))}


def equation_of_state(calc, lattice: str, order: str) -> dict:
    """V0 (Å³/atom), E0 (eV/atom), B (GPa) of a perfect cell in ``order``."""
    volumes, energies = [], []
    for scale in np.linspace(0.95, 1.05, 21):
        atoms = cubic_cell(lattice, CENTRES[lattice] * scale)
        atoms.set_initial_magnetic_moments(ordered_moments(atoms, order, MOMENT))
        atoms.calc = calc
        volumes.append(atoms.get_volume() / len(atoms))
        energies.append(atoms.get_potential_energy() / len(atoms))
    eos = EquationOfState(volumes, energies, eos="birchmurnaghan")
    v0, e0, b = eos.fit()
    return {"V0": float(v0), "E0": float(e0), "B_GPa": float(b * 160.21766)}


def properties(calc) -> dict:
    out = {}
    for lattice in CENTRES:
        fm = equation_of_state(calc, lattice, "fm")
        afm = equation_of_state(calc, lattice, "afm")
        out[lattice] = {"fm": fm, "afm": afm, "dE_fm_afm": fm["E0"] - afm["E0"],
                        "dV_fm_afm": fm["V0"] - afm["V0"]}
    return out


def cost(paths: dict, repeats: int) -> dict:
    """Median ms of energy + forces of each exported model on a 128-atom bcc cell,
    called alternately so that both see the same machine load."""
    atoms = cubic_cell("bcc", CENTRES["bcc"]).repeat((2, 2, 2))
    atoms.rattle(0.03, seed=0)
    atoms.set_initial_magnetic_moments(ordered_moments(atoms, "afm", MOMENT))
    conf = configuration_from_atoms(atoms)
    conf.magmoms = atoms.get_initial_magnetic_moments()
    calls = {}
    for mode, path in paths.items():
        predictor = Predictor(path)
        inputs = predictor.model_inputs(conf)
        module = predictor.members[0].module
        args = inputs if inputs[6] is not None else inputs[:6]
        calls[mode] = (lambda m=module, a=args: m(*a[:5], False, *a[6:]))
    times = {mode: [] for mode in calls}
    for _ in range(3):  # warm-up (TorchScript profiling runs)
        for call in calls.values():
            call()
    for _ in range(repeats):
        for mode, call in calls.items():
            start = time.perf_counter()
            call()
            times[mode].append(1000 * (time.perf_counter() - start))
    medians = {mode: statistics.median(t) for mode, t in times.items()}
    return {"atoms": len(atoms), "repeats": repeats, "median_ms": medians,
            "ratio": medians["collinear"] / medians["none"]}


def default_size_cost(out: Path, repeats: int) -> dict:
    """The cost ratio of untrained models of the default architecture (32 channels,
    l ≤ 2, correlation 2; the spin inputs then add a smaller share than in the recipe's
    small model), exported and timed as in :func:`cost`."""
    from mlip_gnn.export import export_potential
    from mlip_gnn.model import build_model

    paths = {}
    for mode in MODES:
        model = build_model(species=[26], r_max=4.5, spin=mode, seed=0)
        paths[mode] = export_potential(model, out / f"default_{mode}.pt")
    return cost(paths, repeats)


def machine() -> dict:
    return {"platform": platform.platform(), "processor": platform.processor(),
            "cpus": os.cpu_count(), "torch": torch.__version__,
            "threads": torch.get_num_threads(), "loadavg_start": os.getloadavg()}


def table(result: dict) -> str:
    ref, models = result["reference"], result["models"]
    rows = ["| quantity | reference | spin-aware | spin-free |", "|---|---|---|---|"]
    rows.append(f"| test E RMSE, all frames (meV/atom) | - | "
                f"{models['collinear']['rmse']['all']:.2f} | {models['none']['rmse']['all']:.2f} |")
    rows.append(f"| test E RMSE, mixed moments (meV/atom) | - | "
                f"{models['collinear']['rmse']['mixed']:.2f} | "
                f"{models['none']['rmse']['mixed']:.2f} |")
    for lattice in CENTRES:
        for name, key, unit in (("E_FM - E_AFM", "dE_fm_afm", "meV/atom"),
                                ("V_FM - V_AFM", "dV_fm_afm", "Å³/atom")):
            scale = 1000.0 if unit == "meV/atom" else 1.0
            cells = [ref[lattice][key] * scale] + [models[m]["properties"][lattice][key] * scale
                                                   for m in MODES]
            rows.append(f"| {lattice} {name} ({unit}) | "
                        + " | ".join(f"{c:.4g}" for c in cells) + " |")
        for order in ("fm", "afm"):
            cells = [ref[lattice][order]["V0"]] + [models[m]["properties"][lattice][order]["V0"]
                                                   for m in MODES]
            rows.append(f"| {lattice} {order.upper()} V0 (Å³/atom) | "
                        + " | ".join(f"{c:.4f}" for c in cells) + " |")
    c = result["cost"]
    rows.append(f"| energy+forces, {c['atoms']} atoms (ms, median of {c['repeats']}) | - | "
                f"{c['median_ms']['collinear']:.2f} | {c['median_ms']['none']:.2f} |")
    return "\n".join(rows)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train", type=Path, required=True)
    parser.add_argument("--test", type=Path, required=True)
    parser.add_argument("--config", type=Path, default=ROOT / "configs" / "spin.yaml")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks/results/spin")
    parser.add_argument("--repeats", type=int, default=30, help="timed calls per model")
    parser.add_argument("--reuse", action="store_true", help="keep trained runs in --out")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="config override for both trainings (repeatable)")
    parser.add_argument("--cost-only", action="store_true",
                        help="only time default-size untrained models, spin on / off")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    if args.cost_only:
        result = {"machine": machine(), "cost_default_size": default_size_cost(
            args.out, args.repeats)}
        result["machine"]["loadavg_end"] = os.getloadavg()
        print(json.dumps(result, indent=1, default=float))
        (args.out / "cost_default_size.json").write_text(json.dumps(result, indent=1,
                                                                    default=float))
        return
    result = {"machine": machine(), "train": str(args.train), "test": str(args.test)}
    paths = {mode: train(mode, args) for mode in MODES}
    frames = ase.io.read(args.test, index=":")
    result["reference"] = properties(SpinLatticeCalculator())
    result["models"] = {mode: {"rmse": test_rmse(MLIPCalculator(path), frames),
                               "properties": properties(MLIPCalculator(path))}
                        for mode, path in paths.items()}
    result["cost"] = cost(paths, args.repeats)
    result["machine"]["loadavg_end"] = os.getloadavg()
    rmse = result["models"]
    result["rmse_ratio_mixed"] = rmse["none"]["rmse"]["mixed"] / rmse["collinear"]["rmse"]["mixed"]
    text = table(result)
    print(text)
    print(f"RMSE ratio (mixed moments), spin-free / spin-aware: {result['rmse_ratio_mixed']:.1f}")
    print(f"cost ratio spin on / off: {result['cost']['ratio']:.3f}")
    (args.out / "result.json").write_text(json.dumps(result, indent=1, default=float))
    (args.out / "table.md").write_text(text + "\n")


if __name__ == "__main__":
    main()
