"""Local against long-range potential, side by side at equal wall-clock time.

Trains ``configs/long_range.yaml`` twice at the same time, one thread each, for the same
``train.budget_minutes``: once with the overrides that switch the long-range term off
(``--local-set``, default ``model.long_range.electrostatics=none``; give ``--local-set``
alone where the package has no such key), once with those that switch it on
(``--long-range-set``); ``--variant`` adds more models, trained at the same time (with
more runs than cores, each gets its share of them). Then scores each on the test frames:
energy
(meV/atom) and force (meV/Å) MAE and RMSE, overall and per pair, and on the dimer curves
the interaction energy E_int = E(AB) - E(A) - E(B) beyond 2 x r_max (nearest-atom
distance; r_max read from the config): per pair the MAE over its far frames divided by
the mean |E_int,ref| over them, averaged over the pairs, and the plain MAE (meV). Writes
a Markdown table, a JSON record (commands, epochs, machine and its load) and one
interaction-curve plot per test pair (reference and each model) to ``--out``.

    OMP_NUM_THREADS=1 ../xtb-venv/bin/python scripts/make_long_range_data.py
    .venv/bin/python benchmarks/bench_long_range.py --system dimers --minutes 30
    .venv/bin/python benchmarks/bench_long_range.py --system nacl --minutes 30
    .venv/bin/python benchmarks/bench_long_range.py --system dimers --minutes 15 \
        --variant charges data.keys.charges=xtb_charges loss.charges_weight=1
    .venv/bin/python benchmarks/bench_long_range.py --system dimers --minutes 3 --local-only \
        --local-set          # a package without the long-range term: the config as it is
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import ase.io
import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from long_range_analysis import (energy_force_errors, errors_by, far_field_error,  # noqa: E402
                                 interaction_rows)

from mlip_gnn.config import load_config  # noqa: E402
from mlip_gnn.evaluation.predictions import predict_file  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
LONG_RANGE_SET = ["model.long_range.electrostatics=latent"]
LOCAL_SET = ["model.long_range.electrostatics=none"]
REFERENCE_CHARGES = "xtb_charges"  # per-atom reference charges of the data, e
INFO_KEYS = ("frame_id", "role", "pair", "curve", "distance", "frame_a", "frame_b")


def train_command(args, name: str, extra: list) -> list:
    """``mlip-gnn train`` of the recipe on the system's files, for ``args.minutes``."""
    files = {s: args.data / f"{args.system}_{s}.xyz" for s in ("train", "valid", "test")}
    sets = [f"data.{s}={path.resolve()}" for s, path in files.items()]
    sets += [f"train.budget_minutes={args.minutes}", "train.max_epochs=null",
             f"output.run_dir={args.work / name}", "output.progress=false",
             "output.tensorboard=false", *args.set, *extra]
    return [sys.executable, "-m", "mlip_gnn", "train", str(args.config),
            *[part for item in sets for part in ("--set", item)]]


def train_side_by_side(args, commands: dict) -> dict:
    """Start every run at once (one thread each), wait; the wall time of each (s), or
    "reused" for a finished run kept by ``--reuse``."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    procs, walls, start = {}, {}, time.perf_counter()
    for name, command in commands.items():
        if args.reuse and (args.work / name / "best.pt").exists():
            walls[name] = "reused"  # trained by an earlier call: its wall time is not known
            continue
        log = open(args.work / f"train_{name}.log", "w")
        procs[name] = (subprocess.Popen(command, env=env, stdout=log,
                                        stderr=subprocess.STDOUT), log)
    for name, (proc, log) in procs.items():
        code = proc.wait()
        log.close()
        walls[name] = time.perf_counter() - start
        if code != 0:
            raise SystemExit(f"{name} run failed (exit {code}): see "
                             f"{args.work / f'train_{name}.log'}")
    return walls


def records(run_dir: Path, test: Path, out: Path) -> list:
    """One record per test frame (see long_range_analysis) with the run's predictions."""
    predict_file([str(run_dir)], test, out)
    result = []
    for atoms in ase.io.read(out, ":"):
        record = {k: atoms.info[k] for k in INFO_KEYS if k in atoms.info}
        record.setdefault("pair", atoms.info.get("config_type", "all"))
        record.update(num_atoms=len(atoms), e_ref=atoms.get_potential_energy(),
                      e_pred=float(atoms.info["MLIP_energy"]), f_ref=atoms.get_forces(),
                      f_pred=atoms.arrays["MLIP_forces"])
        if "MLIP_stress" in atoms.info:
            record.update(s_ref=atoms.get_stress(), s_pred=atoms.info["MLIP_stress"])
        if "MLIP_charges" in atoms.arrays and REFERENCE_CHARGES in atoms.arrays:
            record.update(q_ref=atoms.arrays[REFERENCE_CHARGES],
                          q_pred=atoms.arrays["MLIP_charges"])
        result.append(record)
    return result


