"""``mlip-gnn train config.yaml``: fit a potential; resumable."""

from __future__ import annotations

import argparse

__all__ = ["HELP", "DESCRIPTION", "add_arguments", "run"]

HELP = "train a potential from a YAML config"
DESCRIPTION = """\
Train a potential as the YAML config says. The run directory (output.run_dir) receives
config.yaml (resolved), last.pt, last.prev.pt, best.pt, epoch_NNNNN.pt, metrics.jsonl,
train.log, tensorboard/ and, with test data, test_metrics.json.

Resuming: if output.run_dir already holds a checkpoint written with the same config,
training continues from it automatically. If the config differs, the command stops and
lists the differences; pass --resume RUN_DIR to continue that run with the new config
(e.g. more epochs), or choose a new output.run_dir. The model spec (species, r_max,
dtype, E0s, architecture) comes from the checkpoint: a config that changes it is refused
with a message naming the fields; dataset statistics left at 'auto' keep their values.

SIGTERM or SIGUSR1 (e.g. a batch system's pre-emption warning) make the run write a
checkpoint after the current step and exit with status 0; Ctrl-C (SIGINT) does the same
and exits with status 130 (press it twice to abort without a checkpoint). Run the same
command again to continue. Exit status 2 means bad input (config, data, paths,
checkpoints)."""

EXIT_INTERRUPTED = 130  # the shell's status for Ctrl-C


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Config file, overrides, resume and device."""
    parser.add_argument("config", help="YAML config file")
    parser.add_argument("--set", dest="overrides", action="append", default=[],
                        metavar="KEY=VALUE",
                        help="override a config value, e.g. --set train.max_epochs=50 or "
                             "--set model.radial_mlp=[32,32] (value parsed as YAML; "
                             "repeatable; applied in order)")
    parser.add_argument("--resume", metavar="RUN_DIR",
                        help="continue the run in RUN_DIR (its last.pt, or last.prev.pt if "
                             "that is damaged) even if the config changed; output.run_dir "
                             "becomes RUN_DIR")
    parser.add_argument("--device", metavar="DEVICE",
                        help="'auto', 'cpu', 'cuda' or 'cuda:N'; same as --set device=DEVICE")


def run(args: argparse.Namespace) -> int:
    """Train from the config; status 130 when stopped by Ctrl-C."""
    from mlip_gnn.config import load_config
    from mlip_gnn.train import train

    overrides = list(args.overrides)
    if args.device is not None:
        overrides.append(f"device={args.device}")
    cfg = load_config(args.config, overrides)
    result = train(cfg, resume=args.resume)
    return EXIT_INTERRUPTED if result.stop_reason == "signal SIGINT" else 0
