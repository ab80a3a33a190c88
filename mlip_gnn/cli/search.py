"""``mlip-gnn search SEARCH.yaml``: global structure search through a model (or committee)."""

from __future__ import annotations

import argparse
import time

from mlip_gnn.cli.device import DEVICE_HELP, device_argument

__all__ = ["HELP", "DESCRIPTION", "add_arguments", "run"]

HELP = "structure search (basin hopping, minima hopping, random search) with a model"
DESCRIPTION = """\
Search for the low-energy structures of a composition with a model (an exported file,
checkpoint or run dir; several = a committee, whose spread is each minimum's uncertainty).

Methods (SEARCH.yaml 'method'): basin_hopping (Monte Carlo over minima: perturb the
current minimum, relax, Metropolis), minima_hopping (Goedecker: MD escapes with a
self-adjusting temperature and acceptance threshold), random (random structure search:
random positions in a sphere (mode: cluster) or a random cell of a volume per atom in a
range (mode: bulk), atoms a minimum distance apart, each relaxed; bulk cells relax with
the atoms). The budget is 'trials', local relaxations in all.

OUT_DIR receives trials.jsonl (every finished trial: a killed search rerun with the same
command continues from there; a larger --trials extends it), minima.xyz (distinct minima,
lowest first; info: energy (ASE's reader moves it to atoms.calc), energy_per_atom, volume
(cell, or a cluster's convex hull), spacegroup (spglib; 'none' for clusters),
uncertainty (energy std per atom, eV; nan without an estimator), max_forces_std, flagged,
times_found), candidates.xyz (the flagged minima, unlabelled: structures for
active-learn), report.json, report.md, progress.png and energy_volume.png.
Exit status 2 means bad input (the message names the key of SEARCH.yaml)."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Config, models, output and overrides of budget and seed."""
    parser.add_argument("config", metavar="SEARCH.yaml", help="the search settings")
    parser.add_argument("--model", nargs="+", metavar="MODEL",
                        help="model(s) instead of SEARCH.yaml's 'models'; several = committee")
    parser.add_argument("-o", "--output", metavar="OUT_DIR",
                        help="output directory (default: SEARCH.yaml's out_dir)")
    parser.add_argument("--trials", type=int, metavar="N", help="budget: local relaxations")
    parser.add_argument("--seed", type=int, help="seed of the search")
    parser.add_argument("--device", default="auto", type=device_argument, help=DEVICE_HELP)
    parser.add_argument("--no-plots", action="store_true", help="no PNG figures")
    parser.add_argument("--no-progress", action="store_true", help="no line per trial")


def run(args: argparse.Namespace) -> int:
    """Search as SEARCH.yaml and ``args`` say; print where the minima went."""
    import dataclasses

    from mlip_gnn.search import load_search_config, search_config_from_dict
    from mlip_gnn.search.run import run_search_with_models
    from mlip_gnn.utils.paths import check_output_dir

    cfg = load_search_config(args.config)
    overrides = {k: v for k, v in (("trials", args.trials), ("seed", args.seed)) if v is not None}
    if overrides:  # through the schema again, so an override is checked like the file
        raw = dataclasses.asdict(cfg) | overrides
        cfg = search_config_from_dict(raw, f"{args.config} with command-line overrides")
    out = args.output if args.output is not None else cfg.out_dir
    check_output_dir(out, "-o/--output")
    start = time.perf_counter()
    result = run_search_with_models(cfg, args.model, out, plots=not args.no_plots,
                                    progress=not args.no_progress, device=args.device)
    n = sum(cfg.composition.values())
    lowest = result.minima[0].energy_per_atom if result.minima else float("nan")
    print(f"{result.new_trials} new trials ({len(result.records)} in all) in "
          f"{time.perf_counter() - start:.0f} s; {len(result.minima)} distinct minima, lowest "
          f"{lowest:.4f} eV/atom ({lowest * n:.4f} eV), "
          f"{sum(m.flagged for m in result.minima)} flagged; wrote {out}/minima.xyz, "
          "report.md")
    return 0
