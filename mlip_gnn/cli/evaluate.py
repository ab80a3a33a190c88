"""``mlip-gnn evaluate MODEL DATA...``: error tables, JSON and parity plots."""

from __future__ import annotations

import argparse

from mlip_gnn.cli.device import DEVICE_HELP, device_argument

__all__ = ["HELP", "DESCRIPTION", "add_arguments", "run"]

HELP = "errors of a model on labelled data (tables, JSON, parity plots)"
DESCRIPTION = """\
Evaluate a model (exported file, checkpoint or run directory) on labelled structure files
(any format ASE reads). Prints MAE and RMSE of the energy per atom (meV/atom), force
components (meV/Å) and stress components (meV/Å³), overall and per config_type, and of the
forces per element; writes OUT_DIR/metrics.json, OUT_DIR/errors.txt and
OUT_DIR/parity_<quantity>.png for each quantity some frame is labelled with. Frames without
a label are left out of that label's figures, and the table says which labels are missing
(unlabelled structures are scored with mlip-gnn predict). A spin model reads each frame's
collinear moments from the per-atom array initial_magmoms (--key-map magmoms=NAME).

With an uncertainty estimator (--uncertainty committee with --committee further models,
or llpr / distance for a run fitted with `mlip-gnn uncertainty fit`) a calibration
section follows: Spearman rank correlation between predicted uncertainty and actual
error, Gaussian negative log-likelihood, miscalibration area (energies per atom, force
components), and OUT_DIR/calibration.png. All input is checked before anything is
written; exit status 2 means bad input (the message names file, frame and field)."""

# the fields of mlip_gnn.data.KeyMap, spelled out so that --help need not import torch
KEY_FIELDS = ["energy", "forces", "stress", "virial", "weight", "config_type", "magmoms",
              "magnetic_forces", "charge", "charges"]


def _key_map_item(text: str):
    name, sep, value = text.partition("=")
    if not sep or name not in KEY_FIELDS or not value:
        raise argparse.ArgumentTypeError(
            f"--key-map: got {text!r}; expected LABEL=NAME with LABEL one of {KEY_FIELDS} "
            "(NAME 'none' skips that label)")
    return name, None if value.lower() in ("none", "null") else value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Model, data, key map, committee and output."""
    parser.add_argument("model", metavar="MODEL", help="exported file, checkpoint or run dir")
    parser.add_argument("data", metavar="DATA", nargs="+", help="labelled structure file(s)")
    parser.add_argument("--key-map", metavar="LABEL=NAME", nargs="+", type=_key_map_item,
                        default=[], help="where labels live, e.g. energy=REF_energy "
                        "forces=REF_forces stress=REF_stress")
    parser.add_argument("-o", "--output", default="evaluation", metavar="OUT_DIR",
                        help="output directory (default: evaluation)")
    parser.add_argument("--device", default="auto", type=device_argument, help=DEVICE_HELP)
    parser.add_argument("--uncertainty", choices=["committee", "llpr", "distance"],
                        help="uncertainty estimator for the calibration section (default: "
                             "committee with --committee models, else none)")
    parser.add_argument("--committee", nargs="+", default=[], metavar="MODEL",
                        help="further models: MODEL and these form a committee whose mean "
                             "is scored")
    parser.add_argument("--no-ema", action="store_true",
                        help="checkpoints: use the raw weights instead of the EMA")


def run(args: argparse.Namespace) -> int:
    """Evaluate ``args.model`` (and its committee) on ``args.data``; print and write."""
    from mlip_gnn.cli.export import report_error
    from mlip_gnn.data import KeyMap, optional_moments
    from mlip_gnn.evaluation import evaluate, format_report, write_outputs
    from mlip_gnn.evaluation.calibration import format_calibration
    from mlip_gnn.export import ModelFileError
    from mlip_gnn.utils.paths import check_output_dir

    check_output_dir(args.output, "-o/--output", inputs=args.data)
    try:  # every file is read first: a DataError means exit 2 before any model runs
        # moments are read where the frames have them (a spin model needs them)
        key_map = optional_moments(KeyMap(**dict(args.key_map)))
        report, frames = evaluate([args.model, *args.committee], args.data, key_map,
                                  device=args.device, estimator=args.uncertainty,
                                  use_ema=not args.no_ema)
    except ModelFileError as exc:
        return report_error("evaluate", exc)
    print(format_report(report))
    if "calibration" in report:
        print(format_calibration(report["calibration"]))
    written = write_outputs(report, frames, args.output, model=args.model)
    print("wrote " + ", ".join(str(path) for path in written))
    return 0
