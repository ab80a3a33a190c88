"""How often a Cu13 search with a model finds EMT's global minimum, the icosahedron.

    python examples/cu13_search/measure.py MODEL CONFIG OUT_DIR [--seeds 10] [--trials N]
        [--method basin_hopping|minima_hopping|random]

Runs CONFIG's search once per seed (0, 1, ...) into OUT_DIR/seed_<s>, then relaxes the
lowest minimum of each with ASE's EMT (BFGS, fmax 1e-3 eV/Å) and compares its energy with
the EMT-relaxed icosahedron: within 0.01 eV it is the icosahedron. Also reports whether
the icosahedron is among the distinct minima at any rank. Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import dataclasses
import time

from ase.calculators.emt import EMT
from ase.cluster import Icosahedron
from ase.optimize import BFGS

from mlip_gnn.search import load_search_config, model_calculator, run_search

TOLERANCE = 0.01  # eV


def emt_relaxed(atoms) -> float:
    """EMT energy (eV) of ``atoms`` after an EMT relaxation."""
    atoms = atoms.copy()
    atoms.calc = EMT()
    BFGS(atoms, logfile=None).run(fmax=1e-3, steps=2000)
    return float(atoms.get_potential_energy())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model")
    parser.add_argument("config")
    parser.add_argument("out")
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--trials", type=int)
    parser.add_argument("--method", choices=["basin_hopping", "minima_hopping", "random"])
    args = parser.parse_args()

    ico = Icosahedron("Cu", 2)
    ico.center(6.0)
    e_ico = emt_relaxed(ico)
    base = load_search_config(args.config)
    if args.trials:
        base = dataclasses.replace(base, trials=args.trials)
    if args.method:
        base = dataclasses.replace(base, method=args.method)
    calc = model_calculator(base, [args.model])
    print(f"EMT icosahedron: {e_ico:.4f} eV; {base.method}, {base.trials} trials per seed, "
          f"relax fmax {base.relax.fmax} eV/Å\n")
    print("| seed | lowest model E (eV) | its EMT-relaxed E (eV) | icosahedron first | "
          "icosahedron at rank | distinct minima | invalid trials | optimiser steps | wall (s) |")
    print("|---:|---:|---:|---|---:|---:|---:|---:|---:|")
    hits = 0
    for seed in range(args.seeds):
        cfg = dataclasses.replace(base, seed=seed)
        began = time.perf_counter()
        result = run_search(cfg, calc, f"{args.out}/seed_{seed}", plots=False)
        wall = time.perf_counter() - began
        rank, first = None, None
        for k, m in enumerate(result.minima[:5]):  # the five lowest
            e_emt = emt_relaxed(m.record.atoms())
            if k == 0:
                first = e_emt
            if abs(e_emt - e_ico) < TOLERANCE:
                rank = k
                break
        hit = rank == 0
        hits += hit
        print(f"| {seed} | {result.minima[0].record.energy:.4f} | {first:.4f} | "
              f"{'yes' if hit else 'no'} | {'-' if rank is None else rank} | "
              f"{len(result.minima)} | {sum(not r.valid for r in result.records)} | "
              f"{sum(r.relax_steps for r in result.records)} | {wall:.0f} |", flush=True)
    print(f"\nicosahedron ranked first in {hits} of {args.seeds} seeds")


if __name__ == "__main__":
    main()
