"""``mlip-gnn uncertainty fit RUN_DIR``: fit the single-model uncertainty estimators."""

from __future__ import annotations

import argparse

from mlip_gnn.cli.device import DEVICE_HELP, device_argument

__all__ = ["HELP", "DESCRIPTION", "add_arguments", "run"]

HELP = "fit single-model uncertainty estimators (LLPR, descriptor distance) for a run"
DESCRIPTION = """\
fit RUN_DIR: one pass over the run's training set and one over its validation set (both
as its config.yaml defines them, the same split as training) with the run's best.pt (else
last.pt; EMA weights unless --no-ema). Writes RUN_DIR/llpr.pt (last-layer prediction
rigidity: the float64 covariance of the last-layer features, the regulariser and the
calibration factors fitted on the validation set) and RUN_DIR/distance.pt (descriptor
distance: reference training environments and the calibration). They are found
automatically when the run dir or its checkpoint is loaded with an estimator, e.g.
`mlip-gnn md RUN_DIR start.xyz --uncertainty llpr` or
`MLIPCalculator("RUN_DIR", estimator="llpr")`. Refit after retraining."""


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"got {text!r}; expected a whole number of at least 1")
    return value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``fit`` action and its options."""
    sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    fit = sub.add_parser("fit", help="fit LLPR and descriptor distance for RUN_DIR")
    fit.add_argument("run_dir", metavar="RUN_DIR", help="training run directory")
    fit.add_argument("--estimators", nargs="+", default=["llpr", "distance"],
                     choices=["llpr", "distance"], help="which to fit (default: both)")
    fit.add_argument("--max-reference", type=_positive_int, default=5000, metavar="N",
                     help="descriptor distance: training atoms kept (default 5000)")
    fit.add_argument("--neighbours", type=_positive_int, default=5, metavar="K",
                     help="descriptor distance: nearest training atoms averaged (default 5)")
    fit.add_argument("--device", default="auto", type=device_argument, help=DEVICE_HELP)
    fit.add_argument("--no-ema", action="store_true",
                     help="use the raw weights instead of the EMA (fit and use alike)")


def run(args: argparse.Namespace) -> int:
    """Fit the estimators of ``args.run_dir`` and print what was fitted."""
    from mlip_gnn.active_learning import fit_run

    options = {"distance": {"k": args.neighbours, "max_reference": args.max_reference}}
    fit = fit_run(args.run_dir, args.estimators, device=args.device,
                  use_ema=not args.no_ema, options=options)
    data = fit.data
    print(f"{fit.checkpoint}: {data.num_train} training frames "
          f"({data.seconds['train_pass']:.1f} s), {len(data.samples)} validation frames "
          f"({data.seconds['valid_pass']:.1f} s), {data.weights.numel()} last-layer features")
    print("validation RMSE: " + ", ".join(f"{k} {v:.4g}" for k, v in fit.residuals.items()))
    for kind, state in fit.states.items():
        print(f"wrote {fit.paths[kind]}: {state.summary()}")
    return 0
