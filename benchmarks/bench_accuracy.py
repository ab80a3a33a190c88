"""Test errors of our model and MACE trained for the same wall-clock budget, side by side.

Both models get the same train/valid split, E0s, loss weights and batch size, train at the
same time with one thread each, and are evaluated on the test file by the same function.
See README.md in this folder for the protocol, the MACE settings and the MACE environment.

    python benchmarks/bench_accuracy.py --train ../shared/data/zuo2020/Si_train.xyz \\
        --test ../shared/data/zuo2020/Si_test.xyz --budget-min 30 --seeds 0 1 \\
        --mace-python ../mace-venv/bin/python --out benchmarks/results/accuracy_si.json
"""

import argparse
import datetime
import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Callable, Dict, List, Sequence

import numpy as np
import torch
import yaml
from ase.data import atomic_numbers
from ase.io import read, write
from bench_speed import machine
from benchlib import write_predictions

HERE = Path(__file__).resolve().parent
KEYS = {"energy": "REF_energy", "forces": "REF_forces"}  # label names in the written files
NEVER = 10**6  # "many epochs": both runs end at the budget, not at an epoch count
GRACE_S = 120.0  # after SIGTERM: time to write a checkpoint before SIGKILL
MODELS = ("ours", "mace")


# ------------------------------------------------------------------------ command line
def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--train", type=Path, required=True, help="training file (split here)")
    p.add_argument("--test", type=Path, required=True)
    p.add_argument("--budget-min", type=float, required=True, help="training wall time per run")
    p.add_argument("--seeds", type=int, nargs="+", default=[0])
    p.add_argument("--mace-python", help="python of a virtual environment with mace-torch")
    p.add_argument("--only", choices=MODELS, help="train and evaluate one model only")
    p.add_argument("--out", type=Path, default=HERE / "results" / "accuracy.json",
                   help="JSON; the markdown table goes beside it (.md)")
    p.add_argument("--work-dir", type=Path, default=Path("runs/bench_accuracy"),
                   help="split files, run directories, logs and predictions")
    p.add_argument("--valid-fraction", type=float, default=0.1)
    p.add_argument("--split-seed", type=int, help="default: each run's seed")
    p.add_argument("--subset", type=int, help="use only this many training frames (smoke tests)")
    p.add_argument("--batch-size", type=int, default=5)
    p.add_argument("--channels", type=int, default=64)
    p.add_argument("--max-ell", type=int, default=3)
    p.add_argument("--correlation", type=int, default=3)
    p.add_argument("--layers", type=int, default=2)
    p.add_argument("--r-max", type=float, default=5.0)
    p.add_argument("--energy-weight", type=float, default=1.0, help="on energy per atom")
    p.add_argument("--forces-weight", type=float, default=100.0)
    p.add_argument("--stage-two-at", type=float, default=0.75,
                   help="fraction of the budget after which stage two starts (1: none)")
    p.add_argument("--stage-two-energy-weight", type=float, default=1000.0)
    p.add_argument("--stage-two-forces-weight", type=float, default=100.0)
    p.add_argument("--stage-two-lr", type=float, default=1e-3)
    p.add_argument("--ours-config", type=Path,
                   help="YAML whose settings ours starts from (data, model size, loss and "
                        "train sections are set by the benchmark)")
    p.add_argument("--set", dest="ours_overrides", action="append", default=[],
                   metavar="KEY=VALUE", help="passed to `mlip-gnn train --set` (repeatable)")
    p.add_argument("--mace-args", default="",
                   help="extra mace_run_train arguments, one string (e.g. '--lr 0.005')")
    args = p.parse_args(argv)
    if args.only != "ours" and not args.mace_python:
        p.error("--mace-python is needed unless --only ours")
    return args


# ------------------------------------------------------------------------------- data
def _labelled(atoms):
    """A copy with the DFT labels under KEYS, so both codes read the same fields."""
    results = atoms.calc.results if atoms.calc is not None else {}
    energy = results.get("energy", atoms.info.get(KEYS["energy"]))
    forces = results.get("forces", atoms.arrays.get(KEYS["forces"]))
    out = atoms.copy()
    out.calc = None
    out.info = {k: v for k, v in atoms.info.items() if k == "config_type"}
    out.info[KEYS["energy"]] = float(energy)
    out.arrays[KEYS["forces"]] = np.asarray(forces, dtype=float)
    return out


