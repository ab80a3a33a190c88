"""Active learning on fcc Cu with EMT: uncertainty-driven selection against random.

    python benchmarks/bench_active_learning.py [--work-dir runs/bench_al] [--quick]

Runs ``configs/active_learning/cu_emt.yaml`` as shipped (committee spread, DP-GEN window,
farthest-point sampling), then the same loop with ``select.strategy: random`` (frames
drawn uniformly from the same kind of exploration) and ``stop.max_labels`` set to the
number of labels the first run ended with, so that both end with the same number of
labels. Prints each run's per-iteration table (labels, candidates, accurate fraction at
the hardest condition, held-out energy and force RMSE on 1200 K EMT MD frames), its run
time, and the checks: the held-out force RMSE falls to at most half its first-iteration
value, candidates per iteration fall, the per-atom force uncertainty of the committee,
LLPR and the descriptor distance ranks the held-out force errors (Spearman), and
uncertainty beats random at the same number of labels. ``--output`` appends the report to
a markdown file. ``--quick`` runs a reduced version (fewer iterations and MD steps).
A finished run is not redone (the loop resumes), so the command can be repeated.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import yaml

from bench_speed import machine

from mlip_gnn.active_learning import ActiveLearning, IterationDir, al_config_from_dict

CONFIG = Path(__file__).resolve().parents[1] / "configs" / "active_learning" / "cu_emt.yaml"
_QUICK = {"stop": {"max_iterations": 4}, "explore_steps": 150}


def _run(raw: dict, work_dir: Path) -> tuple:
    raw = {**raw, "work_dir": str(work_dir)}
    cfg = al_config_from_dict(raw, source=str(CONFIG), base_dir=CONFIG.parent)
    start = time.perf_counter()
    summaries = ActiveLearning(cfg).run()
    return summaries, time.perf_counter() - start


def _table(title: str, summaries: list, seconds: float) -> str:
    head = (f"{'iter':>4} {'labels':>6} {'cand.':>5} {'added':>5} {'acc.frac':>8} "
            f"{'hardest':>10} {'E RMSE':>7} {'F RMSE':>7} {'time s':>7}")
    lines = [f"{title} (wall {seconds / 60:.1f} min this call)", head,
             f"{'':>4} {'':>6} {'':>5} {'':>5} {'':>8} {'':>10} {'meV/at':>7} "
             f"{'meV/Å':>7}"]
    for s in summaries:
        seconds_it = s.get("train_s", 0) + s.get("explore_s", 0) + s.get("label_s", 0)
        lines.append(f"{s['iteration']:>4} {s['labels']:>6} {s['candidates']:>5} "
                     f"{s['labelled']:>5} {s['accurate_fraction']:>8.3f} "
                     f"{s['hardest_condition']:>10} {s['heldout_energy_rmse']:>7.2f} "
                     f"{s['heldout_forces_rmse']:>7.1f} {seconds_it:>7.0f}")
    lines.append(f"stop: {summaries[-1]['stop']}")
    return "\n".join(lines)


def _ranks(values: np.ndarray) -> np.ndarray:
    ranks = np.empty(len(values))
    ranks[np.argsort(values, kind="stable")] = np.arange(len(values))
    return ranks


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman rank correlation (no ties expected in continuous data)."""
    return float(np.corrcoef(_ranks(np.asarray(a)), _ranks(np.asarray(b)))[0, 1])


