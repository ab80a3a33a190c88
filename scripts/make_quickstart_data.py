"""Write the quickstart data set: fcc Cu labelled with ASE's EMT potential, as extxyz.

    python scripts/make_quickstart_data.py data/generated/cu_emt.xyz [--frames N] [--seed S]
"""

from __future__ import annotations

import argparse
import time

from ase.io import read

from mlip_gnn.data.synthetic import DEFAULT_N_FRAMES, dataset_summary, write_cu_emt_dataset


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("output", help="extxyz file to write (parent folders are created)")
    parser.add_argument("--frames", type=int, default=DEFAULT_N_FRAMES,
                        help=f"number of frames (default {DEFAULT_N_FRAMES})")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    args = parser.parse_args(argv)

    start = time.perf_counter()
    try:
        path = write_cu_emt_dataset(args.output, n_frames=args.frames, seed=args.seed)
    except ValueError as err:
        parser.error(str(err))
    elapsed = time.perf_counter() - start

    summary = dataset_summary(read(path, ":"))
    print(f"wrote {path}")
    print(f"frames: {summary['n_frames']}  atoms: {summary['n_atoms']}  "
          f"atoms per frame: {summary['atoms_per_frame'][0]}-{summary['atoms_per_frame'][1]}")
    print(f"force RMS: {summary['force_rms']:.3f} eV/Å  elapsed: {elapsed:.1f} s")
    print("config types: " + ", ".join(f"{k}={v}" for k, v in summary["config_types"].items()))


if __name__ == "__main__":
    main()