def split_data(train: Path, test: Path, work: Path, fraction: float, seed: int,
               subset: int | None) -> Dict[str, Path]:
    """train/valid (random, seeded) and test files under ``work``, labels under KEYS."""
    frames = [_labelled(a) for a in read(train, ":")]
    order = np.random.default_rng(seed).permutation(len(frames))
    if subset:
        order = order[:subset]
    num_valid = max(1, int(round(fraction * len(order))))
    parts = {"valid": [frames[i] for i in order[:num_valid]],
             "train": [frames[i] for i in order[num_valid:]],
             "test": [_labelled(a) for a in read(test, ":")]}
    work.mkdir(parents=True, exist_ok=True)
    paths = {}
    for name, part in parts.items():
        paths[name] = work / f"{name}.xyz"
        write(paths[name], part, format="extxyz")
    return paths


def fit_e0s(train_file: Path) -> Dict[str, float]:
    """Least-squares per-element energies (eV) of the training frames."""
    frames = read(train_file, ":")
    elements = sorted({s for a in frames for s in a.get_chemical_symbols()},
                      key=lambda s: atomic_numbers[s])
    counts = np.array([[a.get_chemical_symbols().count(e) for e in elements] for a in frames])
    energies = np.array([a.info[KEYS["energy"]] for a in frames])
    e0, *_ = np.linalg.lstsq(counts.astype(float), energies, rcond=None)
    return {e: float(v) for e, v in zip(elements, e0)}


# ------------------------------------------------------------------- running, stopping
def _child_env() -> Dict[str, str]:
    return {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
            "OPENBLAS_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}


def run_until(cmd: List[str], log: Path, deadline: float,
              stop_early: Callable[[], bool] = lambda: False) -> Dict[str, object]:
    """Run ``cmd`` until it exits, ``deadline`` (time.monotonic) passes or ``stop_early()``;
    then SIGTERM, and SIGKILL after GRACE_S. Returns the exit code and how it ended."""
    with open(log, "a") as out:
        out.write(f"$ {shlex.join(cmd)}\n")
        out.flush()
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=_child_env())
        ended = "exited"
        while proc.poll() is None:
            if time.monotonic() >= deadline or stop_early():
                ended = "stopped"
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(timeout=GRACE_S)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    ended = "killed"
                break
            time.sleep(0.5)
        return {"rc": proc.wait(), "ended": ended}


def check_ran(result: Dict[str, object], what: str, log: Path) -> None:
    if result["ended"] == "exited" and result["rc"] != 0:
        raise RuntimeError(f"{what} failed (exit {result['rc']}); see {log}")


# -------------------------------------------------------------------------------- ours
def ours_config(args: argparse.Namespace, paths: Dict[str, Path], e0s: Dict[str, float],
                run_dir: Path, seed: int, stage_epoch: int | None) -> dict:
    """Our config: ``--ours-config`` (or the package defaults) with the protocol's data,
    model size, loss weights and stop rule on top; stage two from ``stage_epoch`` on."""
    cfg = yaml.safe_load(args.ours_config.read_text()) if args.ours_config else {}
    cfg.update(seed=seed, device="cpu", dtype="float32")
    cfg["data"] = {**cfg.get("data", {}), "train": str(paths["train"].resolve()),
                   "valid": str(paths["valid"].resolve()), "test": None,
                   "keys": {**KEYS, "stress": None, "virial": None},
                   "r_max": args.r_max, "batch_size": args.batch_size, "e0s": e0s}
    cfg["model"] = {**cfg.get("model", {}), "num_layers": args.layers,
                    "num_channels": args.channels, "max_ell": args.max_ell, "hidden_ell": 1,
                    "correlation": args.correlation}
    stages = [] if stage_epoch is None else [
        {"epoch": stage_epoch, "energy_weight": args.stage_two_energy_weight,
         "forces_weight": args.stage_two_forces_weight, "lr": args.stage_two_lr}]
    cfg["loss"] = {**cfg.get("loss", {}), "kind": "mse", "energy_weight": args.energy_weight,
                   "forces_weight": args.forces_weight, "stress_weight": 0.0,
                   "stages": stages}
    cfg["train"] = {**cfg.get("train", {}), "max_epochs": NEVER, "valid_interval": 1,
                    "max_time_minutes": args.budget_min, "early_stopping_patience": None}
    cfg["output"] = {**cfg.get("output", {}), "run_dir": str(run_dir.resolve()),
                     "tensorboard": False, "progress": False}
    return cfg


