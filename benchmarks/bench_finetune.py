"""Fine-tuning against training from scratch, for the same time, on Zuo 2020 Si.

    OMP_NUM_THREADS=1 python benchmarks/bench_finetune.py --data ../shared/data/zuo2020 \\
        --work /tmp/finetune --base-minutes 12 --minutes 8

The Si data is split by configuration type: "old" = elastic, surface and vacancy frames,
"new" = AIMD-NVT snapshots (test frames split the same way). A base model trains on the
old frames; then, side by side (one thread each, at the same time), the base model is
fine-tuned on the new frames with 20 % old frames replayed (``model.init_from``,
``finetune.replay``), and a model of the same size trains on the new frames from scratch,
for the same wall time. All three are scored on the old and the new test frames. The
model is that of ``configs/si_zuo2020.yaml``. Prints a Markdown table and writes it
(with the commands and the machine) to ``--out``.
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

from ase.io import read, write

ROOT = Path(__file__).resolve().parents[1]
OLD_TYPES = {"Elastic", "Surface", "Vacancy"}


def split(data: Path, work: Path) -> dict:
    files = {}
    for part in ("train", "test"):
        frames = read(data / f"Si_{part}.xyz", ":")
        old = [a for a in frames if a.info.get("config_type") in OLD_TYPES]
        new = [a for a in frames if a.info.get("config_type") not in OLD_TYPES]
        for name, subset in (("old", old), ("new", new)):
            path = work / f"si_{name}_{part}.xyz"
            write(path, subset, format="extxyz")
            files[f"{name}_{part}"] = path
    return files


def train_command(run_dir: Path, train: Path, minutes: float, stage_epoch: int,
                  extra: list) -> list:
    return [sys.executable, "-m", "mlip_gnn", "train", str(ROOT / "configs/si_zuo2020.yaml"),
            "--set", f"data.train={train}", "--set", "data.test=null",
            "--set", f"train.max_time_minutes={minutes}", "--set", "train.max_epochs=1000",
            "--set", f"loss.stages=[{{epoch: {stage_epoch}, energy_weight: 1000.0, "
            "lr: 0.001}]", "--set", "output.progress=false",
            "--set", "output.tensorboard=false", "--set", f"output.run_dir={run_dir}", *extra]


def scores(run_dir: Path, files: dict) -> dict:
    from mlip_gnn.evaluation import evaluate

    out = {}
    for name in ("old_test", "new_test"):
        report, _ = evaluate(str(run_dir), [files[name]])
        overall = report["overall"] if "overall" in report else report
        out[name] = {k: overall[k] for k in ("energy_mae", "forces_mae") if k in overall}
    return out


def epochs(run_dir: Path) -> int:
    lines = (run_dir / "metrics.jsonl").read_text().splitlines()
    return len(lines)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data", type=Path, default=ROOT.parent / "shared/data/zuo2020")
    p.add_argument("--work", type=Path, default=Path("/tmp/finetune"))
    p.add_argument("--base-minutes", type=float, default=12.0)
    p.add_argument("--minutes", type=float, default=8.0)
    p.add_argument("--out", type=Path, default=ROOT / "benchmarks/results/finetune_si.md")
    args = p.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    files = split(args.data, args.work)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    base = args.work / "base"
    commands = {"base": train_command(base, files["old_train"], args.base_minutes, 12, [])}
    started = time.time()
    if not (base / "best.pt").exists():
        subprocess.run(commands["base"], check=True, env=env, stdout=subprocess.DEVNULL)
    commands["fine-tuned"] = train_command(
        args.work / "finetuned", files["new_train"], args.minutes, 6,
        ["--set", f"model.init_from={base}", "--set", "optim.lr=0.002",
         "--set", f"finetune.replay=[{files['old_train']}]",
         "--set", "finetune.replay_fraction=0.2"])
    commands["from scratch"] = train_command(args.work / "scratch", files["new_train"],
                                             args.minutes, 6, [])
    procs = [subprocess.Popen(commands[name], env=env, stdout=subprocess.DEVNULL)
             for name in ("fine-tuned", "from scratch")]
    for proc in procs:
        if proc.wait() != 0:
            raise SystemExit(f"a training run failed: {proc.args}")
    runs = {"base (old data)": base, "fine-tuned": args.work / "finetuned",
            "from scratch": args.work / "scratch"}
    rows = []
    for name, run_dir in runs.items():
        s = scores(run_dir, files)
        rows.append(f"| {name} | {epochs(run_dir)} | {s['old_test']['energy_mae']:.2f} | "
                    f"{s['old_test']['forces_mae']:.1f} | {s['new_test']['energy_mae']:.2f} | "
                    f"{s['new_test']['forces_mae']:.1f} |")
    table = "\n".join([
        "| model | epochs | old test E MAE (meV/atom) | old test F MAE (meV/Å) | "
        "new test E MAE (meV/atom) | new test F MAE (meV/Å) |",
        "|---|---|---|---|---|---|", *rows])
    text = (f"# Fine-tuning vs from scratch, Zuo 2020 Si\n\n"
            f"{time.strftime('%Y-%m-%d')}, {platform.processor() or platform.machine()}, "
            f"{os.cpu_count()} cores, 1 thread per run; base {args.base_minutes} min on the "
            f"old frames, then fine-tuned and from-scratch runs side by side for "
            f"{args.minutes} min each on the new frames (fine-tuning replays 20 % old "
            f"frames). Old = elastic, surface, vacancy; new = AIMD-NVT.\n\n{table}\n\n"
            f"Commands:\n\n" + "\n".join(f"- {k}: `{' '.join(map(str, v[2:]))}`"
                                        for k, v in commands.items())
            + f"\n\nTotal wall time {time.time() - started:.0f} s.\n")
    print(text)
    args.out.write_text(text)


if __name__ == "__main__":
    main()
