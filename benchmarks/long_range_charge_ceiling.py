"""How far a charge-only far field can go: the far-field interaction-energy error of a model
whose latent charges were exactly the reference's own per-atom charges.

Beyond the local model's reach (nearest-atom distance > 2 x r_max) a latent-charge model's
interaction energy of two molecules is the Coulomb energy between their charges, with the
recipe's Gaussian kernel k_e q_i q_j erf(r / (√2 σ)) / r. This scores that energy, computed
from the per-atom charges the data carries (``xtb_charges`` of each dimer frame), against
the reference E_int, with the benchmark's own metric (``far_field_error``: per pair the MAE
over its far frames over the mean |E_int,ref|, then the mean over the pairs). A model that
fits the charge labels cannot do better than this on the far field, whatever its training.

    .venv/bin/python benchmarks/long_range_charge_ceiling.py --data DIR --split test
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import ase.io
import numpy as np
from scipy.special import erf

sys.path.insert(0, str(Path(__file__).resolve().parent))
from long_range_analysis import far_field_error  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
COULOMB = 14.399645478425668  # eV Å / e², k_e


def cross_coulomb(atoms, num_a: int, charges: np.ndarray, sigma: float) -> float:
    """Σ_{i in A, j in B} k_e q_i q_j erf(r_ij / (√2 σ)) / r_ij, eV (A: the first num_a
    atoms)."""
    pos = atoms.positions
    r = np.linalg.norm(pos[:num_a, None, :] - pos[None, num_a:, :], axis=-1)  # [a, b]
    kernel = erf(r / (np.sqrt(2.0) * sigma)) / r
    return float(COULOMB * charges[:num_a] @ kernel @ charges[num_a:])


def ceiling_rows(frames, charge_key: str, sigma: float) -> list:
    """One row per dimer frame: pair, distance, reference E_int and the charges' E_int."""
    by_id = {a.info["frame_id"]: a for a in frames if a.info.get("role") in ("A", "B")}
    rows = []
    for dimer in (a for a in frames if a.info.get("role") == "dimer"):
        num_a = len(by_id[dimer.info["frame_a"]])
        rows.append({"pair": dimer.info["pair"], "distance": dimer.info["distance"],
                     "e_int_ref": float(dimer.info["e_int"]),
                     "e_int_pred": cross_coulomb(dimer, num_a, dimer.arrays[charge_key],
                                                 sigma)})
    return rows


def main() -> None:
    """Print the ceiling per pair and overall; ``--json`` writes it."""
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data", type=Path, default=ROOT / "data/generated/long_range")
    p.add_argument("--split", default="test")
    p.add_argument("--charges", default="xtb_charges", help="per-atom charge array")
    p.add_argument("--smearing", type=float, default=1.0, help="σ of the recipe, Å")
    p.add_argument("--threshold", type=float, default=10.0, help="2 x r_max, Å")
    p.add_argument("--json", type=Path, default=None)
    args = p.parse_args()
    frames = ase.io.read(args.data / f"dimers_{args.split}.xyz", index=":")
    result = far_field_error(ceiling_rows(frames, args.charges, args.smearing),
                             args.threshold)
    print("| pair | far frames | mean abs E_int ref (meV) | MAE (meV) | relative |")
    print("|---|---|---|---|---|")
    for pair, row in result["per_pair"].items():
        print(f"| {pair} | {row['frames']} | {row['mean_abs_ref_meV']:.3f} | "
              f"{row['mae_meV']:.3f} | {100 * row['relative']:.1f} % |")
    print(f"mean relative error over pairs: {100 * result['relative_mean']:.1f} %")
    if args.json is not None:
        args.json.write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