def ours_epochs(run_dir: Path) -> List[dict]:
    path = run_dir / "metrics.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def train_ours(args, paths, e0s, work: Path, seed: int, deadlines: List[float]) -> dict:
    """Stage one until deadlines[0], then (if two deadlines) resume with stage two."""
    run_dir, log = work / "ours_run", work / "ours_train.log"
    base = [sys.executable, "-m", "mlip_gnn", "train"]
    overrides = [x for o in args.ours_overrides for x in ("--set", o)]
    stage_epoch = None
    for phase, deadline in enumerate(deadlines):
        if phase == 1:  # resume where stage one stopped, with the stage-two weights
            stage_epoch = len(ours_epochs(run_dir))
        cfg_path = work / f"ours_config_{phase + 1}.yaml"
        cfg = ours_config(args, paths, e0s, run_dir, seed, stage_epoch)
        cfg_path.write_text(yaml.safe_dump(cfg, sort_keys=False))
        resume = ["--resume", str(run_dir)] if phase == 1 else []
        result = run_until(base + [str(cfg_path)] + overrides + resume, log, deadline)
        check_ran(result, "ours training", log)
    epochs = ours_epochs(run_dir)
    return {"train_end": time.monotonic(), "epochs": len(epochs), "stage_two_epoch": stage_epoch,
            "s_per_epoch": _mean([r["epoch_time_s"] for r in epochs]),
            "model_file": str(run_dir / "best.pt")}


def predict_ours(model_file: str, test: Path, out: Path) -> dict:
    from mlip_gnn.calculators import MLIPCalculator
    from mlip_gnn.modelio import model_from_checkpoint

    write_predictions(MLIPCalculator(model_file), str(test), str(out))
    model, _, state = model_from_checkpoint(model_file)
    return {"params": sum(p.numel() for p in model.parameters()),
            "evaluated_epoch": state.get("epoch")}


# -------------------------------------------------------------------------------- MACE
def mace_command(args, paths, e0s, seed: int) -> List[str]:
    """mace_run_train with MACE's recommended training settings, sized like ours."""
    mace_bin = str(Path(args.mace_python).parent / "mace_run_train")
    hidden = f"{args.channels}x0e+{args.channels}x1o"
    e0_dict = "{" + ", ".join(f"{atomic_numbers[e]}: {v!r}" for e, v in e0s.items()) + "}"
    return [mace_bin, "--name", "mace", "--seed", str(seed), "--device", "cpu",
            "--default_dtype", "float32",
            "--train_file", str(paths["train"].resolve()),
            "--valid_file", str(paths["valid"].resolve()),
            "--energy_key", KEYS["energy"], "--forces_key", KEYS["forces"], "--E0s", e0_dict,
            "--model", "MACE", "--hidden_irreps", hidden, "--max_ell", str(args.max_ell),
            "--correlation", str(args.correlation),
            "--num_interactions", str(args.layers), "--r_max", str(args.r_max),
            "--loss", "weighted", "--energy_weight", str(args.energy_weight),
            "--forces_weight", str(args.forces_weight),
            "--swa", "--swa_energy_weight", str(args.stage_two_energy_weight),
            "--swa_forces_weight", str(args.stage_two_forces_weight),
            "--swa_lr", str(args.stage_two_lr),
            "--ema", "--ema_decay", "0.99", "--amsgrad",
            "--batch_size", str(args.batch_size), "--valid_batch_size", str(args.batch_size),
            "--eval_interval", "1", "--skip_evaluate_heads", "Default",
            *shlex.split(args.mace_args)]


