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
from mlip_gnn.evaluation.prediction_errors import predict_frames
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


def distance_variants(run: Path, frames, errors) -> list:
    """Spearman of per-atom |ΔF| against: the k-NN distance for several k, and the
    Mahalanobis distance to the training atoms (a one-component Gaussian mixture's
    negative log-likelihood, up to a constant)."""
    import torch

    from mlip_gnn.config import load_config
    from mlip_gnn.inference import Predictor
    from mlip_gnn.train.splits import read_splits
    from mlip_gnn.uncertainty.fit import collect_fit_data, fit_distance
    from mlip_gnn.uncertainty.readout import readout_parts, structure_features

    splits = read_splits(load_config(run / "config.yaml"))
    predictor = Predictor(str(run))
    data = collect_fit_data(predictor, splits.train, splits.valid)
    module = predictor.members[0].module
    parts = readout_parts(module)
    test = torch.cat([structure_features(module, predictor.model_inputs(c), parts)[0]
                      for c in frames])
    rows = []
    for k in (1, 5, 20):
        state = fit_distance(data, k=k)
        rows.append((f"k-NN, k = {k}", spearman(state.distances(test).numpy(), errors)))
    train = data.train_atom_features
    mean = train.mean(0)
    cov = torch.cov((train - mean).T) + 1e-8 * torch.eye(train.shape[1], dtype=train.dtype)
    diff = test - mean
    mahalanobis = (diff @ torch.linalg.inv(cov) * diff).sum(-1)
    rows.append(("Mahalanobis (1 Gaussian)", spearman(mahalanobis.numpy(), errors)))
    return rows


def score_sets(predictors, sets, plain_s) -> list:
    rows = []
    for name, predictor in predictors:
        predict_frames(predictor, next(iter(sets.values()))[:2])  # warm-up
        for set_name, frames in sets.items():
            row = score(name, predictor, frames)
            row["frames"] = set_name
            row["cost"] = row["s_per_frame"] / plain_s
            rows.append(row)
    return rows


def format_rows(rows) -> list:
    lines = ["| estimator | frames | Spearman σ_F vs abs(ΔF), per atom | Spearman OOD vs abs(ΔF) | "
             "Spearman per frame (RMS) | NLL forces | miscal. area F | miscal. area E | "
             "RMSE F (eV/Å) | RMS σ_F (eV/Å) | cost / plain |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['estimator']} | {r['frames']} | {r['spearman_atom']:.3f} | "
                     f"{r['spearman_ood']:.3f} | {r['spearman_frame']:.3f} | "
                     f"{r['nll_forces']:.3f} | {r['area_forces']:.3f} | "
                     f"{r['area_energy']:.3f} | {r['rmse_forces']:.4f} | "
                     f"{r['rms_sigma_forces']:.4f} | {r['cost']:.2f} |")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", default=str(ROOT / "runs/quickstart"))
    parser.add_argument("--seed-run", default=str(ROOT / "runs/quickstart_seed1"))
    parser.add_argument("--frames", type=int, default=20)
    parser.add_argument("--temperature", type=float, default=1200.0)
    parser.add_argument("--output",
                        default=str(ROOT / "benchmarks/results/uncertainty_quickstart"))
    args = parser.parse_args()
    from mlip_gnn.uncertainty import LLPR

    run, seed_run = Path(args.run), Path(args.seed_run)
    train_second_seed(run, seed_run)
    start = time.perf_counter()
    assert cli(["uncertainty", "fit", str(run)]) == 0
    fit_s = time.perf_counter() - start
    main_set = f"{args.temperature:g} K"
    sets = {main_set: md_frames(args.frames, args.temperature, seed=12345),
            "600-2400 K": [f for i, t in enumerate((600, 1200, 1800, 2400))
                           for f in md_frames(args.frames // 4, t, seed=777 + i)]}
    plain = Committee(str(run))
    predict_frames(plain, sets[main_set][:2])  # warm-up
    start = time.perf_counter()
    reference = predict_frames(plain, sets[main_set])
    plain_s = (time.perf_counter() - start) / args.frames
    llpr, exact = LLPR(), LLPR(captured=1.0)
    predictors = [("llpr (99 % of valid. force variance)", Committee(str(run), estimator=llpr)),
                  ("llpr exact", Committee(str(run), estimator=exact)),
                  ("distance", Committee(str(run), estimator="distance")),
                  ("committee (2 seeds)", Committee([str(run), str(seed_run)]))]
    rows = score_sets(predictors, sets, plain_s)
    lines = [f"Held-out EMT Langevin MD frames of fcc Cu (108 atoms, a larger cell than any "
             f"training frame, 100 fs apart after 1 ps): {args.frames} at {main_set}, and "
             f"{args.frames // 4} each at 600, 1200, 1800, 2400 K (training MD: 300-2000 K). "
             f"Model: {run.name} (quickstart config); committee: + {seed_run.name}.",
             f"Fit (`mlip-gnn uncertainty fit`, train + valid passes): {fit_s:.1f} s. "
             f"Plain prediction: {plain_s:.3f} s/frame (108 atoms). LLPR force rows used: "
             f"{llpr.force_rows} of {exact.force_rows}.", ""]
    lines += format_rows(rows)
    errors = np.concatenate([np.linalg.norm(p.forces - p.forces_ref, axis=1)
                             for p in reference])
    lines += ["", f"Descriptor-distance variants at {main_set} (Spearman of the raw score "
              "against abs(ΔF) per atom):", "", "| score | Spearman |", "|---|---|"]
    lines += [f"| {name} | {value:.3f} |" for name, value in
              distance_variants(run, sets[main_set], errors)]
    second = Committee(str(seed_run))
    errors_b = np.concatenate([np.linalg.norm(p.forces - p.forces_ref, axis=1)
                               for p in predict_frames(second, sets[main_set])])
    lines += ["", f"Spearman between the per-atom force errors of the two seeds at "
              f"{main_set}: {spearman(errors, errors_b):.3f} (how much of an atom's error "
              "any estimator could predict from its environment)."]
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