def uncertainty_vs_error(work_dir: Path, iteration: int, committee: int,
                         estimator: str = "committee") -> tuple:
    """Spearman correlation of the per-atom force uncertainty with the per-atom force error
    |F_pred - F_EMT| on the held-out frames, and of their per-frame maxima. ``committee``
    uses the round's committee; ``llpr`` and ``distance`` its first model alone, fitted
    on that model's own training and validation split (the fit is saved beside it)."""
    from ase.io import read

    from mlip_gnn.active_learning.estimators import fit_run
    from mlip_gnn.calculators import MLIPCalculator
    from mlip_gnn.uncertainty import DISTANCE_FILE, LLPR_FILE

    it = IterationDir(work_dir, iteration)
    if estimator == "committee":
        calc = MLIPCalculator([str(it.member(k)) for k in range(committee)])
    else:
        run_dir = it.member(0)
        if not (run_dir / {"llpr": LLPR_FILE, "distance": DISTANCE_FILE}[estimator]).is_file():
            fit_run(run_dir, (estimator,))
        calc = MLIPCalculator(str(run_dir), estimator=estimator)
    sigma, error, frame_sigma, frame_error = [], [], [], []
    for frame in read(work_dir / "heldout.xyz", ":"):
        reference = frame.get_forces()
        frame.calc = calc
        err = np.linalg.norm(frame.get_forces() - reference, axis=1)  # [n] eV/Å
        std = np.asarray(calc.results["forces_std"])  # [n] eV/Å
        sigma.append(std)
        error.append(err)
        frame_sigma.append(std.max())
        frame_error.append(err.max())
    return (spearman(np.concatenate(sigma), np.concatenate(error)),
            spearman(np.array(frame_sigma), np.array(frame_error)))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--work-dir", type=Path, default=Path("runs/bench_al"))
    p.add_argument("--quick", action="store_true", help="fewer iterations and MD steps")
    p.add_argument("--output", type=Path, help="append the tables and checks (markdown) "
                   "to this file")
    p.add_argument("--seed", type=int, help="replace the example's seed (seed frames, MD, "
                   "held-out set, random selection); models keep their training seeds")
    args = p.parse_args()
    raw = yaml.safe_load(CONFIG.read_text())
    if args.seed is not None:
        raw["seed"] = args.seed
    if args.quick:
        raw["stop"] = {**raw["stop"], **_QUICK["stop"]}
        raw["explore"] = {**raw["explore"], "steps": _QUICK["explore_steps"]}

    lines: list = []

    def say(text: str) -> None:
        print(text, flush=True)
        lines.append(text)

    active, t_active = _run(raw, args.work_dir / "uncertainty")
    say(_table("uncertainty-driven selection", active, t_active))
    labels = active[-1]["labels"]
    random_raw = {**raw, "select": {**raw["select"], "strategy": "random"},
                  "stop": {**raw["stop"], "max_labels": labels,
                           "max_iterations": raw["stop"]["max_iterations"] + 2}}
    baseline, t_random = _run(random_raw, args.work_dir / "random")
    say(_table("random selection (same label budget)", baseline, t_random))

    first, last = active[0]["heldout_forces_rmse"], active[-1]["heldout_forces_rmse"]
    say(f"held-out force RMSE: first {first:.1f} -> last {last:.1f} meV/Å "
        f"(ratio {last / first:.2f}; target <= 0.5)")
    say(f"candidates per iteration: {[s['candidates'] for s in active]}")
    final_stage = [s["candidates"] for s in active if s["stage"] == active[-1]["stage"]]
    falling = all(b <= a for a, b in zip(final_stage, final_stage[1:]))
    say(f"candidates per iteration at the hardest schedule stage: {final_stage} "
        f"({'never rising' if falling else 'rising somewhere'})")
    committee = raw["training"]["committee"]
    for i in (0, len(active) - 1):
        for estimator in ("committee", "llpr", "distance"):
            atoms_rho, frames_rho = uncertainty_vs_error(args.work_dir / "uncertainty", i,
                                                         committee, estimator)
            say(f"iteration {i} {estimator}: Spearman(force uncertainty, force error) on "
                f"the held-out set: per atom {atoms_rho:.2f}, per frame (max) "
                f"{frames_rho:.2f}")
    same = [s for s in baseline if s["labels"] == labels]
    if same:
        say(f"at {labels} labels: uncertainty {last:.1f} meV/Å, random "
            f"{same[-1]['heldout_forces_rmse']:.1f} meV/Å (energy "
            f"{active[-1]['heldout_energy_rmse']:.2f} vs "
            f"{same[-1]['heldout_energy_rmse']:.2f} meV/atom)")
    else:
        say(f"random selection never trained on {labels} labels "
            f"(it reached {baseline[-1]['labels']})")
    if args.output is not None:
        _append_report(args, raw["seed"], lines)


def _append_report(args: argparse.Namespace, seed: int, lines: list) -> None:
    """Append this run's tables and checks to ``--output`` (markdown), with the machine."""
    info = machine("cpu")
    command = "python benchmarks/bench_active_learning.py" + (
        f" --seed {args.seed}" if args.seed is not None else "") + (
        " --quick" if args.quick else "")
    section = (f"\n## Seed {seed}\n\n{time.strftime('%Y-%m-%d')}, {info['cpu']}, "
               f"{info['cores']} cores, torch {info['torch']}, {info['threads']} "
               f"thread(s), commit {info['commit']}. Command: `{command}`\n\n"
               "```\n" + "\n".join(lines) + "\n```\n")
    with open(args.output, "a", encoding="utf-8") as handle:
        handle.write(section)

if __name__ == "__main__":
    main()
