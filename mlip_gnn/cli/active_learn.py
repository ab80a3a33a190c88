"""``mlip-gnn active-learn AL.yaml``: the explore → select → label → retrain loop."""

from __future__ import annotations

import argparse

__all__ = ["HELP", "DESCRIPTION", "add_arguments", "run"]

HELP = "active learning: explore with MD, label what the models are unsure of, retrain"
DESCRIPTION = """\
Run the active-learning loop AL.yaml describes (see the README, "Active learning", and
configs/active_learning/cu_emt.yaml). Each iteration trains a committee on the labelled
frames so far, logs its errors on the held-out set, explores with MD under the schedule's
conditions (each trajectory stops when the uncertainty passes select.upper), selects frames
between select.lower and select.upper (farthest-point sampled, at most
select.max_candidates), labels them with the reference and adds them.

work_dir receives iter_NNN/ (train.xyz, models/, explore/, selection.xyz, labels/,
added.xyz, summary.json, progress.png), al_log.jsonl (one line per iteration),
al_progress.png and al.log. The loop stops when the accurate fraction at the hardest
condition of the last schedule stage reaches stop.accurate_fraction, or after
stop.max_iterations or stop.max_labels.

Killed, it resumes where it stopped when run again: nothing labelled is labelled again.
Exit status 2 means bad input."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The AL.yaml and its work directory."""
    parser.add_argument("config", help="active-learning YAML (AL.yaml)")
    parser.add_argument("--work-dir", metavar="DIR",
                        help="replace work_dir of the YAML (relative to the current folder)")


def run(args: argparse.Namespace) -> int:
    """Run the loop; print how it ended."""
    from mlip_gnn.active_learning import run_loop

    summaries, work_dir = run_loop(args.config, args.work_dir)
    last = summaries[-1] if summaries else {}
    print(f"active learning finished after {len(summaries)} iteration(s) "
          f"({last.get('stop')}); {last.get('labels_total')} labelled frames; log: "
          f"{work_dir / 'al_log.jsonl'}")
    return 0
