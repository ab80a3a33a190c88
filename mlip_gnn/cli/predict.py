"""``mlip-gnn predict MODEL... DATA -o out.xyz``: predictions for (unlabelled) structures."""

from __future__ import annotations

import argparse
import sys

from mlip_gnn.cli.evaluate import _key_map_item
from mlip_gnn.cli.device import DEVICE_HELP, device_argument

__all__ = ["HELP", "DESCRIPTION", "add_arguments", "run"]

HELP = "write a model's energy, forces, stress and uncertainty for every frame"
DESCRIPTION = """\
Predict every frame of DATA (any format ASE reads; labels not needed) with MODEL (exported
file, checkpoint or run directory) and write an extended XYZ file: each frame as read, plus
MLIP_energy (eV), MLIP_stress (Voigt xx yy zz yz xz xy, eV/Å³, ASE sign; periodic cells
only), per-atom MLIP_forces (eV/Å) and MLIP_energies (eV). With two or more models
(a committee), their mean is written, with the spread: MLIP_energy_std (eV),
MLIP_max_forces_std (eV/Å), MLIP_stress_std and per-atom MLIP_forces_std (eV/Å).
A spin model (model.spin: collinear) reads each frame's moments from the per-atom array
initial_magmoms (--key-map magmoms=NAME) and adds per-atom MLIP_magnetic_forces (-dE/dm,
eV/μB). The prefix is set with --prefix. Exit status 2 means bad input."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Models, structure file, output and key map."""
    parser.add_argument("models", metavar="MODEL", nargs="+",
                        help="exported file(s), checkpoint(s) or run dir(s); several: a "
                             "committee")
    parser.add_argument("data", metavar="DATA", help="structure file")
    parser.add_argument("-o", "--output", required=True, metavar="OUT.xyz",
                        help="extended XYZ file to write")
    parser.add_argument("--prefix", default="MLIP_", help="name prefix of the results")
    parser.add_argument("--key-map", metavar="LABEL=NAME", nargs="+", type=_key_map_item,
                        default=[], help="where labels live (kept in the output as read)")
    parser.add_argument("--device", default="auto", type=device_argument, help=DEVICE_HELP)
    parser.add_argument("--no-ema", action="store_true",
                        help="checkpoints: use the raw weights instead of the EMA")


def run(args: argparse.Namespace) -> int:
    """Write the predictions of ``args.models`` for ``args.data``; print the count."""
    from mlip_gnn.cli.export import report_error
    from mlip_gnn.data import KeyMap
    from mlip_gnn.evaluation.predictions import predict_file
    from mlip_gnn.export import ModelFileError
    from mlip_gnn.utils.paths import check_output_file

    check_output_file(args.output, "-o/--output", inputs=[args.data, *args.models])
    try:
        count = predict_file(args.models, args.data, args.output, KeyMap(**dict(args.key_map)),
                             args.prefix, device=args.device, use_ema=not args.no_ema)
    except ModelFileError as exc:
        return report_error("predict", exc)
    print(f"wrote {args.output}: {count} frame(s), {len(args.models)} model(s)",
          file=sys.stdout)
    return 0
