"""``mlip-gnn preprocess DATA... -o DATASET_DIR``: structure files → on-disk dataset."""

from __future__ import annotations

import argparse
import os
import sys

from mlip_gnn.cli.evaluate import KEY_FIELDS, _key_map_item
from mlip_gnn.defaults import R_MAX

__all__ = ["HELP", "DESCRIPTION", "add_arguments", "run"]

HELP = "convert structure files into an on-disk dataset for training at scale"
DESCRIPTION = f"""\
Convert structure files (any format ASE reads; a directory: all its files) into a dataset
directory that training reads without loading it (data.train: DATASET_DIR). Frames are
stored as memory-mapped arrays in shards, with the statistics training needs (E0 fit,
average neighbour count at --r-max, force RMS, species, counts), so a training run does not
scan the data. Files are converted in parallel (--workers). A killed run is resumed by
running the same command again: finished shards are kept and the result is the same.

A bad frame (NaN or Inf, a missing required label, an unknown element, overlapping atoms,
a zero-volume cell) is named by file and frame index; --on-error stop (default) ends the
run with exit status 2, --on-error skip leaves the frame out and lists it at the end.
Label fields as for evaluate: {', '.join(KEY_FIELDS)}."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Inputs, dataset directory, cutoff, labels and workers."""
    parser.add_argument("data", metavar="DATA", nargs="+", help="structure file(s) or dirs")
    parser.add_argument("-o", "--output", required=True, metavar="DATASET_DIR",
                        help="dataset directory to write (or to resume)")
    parser.add_argument("--r-max", type=float, default=R_MAX, metavar="Å",
                        help=f"cutoff of the stored neighbour counts; must equal the "
                             f"training data.r_max (default {R_MAX})")
    parser.add_argument("--require", nargs="*", default=["energy", "forces"],
                        choices=["energy", "forces", "stress"], metavar="LABEL",
                        help="labels every frame must carry (default: energy forces; "
                             "none: give the option without labels)")
    parser.add_argument("--on-error", choices=["stop", "skip"], default="stop",
                        help="bad frame: stop the run (default) or skip it")
    parser.add_argument("--key-map", metavar="LABEL=NAME", nargs="+", type=_key_map_item,
                        default=[], help="where labels live, e.g. energy=REF_energy")
    parser.add_argument("--shard-size", type=int, default=10_000, metavar="FRAMES",
                        help="frames per shard (default 10000)")
    parser.add_argument("--workers", type=int, default=min(os.cpu_count() or 1, 8),
                        help="processes (default: CPUs, at most 8)")


def run(args: argparse.Namespace) -> int:
    """Convert ``args.data`` into a dataset directory; print what was written."""
    from mlip_gnn.data import KeyMap
    from mlip_gnn.data.errors import DataError
    from mlip_gnn.data.preprocess import PreprocessOptions, preprocess
    from mlip_gnn.utils.paths import check_output_dir

    if args.shard_size < 1 or args.workers < 1 or not args.r_max > 0:
        raise DataError(f"--shard-size, --workers and --r-max must be positive; got "
                        f"{args.shard_size}, {args.workers}, {args.r_max}")
    check_output_dir(args.output, "-o/--output", inputs=args.data)
    options = PreprocessOptions(r_max=args.r_max, shard_size=args.shard_size,
                                require=tuple(args.require), on_error=args.on_error,
                                key_map=KeyMap(**dict(args.key_map)), workers=args.workers)
    meta = preprocess(args.data, args.output, options,
                      report=lambda line: print(line, file=sys.stderr, flush=True))
    for bad in meta["skipped"]:
        print(f"skipped: {bad['error']}", file=sys.stderr)
    stats = meta["statistics"]
    print(f"wrote {args.output}: {meta['num_frames']:,} frames, {meta['num_atoms']:,} atoms, "
          f"{len(meta['shards'])} shard(s), species {meta['species']}, labelled "
          f"{stats['labelled']}, {len(meta['skipped'])} frame(s) skipped")
    return 0
