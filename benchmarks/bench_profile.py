"""Where the time goes: one energy + forces call and one training step, per module.

    python benchmarks/bench_profile.py --size medium --cells 4 10 --threads 1

Random float32 weights on rattled fcc Cu (the structures of ``bench_speed.py``). Each
module's forward time comes from ``torch.profiler`` scopes around its ``forward``; the
backward pass (forces; for the training step also the parameter gradients of a force +
energy loss through the double backward) is one line, since autograd runs it outside
the modules. The neighbour list (vesin) is timed on its own. Prints a markdown table;
``--out`` also writes it to a file.
"""

import argparse
import datetime
import sys
import time
from pathlib import Path
from typing import Callable, Dict

import torch
from benchlib import R_MAX, SIZES, make_atoms, training_loss
from bench_speed import machine
from torch.profiler import ProfilerActivity, profile, record_function

from mlip_gnn.data import (SpeciesTable, configuration_from_atoms, graph_from_configuration,
                           neighbour_list)
from mlip_gnn.data import keys
from mlip_gnn.model import build_model


def _scoped(module: torch.nn.Module, name: str) -> None:
    forward = module.forward

    def wrapped(*args, **kwargs):
        with record_function(f"module:{name}"):
            return forward(*args, **kwargs)
    module.forward = wrapped


def _label_modules(model: torch.nn.Module) -> None:
    _scoped(model.radial_basis, "radial basis (Bessel)")
    _scoped(model.envelope, "radial basis (envelope)")
    _scoped(model.spherical_harmonics, "spherical harmonics")
    for t, layer in enumerate(model.layers):
        inter = layer.interaction
        _scoped(inter.radial, f"layer {t}: radial MLP")
        _scoped(inter.tp, f"layer {t}: edge tensor product")
        _scoped(inter.linear_up, f"layer {t}: linears")
        _scoped(inter.linear, f"layer {t}: linears ")
        _scoped(layer.product, f"layer {t}: many-body product")
        _scoped(layer.update, f"layer {t}: gated update")
        _scoped(layer.readout, f"layer {t}: readout")


def _profile(call: Callable[[], None], repeats: int) -> Dict[str, float]:
    """ms per call of every labelled module, of the whole call, and of the rest."""
    call()  # warm-up
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        start = time.perf_counter()
        for _ in range(repeats):
            call()
        total = (time.perf_counter() - start) * 1e3 / repeats
    rows = {}
    for event in prof.key_averages():
        if event.key.startswith("module:"):
            name = event.key[len("module:"):].strip()
            rows[name] = rows.get(name, 0.0) + event.cpu_time_total / 1e3 / repeats
    rows["backward (autograd)"] = max(total - sum(rows.values()), 0.0)
    rows["total"] = total
    return rows


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--size", choices=sorted(SIZES), default="medium")
    p.add_argument("--cells", type=int, nargs="+", default=[4, 10])
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--out", type=Path)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    lines = [f"# Profile: {args.size} model ({SIZES[args.size]}), float32, CPU, "
             f"{args.threads} thread(s), {datetime.date.today()}", "",
             " | ".join(f"{k}: {v}" for k, v in machine("cpu").items()), ""]
    results = {}
    for cells in args.cells:
        atoms = make_atoms(cells)
        conf = configuration_from_atoms(atoms)
        start = time.perf_counter()
        neighbour_list(conf.positions, conf.cell, conf.pbc, R_MAX)
        nl_ms = (time.perf_counter() - start) * 1e3
        graph = graph_from_configuration(conf, R_MAX, SpeciesTable([29]), torch.float32)
        model = build_model(species=[29], r_max=R_MAX, avg_num_neighbors=42.0, seed=0,
                            dtype="float32", **SIZES[args.size])
        _label_modules(model)

        def inference(model=model, graph=graph):
            model(graph, compute_forces=True)

        def train_step(model=model, graph=graph):
            model.zero_grad(set_to_none=True)
            out = model(graph, compute_forces=True, training=True)
            training_loss(out[keys.TOTAL_ENERGY], out[keys.FORCES]).backward()

        repeats = 1 if len(atoms) > 1000 else args.repeats
        results[len(atoms)] = {"energy + forces": _profile(inference, repeats),
                               "training step": _profile(train_step, repeats)}
        results[len(atoms)]["energy + forces"]["neighbour list (vesin)"] = nl_ms
        print(f"{len(atoms)} atoms done", file=sys.stderr, flush=True)
    names = list(next(iter(results.values()))["training step"])
    names.insert(len(names) - 1, "neighbour list (vesin)")
    header = "| module | " + " | ".join(f"{n} atoms: {what} ms" for n in results
                                          for what in ("E+F", "train step")) + " |"
    lines += [header, "|" + "---|" * (1 + 2 * len(results))]
    for name in names:
        cells = []
        for res in results.values():
            for what in ("energy + forces", "training step"):
                value = res[what].get(name)
                cells.append("-" if value is None else f"{value:,.1f}")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    text = "\n".join(lines)
    print(text)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text + "\n")


if __name__ == "__main__":
    main()
