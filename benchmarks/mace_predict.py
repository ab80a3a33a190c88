"""Energies and forces of a trained MACE model on a test file; prints one JSON line.

Run by ``bench_accuracy.py`` in MACE's own virtual environment (see README.md); it must
not import mlip_gnn. Writes the test frames with ``pred_energy`` (eV, in the info) and
``pred_forces`` (eV/Å, per atom) to ``--out``; the errors are computed by the caller.

    python mace_predict.py --model mace.model --test test.xyz --out pred.xyz
"""

import argparse
import json

import mace  # noqa: F401  # first: it lets e3nn 0.4.4 read its constants under torch >= 2.6
import torch
from benchlib import write_predictions
from mace.calculators import MACECalculator


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--model", required=True)
    p.add_argument("--test", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    args = p.parse_args()
    torch.set_num_threads(1)
    calc = MACECalculator(model_paths=args.model, device="cpu", default_dtype=args.dtype)
    frames = write_predictions(calc, args.test, args.out)
    params = sum(p.numel() for p in calc.models[0].parameters())
    print(json.dumps({"params": params, "mace": mace.__version__, "frames": frames}))


if __name__ == "__main__":
    main()