def _checkpoints(ckpt_dir: Path) -> Dict[str, List[int]]:
    """Epochs of the saved checkpoints, stage one (``one``) and stage two (``two``)."""
    found: Dict[str, List[int]] = {"one": [], "two": []}
    for path in ckpt_dir.glob("*_epoch-*.pt"):
        match = re.search(r"_epoch-(\d+)(_swa)?\.pt$", path.name)
        if match:
            found["two" if match.group(2) else "one"].append(int(match.group(1)))
    return found


def mace_epochs(results: Path) -> List[float]:
    """Training seconds (sum of the logged step times) of each completed epoch."""
    if not results.exists():
        return []
    done, seconds = [], 0.0
    for line in results.read_text().splitlines():
        rec = json.loads(line)
        if rec.get("mode") == "opt":
            seconds += rec.get("time", 0.0)
        elif rec.get("mode") == "eval":
            if rec.get("epoch") is not None:
                done.append(seconds)
            seconds = 0.0  # a run starts with an eval (epoch None): drop killed partials
    return done


def _epoch_end_after(results: Path, start: float) -> Callable[[], bool]:
    """True once the run has completed an epoch after time.monotonic() ``start``."""
    count = {"at_start": None}

    def check() -> bool:
        if time.monotonic() < start:
            return False
        if count["at_start"] is None:
            count["at_start"] = len(mace_epochs(results))
        return len(mace_epochs(results)) > count["at_start"]
    return check


def train_mace(args, paths, e0s, work: Path, seed: int, deadlines: List[float]) -> dict:
    """Stage one until the first epoch end after deadlines[0], then restart from the
    latest checkpoint in stage two until deadlines[1]; MACE itself then writes the model."""
    mace_dir, log = work / "mace_run", work / "mace_train.log"
    mace_dir.mkdir(parents=True, exist_ok=True)
    base = mace_command(args, paths, e0s, seed) + ["--work_dir", str(mace_dir.resolve())]
    results = mace_dir / "results" / f"mace_run-{seed}_train.txt"
    ckpt_dir = mace_dir / "checkpoints"
    stage_epoch = None
    if len(deadlines) == 1:
        cmd = base + ["--max_num_epochs", str(NEVER), "--start_swa", str(NEVER)]
        check_ran(run_until(cmd, log, deadlines[0]), "MACE training", log)
    else:
        cmd = base + ["--max_num_epochs", str(NEVER), "--start_swa", str(NEVER)]
        stop = _epoch_end_after(results, deadlines[0])
        check_ran(run_until(cmd, log, deadlines[1], stop), "MACE training", log)
        stage_epoch = max(_checkpoints(ckpt_dir)["one"], default=0)
        cmd = base + ["--max_num_epochs", str(NEVER), "--start_swa", str(stage_epoch),
                      "--restart_latest"]
        check_ran(run_until(cmd, log, deadlines[1]), "MACE training", log)
    epochs = mace_epochs(results)
    end = time.monotonic()
    return {"train_end": end, "epochs": len(epochs), "stage_two_epoch": stage_epoch,
            "s_per_epoch": _mean(epochs), "model_file": finalize_mace(base, mace_dir, log)}


def finalize_mace(base: List[str], mace_dir: Path, log: Path) -> str:
    """Let mace_run_train write the .model of the latest checkpoint (no more epochs): it
    holds the EMA weights of the best validation loss of the last stage reached."""
    found = _checkpoints(mace_dir / "checkpoints")
    if found["two"]:
        last = max(found["two"])
        if last == 0:  # stage two needs start_swa < max_num_epochs to be written
            raise RuntimeError(f"MACE completed no stage-two epoch after epoch 0; see {log}")
        extra = ["--max_num_epochs", str(last), "--start_swa", "0"]
        name = "mace_stagetwo.model"
    elif found["one"]:
        last = max(found["one"])
        extra = ["--max_num_epochs", str(last), "--start_swa", str(last)]
        name = "mace.model"
    else:
        raise RuntimeError(f"MACE saved no checkpoint within the budget; see {log}")
    cmd = base + extra + ["--restart_latest"]
    check_ran(run_until(cmd, log, time.monotonic() + 3600), "writing the MACE model", log)
    return str(mace_dir / name)


