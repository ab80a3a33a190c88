"""What the long-range term costs: energy + forces of fcc Cu cells with and without
latent-charge electrostatics (model.long_range), the two models called in turn in one
process so that both see the same load, and the reciprocal-space sum alone (its N log N
scaling under PME).

    python benchmarks/bench_long_range_cost.py [--cells 6 10 16] [--kspace pme] [--out F]

Prints a markdown table (median of --repeats calls each, after one warm-up) and writes
JSON beside it; the machine and the load average are recorded.
"""

import argparse
import json
import os
import statistics
import time
from pathlib import Path

import torch
from bench_speed import machine
from benchlib import R_MAX, SIZES, make_atoms

from mlip_gnn.data import SpeciesTable, configuration_from_atoms, graph_from_configuration
from mlip_gnn.model import build_model


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--cells", type=int, nargs="+", default=[6, 10, 16],
                   help="fcc cubic cells per side: 6 -> 864 atoms, 10 -> 4,000, 16 -> 16,384")
    p.add_argument("--kspace", choices=["pme", "ewald"], default="pme")
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--out", type=Path, default=Path("benchmarks/results/long_range_cost.json"))
    return p.parse_args()


def timed(call) -> float:
    start = time.perf_counter()
    call()
    return time.perf_counter() - start


def case(cells: int, kspace: str, repeats: int) -> dict:
    conf = configuration_from_atoms(make_atoms(cells))
    graph = graph_from_configuration(conf, R_MAX, SpeciesTable([29]), torch.float32)
    local = build_model(species=[29], r_max=R_MAX, avg_num_neighbors=42.0, dtype="float32",
                        seed=0, **SIZES["small"]).eval()
    with_lr = build_model(species=[29], r_max=R_MAX, avg_num_neighbors=42.0,
                          dtype="float32", seed=0, **{**SIZES["small"],
                                                      "long_range": "latent",
                                                      "lr_kspace": kspace}).eval()
    positions = graph["positions"].clone().requires_grad_(True)
    charges = torch.linspace(-1.0, 1.0, conf.num_atoms)
    cell = graph["cell"][0]

    def kspace_only():
        energy = with_lr.long_range.periodic_energies(charges, positions, cell).sum()
        torch.autograd.grad([energy], [positions])

    runs = {"local": lambda: local(graph, compute_forces=True),
            "long_range": lambda: with_lr(graph, compute_forces=True),
            "kspace_sum": kspace_only}
    for call in runs.values():
        call()  # warm-up
    times = {name: [] for name in runs}
    for _ in range(repeats):
        for name, call in runs.items():  # in turn: the same load for each
            times[name].append(timed(call))
    medians = {name: statistics.median(values) for name, values in times.items()}
    return {"atoms": conf.num_atoms, **{f"{k}_s": v for k, v in medians.items()},
            "ratio": medians["long_range"] / medians["local"]}


def main() -> None:
    args = parse_args()
    torch.set_num_threads(args.threads)
    record = {"machine": machine("cpu"), "kspace": args.kspace,
              "load_before": os.getloadavg()[0], "cases": []}
    for cells in args.cells:
        record["cases"].append(case(cells, args.kspace, args.repeats))
    record["load_after"] = os.getloadavg()[0]
    lines = [f"machine: {record['machine']} | kspace {args.kspace} | load average "
             f"{record['load_before']:.1f} → {record['load_after']:.1f}", "",
             "| atoms | local (s) | with long range (s) | ratio | reciprocal sum alone (s) |",
             "|---:|---:|---:|---:|---:|"]
    for c in record["cases"]:
        lines.append(f"| {c['atoms']} | {c['local_s']:.3f} | {c['long_range_s']:.3f} | "
                     f"{c['ratio']:.3f} | {c['kspace_sum_s']:.3f} |")
    print("\n".join(lines))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(record, indent=1))


if __name__ == "__main__":
    main()