def stress_errors(recs: list) -> dict:
    """Stress MAE / RMSE (meV/Å³) over the 9 components of the full tensors (as the
    package's own metrics) of the frames that have both."""
    from ase.stress import voigt_6_to_full_3x3_stress as full

    diffs = [full(np.asarray(r["s_pred"])) - full(r["s_ref"]) for r in recs if "s_ref" in r]
    if not diffs:
        return {}
    d = np.concatenate(diffs).ravel()
    return {"stress_mae": 1e3 * float(np.mean(np.abs(d))),
            "stress_rmse": 1e3 * float(np.sqrt(np.mean(d**2)))}


def charge_errors(recs: list) -> dict:
    """MAE of the latent charges against the data's reference charges (me, milli-e per
    atom), over the frames that have both (long-range models only)."""
    diffs = [np.asarray(r["q_pred"]) - r["q_ref"] for r in recs if "q_ref" in r]
    if not diffs:
        return {}
    return {"charges_mae": 1e3 * float(np.mean(np.abs(np.concatenate(diffs))))}


def score(recs: list, threshold: float) -> dict:
    """Overall, dimer-only and per-pair errors, and the far-field E_int error."""
    result = {"all": {**energy_force_errors(recs), **stress_errors(recs),
                      **charge_errors(recs)}}
    dimers = [r for r in recs if r.get("role") == "dimer"]
    if dimers:
        result["dimers"] = energy_force_errors(dimers)
        result["per_pair"] = errors_by(dimers, "pair")
        result["rows"] = interaction_rows(recs)
        result["far_field"] = far_field_error(result["rows"], threshold)
    return result