def predict_mace(args, model_file: str, test: Path, out: Path, log: Path) -> dict:
    cmd = [args.mace_python, str(HERE / "mace_predict.py"), "--model", model_file,
           "--test", str(test), "--out", str(out)]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=_child_env())
    with open(log, "a") as f:
        f.write(proc.stdout + proc.stderr)
    if proc.returncode != 0:
        raise RuntimeError(f"MACE prediction failed; see {log}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


# -------------------------------------------------------------------------- evaluation
def test_errors(reference: Path, predictions: Path) -> Dict[str, float]:
    """E MAE/RMSE (meV/atom) and F MAE/RMSE (meV/Å, per component) of ``predictions``
    (pred_energy, pred_forces) against the labels of ``reference`` (KEYS)."""
    ref, pred = read(reference, ":"), read(predictions, ":")
    if len(ref) != len(pred):
        raise ValueError(f"{predictions}: {len(pred)} frames, {reference}: {len(ref)}")
    de = np.array([(p.info["pred_energy"] - r.info[KEYS["energy"]]) / len(r)
                   for r, p in zip(ref, pred)])
    df = np.concatenate([(p.arrays["pred_forces"] - r.arrays[KEYS["forces"]]).ravel()
                         for r, p in zip(ref, pred)])
    return {"e_mae": 1e3 * float(np.abs(de).mean()),
            "e_rmse": 1e3 * float(np.sqrt((de**2).mean())),
            "f_mae": 1e3 * float(np.abs(df).mean()),
            "f_rmse": 1e3 * float(np.sqrt((df**2).mean()))}


# ------------------------------------------------------------------------------- a run
def run_seed(args: argparse.Namespace, seed: int) -> Dict[str, dict]:
    """Both trainings of one seed at the same time, then the same evaluation for both."""
    work = args.work_dir / f"seed{seed}"
    for old in ("ours_run", "mace_run"):  # a run directory left there would be resumed
        shutil.rmtree(work / old, ignore_errors=True)
    for log in work.glob("*.log"):
        log.unlink()
    split_seed = seed if args.split_seed is None else args.split_seed
    paths = split_data(args.train, args.test, work, args.valid_fraction, split_seed,
                       args.subset)
    e0s = fit_e0s(paths["train"])
    start = time.monotonic()
    deadlines = [start + 60.0 * args.budget_min]
    if 0.0 < args.stage_two_at < 1.0:
        deadlines.insert(0, start + 60.0 * args.budget_min * args.stage_two_at)
    trainers = {"ours": train_ours, "mace": train_mace}
    names = [args.only] if args.only else list(MODELS)
    records: Dict[str, dict] = {}

    def job(name: str) -> None:
        began = time.monotonic()
        try:
            records[name] = trainers[name](args, paths, e0s, work, seed, deadlines)
        except Exception as exc:  # noqa: BLE001  # reported in the table, the other runs on
            records[name] = {"error": str(exc)}
        # training alone: without writing the MACE model after the budget
        records[name]["train_wall_s"] = records[name].pop("train_end", time.monotonic()) - began

    threads = [threading.Thread(target=job, args=(n,)) for n in names]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for name in names:
        evaluate(args, name, records[name], paths["test"], work)
    for rec in records.values():
        rec.update(seed=seed, budget_min=args.budget_min, e0s=e0s,
                   num_train=len(read(paths["train"], ":")),
                   num_valid=len(read(paths["valid"], ":")))
    return {name: records[name] for name in names}


def evaluate(args, name: str, rec: dict, test: Path, work: Path) -> None:
    if "error" in rec:
        return
    pred = work / f"{name}_test_pred.xyz"
    try:
        if name == "ours":
            rec.update(predict_ours(rec["model_file"], test, pred))
        else:
            rec.update(predict_mace(args, rec["model_file"], test, pred,
                                    work / "mace_predict.log"))
        rec.update(test_errors(test, pred))
    except Exception as exc:  # noqa: BLE001
        rec["error"] = str(exc)


# ------------------------------------------------------------------------------ report
METRICS = ("e_rmse", "e_mae", "f_rmse", "f_mae")


def _mean(values: Sequence[float]) -> float | None:
    return float(np.mean(values)) if len(values) else None


def summary(runs: List[dict]) -> Dict[str, dict]:
    """Mean over seeds of each model, and ours / MACE of each mean."""
    means = {}
    for name in MODELS:
        ok = [r for r in runs if r["model"] == name and "error" not in r]
        if ok:
            keys = METRICS + ("epochs", "s_per_epoch", "params")
            means[name] = {k: _mean([r[k] for r in ok if r.get(k) is not None]) for k in keys}
            means[name]["seeds"] = len(ok)
    if len(means) == 2:
        means["ratio_ours_over_mace"] = {k: means["ours"][k] / means["mace"][k]
                                         for k in METRICS + ("s_per_epoch", "params")
                                         if means["ours"][k] and means["mace"][k]}
    return means


def _fmt(value, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def markdown(report: dict) -> str:
    head = ("| model | seed | E RMSE | E MAE | F RMSE | F MAE | epochs | s/epoch | params "
            "| budget (min) |\n|---|---|---|---|---|---|---|---|---|---|")
    rows = []
    for r in report["runs"]:
        if "error" in r:
            rows.append(f"| {r['model']} | {r['seed']} | error: {r['error']} |||||||||")
            continue
        rows.append(f"| {r['model']} | {r['seed']} | " + " | ".join(
            _fmt(r.get(k), ".2f" if k.startswith("e_") else ".1f") for k in METRICS)
            + f" | {r['epochs']} | {_fmt(r.get('s_per_epoch'), '.1f')} | {r['params']:,} "
              f"| {r['budget_min']:g} |")
    for name, m in report["summary"].items():
        if name in MODELS:
            rows.append(f"| **{name} mean** | {m['seeds']} seeds | " + " | ".join(
                _fmt(m[k], ".2f" if k.startswith("e_") else ".1f") for k in METRICS)
                + f" | {m['epochs']:.1f} | {_fmt(m['s_per_epoch'], '.1f')} "
                  f"| {m['params']:,.0f} | |")
    ratio = report["summary"].get("ratio_ours_over_mace", {})
    if ratio:
        rows.append("| **ours / MACE** | | " + " | ".join(
            _fmt(ratio.get(k), ".2f") for k in METRICS) + f" | | "
            f"{_fmt(ratio.get('s_per_epoch'), '.2f')} | {_fmt(ratio.get('params'), '.2f')} | |")
    info = report["machine"]
    lines = [f"# Accuracy at equal wall-clock budget: {report['data']['train']}", "",
             f"Date: {report['date']}. Command:", "", "```", report["command"], "```", "",
             "Machine: " + ", ".join(f"{k} {v}" for k, v in info.items()), "",
             "Units: energy meV/atom, forces meV/Å (per component); test set "
             f"{report['data']['test']}.", "", head, *rows, ""]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    torch.set_num_threads(1)
    runs = []
    for seed in args.seeds:
        for name, rec in run_seed(args, seed).items():
            runs.append({"model": name, **rec})
            print(json.dumps(runs[-1]), flush=True)
    info = machine("cpu")
    info["threads"] = 1
    mace_versions = {r["mace"] for r in runs if "mace" in r}
    if mace_versions:
        info["mace_torch"] = ", ".join(sorted(mace_versions))
    report = {"date": datetime.datetime.now().isoformat(timespec="seconds"),
              "command": shlex.join([sys.executable] + sys.argv),
              "machine": info,
              "data": {"train": str(args.train), "test": str(args.test)},
              "settings": {k: (str(v) if isinstance(v, Path) else v)
                           for k, v in vars(args).items()},
              "runs": runs, "summary": summary(runs)}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    table = markdown(report)
    args.out.with_suffix(".md").write_text(table)
    print(table)
    print(f"wrote {args.out} and {args.out.with_suffix('.md')}")


if __name__ == "__main__":
    main()
