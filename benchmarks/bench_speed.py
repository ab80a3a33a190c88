"""Energy + forces: wall time and peak memory of our model, optionally beside MACE.

Each case (model size x supercell) runs in a fresh subprocess, so that the process's
peak resident memory belongs to that case alone; cases run one after the other. See
README.md in this folder for the protocol and the MACE environment.

    python benchmarks/bench_speed.py --mace-python ../mace-venv/bin/python
"""

import argparse
import json
import os
import platform
import subprocess
import sys
from pathlib import Path
from typing import List

import torch

HERE = Path(__file__).resolve().parent
LARGE_ATOMS = 1000  # cases above this are "large" for --skip-large-medium


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    p.add_argument("--sizes", nargs="+", default=["small", "medium"])
    p.add_argument("--cells", nargs="+", type=int, default=[4, 10],
                   help="fcc cubic cells per side: 4 -> 256 atoms, 10 -> 4,000 atoms")
    p.add_argument("--mace-python", help="python of a virtual environment with mace-torch")
    p.add_argument("--skip-large-medium", action="store_true",
                   help="leave out the medium model on the 4,000-atom cell (memory)")
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--budget-s", type=float, default=30.0,
                   help="per case: fewer repeats when they would take longer than this")
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: default)")
    p.add_argument("--mode", choices=["infer", "train"], default="infer",
                   help="infer: energy + forces; train: one training step (force loss)")
    p.add_argument("--timeout-s", type=float, default=1800.0, help="per case")
    p.add_argument("--out", type=Path, help="JSON file (default results/speed_<device>.json)")
    return p.parse_args()


def machine(device: str) -> dict:
    cpu = platform.processor() or "unknown"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    info = {"cpu": cpu, "cores": os.cpu_count(), "torch": torch.__version__,
            "threads": torch.get_num_threads(), "device": device,
            "python": platform.python_version()}
    if device == "cuda":
        info["gpu"] = torch.cuda.get_device_name()
    git = subprocess.run(["git", "-C", str(HERE), "rev-parse", "--short", "HEAD"],
                         capture_output=True, text=True)
    info["commit"] = git.stdout.strip() or "unknown"
    return info


def run_worker(python: str, script: str, size: str, cells: int,
               args: argparse.Namespace) -> dict:
    """One case in a fresh process; its last stdout line is the JSON record."""
    cmd = [python, str(HERE / script), "--size", size, "--cells", str(cells),
           "--device", args.device, "--warmup", str(args.warmup),
           "--repeats", str(args.repeats), "--budget-s", str(args.budget_s),
           "--threads", str(args.threads), "--mode", args.mode]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=args.timeout_s)
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {args.timeout_s:.0f} s"}
    except OSError as exc:  # e.g. a --mace-python that does not exist
        return {"error": f"cannot run {python}: {exc}"}
    if proc.returncode != 0:
        # -9 is usually the kernel's out-of-memory killer
        tail = proc.stderr.strip().splitlines()[-1:] or [""]
        return {"error": f"exit {proc.returncode}: {tail[0]}"}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _num(value: float | None, fmt: str) -> str:
    return "-" if value is None else format(value, fmt)


HEADER = (f"{'case':<8}{'atoms':>7}{'ours ms':>10}{'ours MB':>9}{'ours NL ms':>11}"
          f"{'MACE ms':>10}{'MACE MB':>9}{'MACE NL ms':>11}{'ratio':>7}{'cpu ratio':>10}")


def row_lines(row: dict) -> List[str]:
    """The table line of one case, then a line for each worker that failed."""
    ours, mace = row["ours"], row.get("mace") or {}
    lines = [f"{row['size']:<8}{row['atoms']:>7}{_num(ours.get('ms'), '.1f'):>10}"
             f"{_num(ours.get('peak_mb'), '.0f'):>9}{_num(ours.get('nl_ms'), '.1f'):>11}"
             f"{_num(mace.get('ms'), '.1f'):>10}{_num(mace.get('peak_mb'), '.0f'):>9}"
             f"{_num(mace.get('nl_ms'), '.1f'):>11}{_num(row.get('ratio'), '.2f'):>7}"
             f"{_num(row.get('cpu_ratio'), '.2f'):>10}"]
    for name, rec in (("ours", ours), ("MACE", mace)):
        if "error" in rec:
            lines.append(f"    {name}: {rec['error']}")
    return lines


def table(rows: List[dict]) -> str:
    lines = [HEADER, "-" * len(HEADER)]
    for row in rows:
        lines.extend(row_lines(row))
    return "\n".join(lines)


def main() -> None:
    args = parse_args()
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    suffix = "" if args.mode == "infer" else f"_{args.mode}"
    out = args.out or HERE / "results" / f"speed_{args.device}{suffix}.json"
    info = machine(args.device)
    print(" | ".join(f"{k}: {v}" for k, v in info.items()), flush=True)
    rows = []
    for cells in args.cells:
        atoms = 4 * cells**3
        for size in args.sizes:
            if args.skip_large_medium and size == "medium" and atoms > LARGE_ATOMS:
                continue
            row = {"size": size, "atoms": atoms,
                   "ours": run_worker(sys.executable, "ours_worker.py", size, cells, args)}
            if args.mace_python:
                row["mace"] = run_worker(args.mace_python, "mace_worker.py", size, cells,
                                         args)
                if "ms" in row["ours"] and "ms" in row["mace"]:
                    row["ratio"] = row["mace"]["ms"] / row["ours"]["ms"]
                    row["cpu_ratio"] = row["mace"]["cpu_ms"] / row["ours"]["cpu_ms"]
            rows.append(row)
            print("\n".join(row_lines(row)), file=sys.stderr, flush=True)
    print(table(rows))
    print("ratio = MACE ms / ours ms (> 1: ours is faster); cpu ratio: the same with process "
          "CPU time; MB = peak memory of the calls beyond the model and graph; "
          "NL = neighbour list alone")
    out.parent.mkdir(parents=True, exist_ok=True)
    settings = {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()}
    out.write_text(json.dumps({"machine": info, "settings": settings, "results": rows},
                              indent=2) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