def plot_curves(rows_by_model: dict, r_max: float, out: Path) -> list:
    """One PNG per pair, a column per test curve: E_int against distance (eV), and below
    it the part beyond r_max in meV."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    first = next(iter(rows_by_model.values()))
    written = []
    for pair in sorted({r["pair"] for r in first}):
        curves = sorted({r["curve"] for r in first if r["pair"] == pair})
        fig = Figure(figsize=(4 * len(curves), 6))
        FigureCanvasAgg(fig)
        for i, curve in enumerate(curves):
            series = {"GFN1-xTB": sorted((r["distance"], r["e_int_ref"]) for r in first
                                        if r["curve"] == curve)}
            for model, rows in rows_by_model.items():
                series[model] = sorted((r["distance"], r["e_int_pred"]) for r in rows
                                       if r["curve"] == curve)
            for row, (lo, unit) in enumerate(((0.0, 1.0), (r_max, 1e3))):
                ax = fig.add_subplot(2, len(curves), row * len(curves) + i + 1)
                for name, pts in series.items():
                    pts = [(d, unit * e) for d, e in pts if d >= lo]
                    ax.plot(*zip(*pts), "k-o" if name == "GFN1-xTB" else "--x", ms=3,
                            label=name)
                for x in (r_max, 2 * r_max):
                    ax.axvline(x, color="grey", lw=0.6, ls=":")
                ax.set_xlabel("nearest-atom distance (Å)")
                ax.set_ylabel("E_int (eV)" if row == 0 else "E_int (meV)")
            fig.axes[2 * i].set_title(curve, fontsize=8)
        fig.axes[0].legend(fontsize=7)
        fig.tight_layout()
        path = out / f"curve_{pair.replace('/', '_')}.png"
        fig.savefig(path, dpi=100)
        written.append(path.name)
    return written


def machine() -> dict:
    """Where and under what load the benchmark ran."""
    return {"platform": platform.platform(), "processor": platform.processor(),
            "cpus": os.cpu_count(), "torch": torch.__version__,
            "loadavg_start": os.getloadavg()}


def table(result: dict) -> str:
    """Markdown: one row per model, overall, dimer and far-field figures."""
    head = ("| model | epochs | E MAE | E RMSE | F MAE | F RMSE | dimer E RMSE | "
            "dimer F RMSE | E_int rel. err. beyond 2 r_max | E_int MAE beyond (meV) |")
    lines = [head, "|" + "---|" * 10]
    for name, m in result["models"].items():
        a, d, far = m["all"], m.get("dimers"), m.get("far_field")
        cells = [name, m["epochs"], f"{a['energy_mae']:.2f}", f"{a['energy_rmse']:.2f}",
                 f"{a['forces_mae']:.1f}", f"{a['forces_rmse']:.1f}",
                 f"{d['energy_rmse']:.2f}" if d else "-", f"{d['forces_rmse']:.1f}" if d else "-",
                 f"{100 * far['relative_mean']:.1f} %" if far else "-",
                 f"{far['mae_meV']:.1f}" if far else "-"]
        lines.append("| " + " | ".join(map(str, cells)) + " |")
    lines.append("\nE in meV/atom, F in meV/Å (per component), test frames.")
    for name, m in result["models"].items():
        if "charges_mae" in m["all"]:
            lines.append(f"{name}: latent charges against {REFERENCE_CHARGES}, MAE "
                         f"{m['all']['charges_mae']:.1f} me per atom.")
    for name, m in result["models"].items():
        if "per_pair" in m:
            lines += [f"\n{name}, per pair (dimer frames; far field beyond "
                      f"{m['far_field']['threshold_A']} Å):\n",
                      "| pair | E RMSE | F RMSE | far frames | E_int MAE (meV) | "
                      "mean abs E_int,ref (meV) | rel. err. |", "|---|---|---|---|---|---|---|"]
            for pair, e in m["per_pair"].items():
                f = m["far_field"]["per_pair"].get(pair)
                far_cells = (f"{f['frames']} | {f['mae_meV']:.2f} | {f['mean_abs_ref_meV']:.2f}"
                             f" | {100 * f['relative']:.1f} %") if f else "0 | - | - | -"
                lines.append(f"| {pair} | {e['energy_rmse']:.2f} | {e['forces_rmse']:.1f} | "
                             f"{far_cells} |")
    return "\n".join(lines)


def main() -> None:
    """Command line: train, score, write."""
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--system", choices=["dimers", "nacl"], default="dimers")
    p.add_argument("--data", type=Path, default=ROOT / "data/generated/long_range")
    p.add_argument("--config", type=Path, default=ROOT / "configs/long_range.yaml")
    p.add_argument("--minutes", type=float, default=30.0, help="training budget of each run")
    p.add_argument("--long-range-set", nargs="+", default=LONG_RANGE_SET, metavar="KEY=VALUE",
                   help="overrides that switch the long-range term on")
    p.add_argument("--local-set", nargs="*", default=LOCAL_SET, metavar="KEY=VALUE",
                   help="overrides that switch it off (for a config with the term on); "
                        "give --local-set alone for none, with a package without the term")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override for both runs (repeatable)")
    p.add_argument("--variant", nargs="+", action="append", default=[],
                   metavar="NAME KEY=VALUE",
                   help="one more model trained beside the others: its name, then its "
                        "overrides (repeatable), e.g. --variant charges "
                        "data.keys.charges=xtb_charges loss.charges_weight=1")
    p.add_argument("--local-only", action="store_true", help="train the local model only")
    p.add_argument("--work", type=Path, default=ROOT / "runs/bench_long_range")
    p.add_argument("--out", type=Path, default=None,
                   help="default: benchmarks/results/long_range_<system>")
    p.add_argument("--reuse", action="store_true", help="keep finished runs in --work")
    args = p.parse_args()
    args.work = args.work / args.system
    args.out = args.out or ROOT / f"benchmarks/results/long_range_{args.system}"
    args.work.mkdir(parents=True, exist_ok=True)
    args.out.mkdir(parents=True, exist_ok=True)
    # a refused override fails now, not after the local run
    r_max = load_config(args.config, [*args.set, *args.local_set]).data.r_max
    if not args.local_only:
        load_config(args.config, [*args.set, *args.long_range_set])
    for _, *sets in args.variant:
        load_config(args.config, [*args.set, *sets])
    result = {"system": args.system, "minutes": args.minutes, "r_max": r_max,
              "machine": machine(), "commands": {}, "models": {}}
    commands = {"local": train_command(args, "local", args.local_set)}
    if not args.local_only:
        commands["long_range"] = train_command(args, "long_range", args.long_range_set)
    for name, *sets in args.variant:
        commands[name] = train_command(args, name, sets)
    result["commands"] = {k: " ".join(v[2:]) for k, v in commands.items()}
    result["train_wall_s"] = train_side_by_side(args, commands)
    rows_by_model = {}
    for name in commands:
        recs = records(args.work / name, args.data / f"{args.system}_test.xyz",
                       args.work / f"pred_{name}.xyz")
        scores = score(recs, 2 * r_max)
        scores["epochs"] = len((args.work / name / "metrics.jsonl").read_text().splitlines())
        if "rows" in scores:
            rows_by_model[name] = scores["rows"]
        result["models"][name] = scores
    if rows_by_model:
        result["plots"] = plot_curves(rows_by_model, r_max, args.out)
    result["machine"]["loadavg_end"] = os.getloadavg()
    text = table(result)
    print(text)
    (args.out / "result.json").write_text(json.dumps(result, indent=1, default=float) + "\n")
    (args.out / "table.md").write_text(text + "\n")


if __name__ == "__main__":
    main()
