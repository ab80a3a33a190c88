"""Uncertainty estimators on the quickstart model: do they rank the true force errors?

Fits LLPR and the descriptor distance on ``runs/quickstart`` (``mlip-gnn uncertainty
fit``), trains a second quickstart model with seed 1 for a 2-seed committee when it is
missing, generates held-out EMT Langevin MD frames of fcc Cu at 1200 K (108 atoms, a cell
larger than any training frame), and reports for each estimator the Spearman rank
correlation between the per-atom force uncertainty and the true per-atom force error
|F - F_EMT|, the same for the OOD score, per-frame Spearman (RMS σ against RMS error),
calibration (NLL, miscalibration area) and the cost per frame relative to a plain
prediction.

    python benchmarks/bench_uncertainty.py [--run runs/quickstart] [--frames 20]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from ase import units
from ase.build import bulk
from ase.calculators.emt import EMT
from ase.constraints import FixCom
from ase.md.langevin import Langevin
from ase.md.velocitydistribution import Stationary

from mlip_gnn.calculators import Committee
from mlip_gnn.cli.main import main as cli
from mlip_gnn.data import configuration_from_atoms
from mlip_gnn.evaluation.calibration import calibration_section
from mlip_gnn.evaluation.errors import predict_frames
from mlip_gnn.uncertainty.calibration import spearman

ROOT = Path(__file__).resolve().parents[1]


def md_frames(count: int, temperature_k: float, seed: int):
    """``count`` Langevin snapshots of 108-atom fcc Cu, 100 fs apart after 1 ps."""
    rng = np.random.default_rng(seed)
    atoms = bulk("Cu", "fcc", a=3.59 * (1 + 2.1e-5 * temperature_k), cubic=True) * (3, 3, 3)
    atoms.calc = EMT()
    atoms.set_constraint(FixCom())
    masses = atoms.get_masses()[:, None]
    atoms.set_momenta(np.sqrt(masses * units.kB * temperature_k)
                      * rng.standard_normal((len(atoms), 3)))
    Stationary(atoms)
    dyn = Langevin(atoms, 4.0 * units.fs, temperature_K=temperature_k,
                   friction=0.01 / units.fs, fixcm=False, rng=rng)
    dyn.run(250)
    frames = []
    for _ in range(count):
        dyn.run(25)
        frame = atoms.copy()
        frame.set_constraint()
        frames.append(dataclasses.replace(configuration_from_atoms(frame),
                                          energy=atoms.get_potential_energy(),
                                          forces=atoms.get_forces()))
    return frames


def train_second_seed(run: Path, seed_run: Path) -> None:
    if (seed_run / "best.pt").is_file():
        return
    config = str(ROOT / "configs/quickstart.yaml")
    subprocess.run([sys.executable, "-m", "mlip_gnn", "train", config, "--set", "seed=1",
                    "--set", f"output.run_dir={seed_run}"], check=True)


def score(name: str, predictor, frames) -> dict:
    start = time.perf_counter()
    predicted = predict_frames(predictor, frames)
    seconds = (time.perf_counter() - start) / len(frames)
    section = calibration_section(predicted, name)
    error = [np.linalg.norm(p.forces - p.forces_ref, axis=1) for p in predicted]
    frame_error = [np.sqrt(np.mean(e ** 2)) for e in error]
    frame_sigma = [np.sqrt(np.mean(p.forces_std ** 2)) for p in predicted]
    forces = section["forces"]
    return {"estimator": name, "spearman_atom": forces["spearman"],
            "spearman_ood": forces.get("spearman_ood", float("nan")),
            "spearman_frame": spearman(np.array(frame_sigma), np.array(frame_error)),
            "nll_forces": forces["nll"], "area_forces": forces["miscalibration_area"],
            "area_energy": section["energy"]["miscalibration_area"],
            "rmse_forces": forces["rmse"], "rms_sigma_forces": forces["rms_sigma"],
            "s_per_frame": seconds}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", default=str(ROOT / "runs/quickstart"))
    parser.add_argument("--seed-run", default=str(ROOT / "runs/quickstart_seed1"))
    parser.add_argument("--frames", type=int, default=20)
    parser.add_argument("--temperature", type=float, default=1200.0)
    parser.add_argument("--output", default=str(ROOT / "benchmarks/results/uncertainty_quickstart"))
    args = parser.parse_args()
    run, seed_run = Path(args.run), Path(args.seed_run)
    train_second_seed(run, seed_run)
    start = time.perf_counter()
    assert cli(["uncertainty", "fit", str(run)]) == 0
    fit_s = time.perf_counter() - start
    frames = md_frames(args.frames, args.temperature, seed=12345)
    plain = Committee(str(run))
    start = time.perf_counter()
    predict_frames(plain, frames)
    plain_s = (time.perf_counter() - start) / len(frames)
    rows = [score("llpr", Committee(str(run), estimator="llpr"), frames),
            score("distance", Committee(str(run), estimator="distance"), frames),
            score("committee (2 seeds)", Committee([str(run), str(seed_run)]), frames)]
    lines = [f"Held-out EMT MD frames: {args.frames} x 108 atoms, fcc Cu, {args.temperature:g} K "
             f"(Langevin, 100 fs apart). Model: {run.name} (quickstart); committee: + seed 1.",
             f"Fit (uncertainty fit, train + valid passes): {fit_s:.1f} s. Plain prediction: "
             f"{plain_s:.3f} s/frame.", "",
             "| estimator | Spearman σ_F vs abs(ΔF) per atom | Spearman OOD vs abs(ΔF) | "
             "Spearman per frame | NLL forces | miscal. area F | miscal. area E | "
             "RMSE F (eV/Å) | RMS σ_F (eV/Å) | cost / plain |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['estimator']} | {r['spearman_atom']:.3f} | {r['spearman_ood']:.3f} | "
                     f"{r['spearman_frame']:.3f} | {r['nll_forces']:.3f} | "
                     f"{r['area_forces']:.3f} | {r['area_energy']:.3f} | "
                     f"{r['rmse_forces']:.4f} | {r['rms_sigma_forces']:.4f} | "
                     f"{r['s_per_frame'] / plain_s:.2f} |")
    table = "\n".join(lines)
    print(table)
    out = Path(args.output)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".md").write_text("# Uncertainty estimators, quickstart model\n\n"
                                      + table + "\n")
    out.with_suffix(".json").write_text(json.dumps(
        {"frames": args.frames, "temperature_K": args.temperature, "fit_s": fit_s,
         "plain_s_per_frame": plain_s, "rows": rows}, indent=2))


if __name__ == "__main__":
    main()
