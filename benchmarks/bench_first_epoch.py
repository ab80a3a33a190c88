"""The first epoch under ``model.init_scheme`` legacy against stable, and one accuracy check.

    # per-step training loss of the first epoch, both schemes, molecule and Li
    OMP_NUM_THREADS=1 python benchmarks/bench_first_epoch.py first-epoch \\
        --molecule /tmp/tbuoh_xtb.xyz --work /tmp/first_epoch
    # Li recipe, legacy and stable side by side (one thread each, started together)
    python benchmarks/bench_first_epoch.py side-by-side --minutes 12 --work /tmp/first_epoch
    # the model's scale at its start on some frames
    OMP_NUM_THREADS=1 python benchmarks/bench_first_epoch.py start --data /tmp/tbuoh_xtb.xyz
    # the per-step losses of the first mode's JSON as a table
    python benchmarks/bench_first_epoch.py steps --json benchmarks/results/first_epoch.json

The molecule is tert-butanol MD labelled with GFN1-xTB (``benchmarks/make_molecule_xtb.py``),
trained with MACE's published small-molecule settings: lr 0.01, AMSGrad, energy weight 1,
force weight 1000, batch 5, EMA 0.99, isolated-atom E0s, 64 channels, max_ell 3,
correlation 3, float64. Li is ``configs/li_zuo2020.yaml`` as shipped but for the scheme;
its first epoch is that of the 60-minute run (the run is stopped after it, so the lr and
stages are those of the real run's start). Every run: seed 0. The first-epoch mode writes
the per-step losses as JSON (``--json``); both modes print Markdown.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Dict, List

import yaml

from mlip_gnn.config import config_from_dict, load_config
from mlip_gnn.train import train
from mlip_gnn.train.loop import Callback

ROOT = Path(__file__).resolve().parents[1]
LI_CONFIG = ROOT / "configs" / "li_zuo2020.yaml"
SCHEMES = ("legacy", "stable")
QUIET = ["output.progress=false", "output.tensorboard=false"]


def molecule_overrides(data: Path) -> List[str]:
    """MACE's small-molecule settings as overrides of the default config."""
    return [f"data.train={data}", "data.valid_fraction=0.1", "data.r_max=5.0",
            "data.batch_size=5", "data.e0s=isolated", "dtype=float64", "seed=0",
            "model.num_channels=64", "model.max_ell=3", "model.hidden_ell=1",
            "model.correlation=3", "loss.energy_weight=1.0", "loss.forces_weight=1000.0",
            "optim.lr=0.01", "optim.amsgrad=true", "optim.ema_decay=0.99",
            "train.max_epochs=100"]


class FirstEpoch(Callback):
    """Records every step's loss of epoch 0 and that epoch's record, then stops the run."""

    def __init__(self):
        self.losses: List[float] = []
        self.record: Dict[str, Any] = {}

    def on_step_end(self, trainer, loss: float, grad_norm: float) -> None:
        """Keep the loss of a step of epoch 0."""
        if trainer.state.epoch == 0:
            self.losses.append(loss)

    def on_epoch_end(self, trainer, record: Dict[str, Any]) -> None:
        """Keep epoch 0's record (its validation included) and ask the run to stop."""
        if trainer.state.epoch == 0:
            self.record = json.loads(json.dumps(record))
            trainer.stop.request(signal.SIGTERM)


def first_epoch(config: Path | None, overrides: List[str], run_dir: Path) -> dict:
    """Train until the end of epoch 0; its step losses and record."""
    overrides = [*overrides, *QUIET, f"output.run_dir={run_dir}"]
    if config is None:
        cfg = config_from_dict(_nested(overrides), source="bench_first_epoch")
    else:
        cfg = load_config(config, overrides)
    recorder = FirstEpoch()
    started = time.monotonic()
    train(cfg, callbacks=[recorder])
    return {"losses": recorder.losses, "record": recorder.record,
            "wall_s": time.monotonic() - started}


def _nested(overrides: List[str]) -> dict:
    """``a.b=value`` strings → a nested dict (values parsed as YAML scalars)."""
    out: dict = {}
    for text in overrides:
        key, value = text.split("=", 1)
        *parents, last = key.split(".")
        node = out
        for name in parents:
            node = node.setdefault(name, {})
        node[last] = yaml.safe_load(value)
    return out


def _summary(name: str, scheme: str, result: dict) -> str:
    losses = result["losses"]
    record = result["record"]
    worst = max(range(len(losses)), key=lambda i: losses[i])
    valid = record.get("valid", {})
    return (f"| {name} | {scheme} | {len(losses)} | {losses[0]:.3g} | {losses[worst]:.3g} "
            f"(step {worst}) | {record['train']['loss']:.3g} | "
            f"{record['train']['forces_rmse']:.3g} | {valid.get('loss', float('nan')):.3g} | "
            f"{valid.get('forces_rmse', float('nan')):.3g} |")


def run_first_epoch(args) -> None:
    """Both schemes on the molecule and on Li."""
    cases = {"molecule": (None, molecule_overrides(args.molecule)), "Li": (LI_CONFIG, [])}
    results: Dict[str, Dict[str, dict]] = {}
    for name, (config, overrides) in cases.items():
        if name not in args.cases:
            continue
        for scheme in SCHEMES:
            run_dir = args.work / f"{name}_{scheme}"
            result = first_epoch(config, [*overrides, f"model.init_scheme={scheme}"], run_dir)
            results.setdefault(name, {})[scheme] = result
            print(f"{name} {scheme}: {len(result['losses'])} steps in {result['wall_s']:.0f} s",
                  flush=True)
    print("| data | init_scheme | steps | step-0 loss | max step loss | epoch-0 train loss | "
          "train F RMSE (meV/Å) | valid loss (EMA) | valid F RMSE (meV/Å) |")
    print("|---|---|---|---|---|---|---|---|---|")
    for name, by_scheme in results.items():
        for scheme, result in by_scheme.items():
            print(_summary(name, scheme, result))
    if args.json:
        args.json.write_text(json.dumps(results, indent=1) + "\n")


def print_steps(path: Path) -> None:
    """The per-step losses of a first-epoch JSON as one Markdown table."""
    results = json.loads(path.read_text())
    columns = [(name, scheme) for name, by in results.items() for scheme in by]
    print("| step | " + " | ".join(f"{n} {s}" for n, s in columns) + " |")
    print("|---" * (len(columns) + 1) + "|")
    length = max(len(results[n][s]["losses"]) for n, s in columns)
    for i in range(length):
        cells = [results[n][s]["losses"] for n, s in columns]
        print(f"| {i} | " + " | ".join(f"{c[i]:.3g}" if i < len(c) else "" for c in cells)
              + " |")


def print_start(path: Path, r_max: float, frames: int, seeds: int) -> None:
    """The model at its start on the first ``frames`` frames of ``path`` (64 channels,
    max_ell 3, correlation 3, float64): A of the first layer and the forces, per scheme and
    seed, beside the data's RMS force. Two half-schemes show what each part does."""
    import numpy as np
    import torch
    from ase.io import read

    from mlip_gnn.data import (SpeciesTable, collate, configuration_from_atoms,
                               graph_from_configuration)
    from mlip_gnn.model import build_model
    from mlip_gnn.nn import INIT_SCHEMES, InitScheme

    INIT_SCHEMES["old radial, zero product"] = InitScheme("unit_mean_square", "zero")
    INIT_SCHEMES["new radial, random product"] = InitScheme("orthonormal", "random")
    atoms = [a for a in read(path, ":") if len(a) > 1][:frames]
    species = sorted({int(z) for a in atoms for z in a.numbers})
    graphs = [graph_from_configuration(configuration_from_atoms(a), r_max,
                                       SpeciesTable(species), torch.float64) for a in atoms]
    neighbours = float(np.mean([g["edge_index"].shape[1] / len(g["species"]) for g in graphs]))
    data_rms = float(np.sqrt(np.mean(np.concatenate([a.get_forces() for a in atoms]) ** 2)))
    print(f"{path.name}: {len(atoms)} frames, {neighbours:.1f} neighbours, "
          f"force RMS {data_rms:.3g} eV/Å")
    print("| init_scheme | seed | A rms | A max | F rms (eV/Å) | F max (eV/Å) | F rms / data |")
    print("|---|---|---|---|---|---|---|")
    for scheme in INIT_SCHEMES:
        for seed in range(seeds):
            model = build_model(species=species, r_max=r_max, avg_num_neighbors=neighbours,
                                scale=data_rms, num_channels=64, max_ell=3, hidden_ell=1,
                                correlation=3, dtype="float64", seed=seed,
                                init_scheme=scheme)
            seen: List[torch.Tensor] = []
            hook = model.layers[0].interaction.register_forward_hook(
                lambda module, inputs, output, seen=seen: seen.append(output.detach()))
            forces = model(collate(graphs))["forces"].detach()
            hook.remove()
            a, f_rms = seen[0], float(forces.square().mean().sqrt())
            print(f"| {scheme} | {seed} | {a.square().mean().sqrt():.3g} | {a.abs().max():.3g} "
                  f"| {f_rms:.3g} | {forces.abs().max():.3g} | {f_rms / data_rms:.3g} |")


def _loadavg() -> str:
    return Path("/proc/loadavg").read_text().split()[0]


def run_side_by_side(args) -> None:
    """The Li recipe with each scheme, one thread each, started together."""
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    procs = {}
    for scheme in SCHEMES:
        run_dir = args.work / f"li_{args.minutes:g}min_{scheme}"
        command = [sys.executable, "-m", "mlip_gnn", "train", str(LI_CONFIG),
                   *[a for o in [*QUIET, f"output.run_dir={run_dir}",
                                 f"model.init_scheme={scheme}",
                                 f"train.budget_minutes={args.minutes}"] for a in ("--set", o)]]
        log = open(args.work / f"li_{scheme}.out", "w")
        procs[scheme] = (subprocess.Popen(command, env=env, stdout=log, stderr=log), run_dir)
    loads = []
    while any(p.poll() is None for p, _ in procs.values()):
        loads.append(float(_loadavg()))
        time.sleep(30)
    print(f"1-minute load average, sampled every 30 s: min {min(loads):.1f}, "
          f"mean {sum(loads) / len(loads):.1f}, max {max(loads):.1f} (2 cores)")
    print("| init_scheme | epochs begun | valid E MAE/RMSE (meV/atom) | valid F MAE/RMSE (meV/Å) | "
          "valid S MAE/RMSE (meV/Å³) | epoch-0 train loss | epoch-0 valid loss |")
    print("|---|---|---|---|---|---|---|")
    for scheme, (proc, run_dir) in procs.items():
        lines = [json.loads(x) for x in (run_dir / "metrics.jsonl").read_text().splitlines()]
        last = [x for x in lines if "valid" in x][-1]["valid"]
        print(f"| {scheme} (rc {proc.returncode}) | {len(lines)} ({lines[-1]['step']} steps) | "
              f"{last['energy_mae']:.3g}/"
              f"{last['energy_rmse']:.3g} | {last['forces_mae']:.3g}/{last['forces_rmse']:.3g} "
              f"| {last['stress_mae']:.3g}/{last['stress_rmse']:.3g} | "
              f"{lines[0]['train']['loss']:.3g} | {lines[0]['valid']['loss']:.3g} |")


def main() -> None:
    """Command line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("mode", choices=["first-epoch", "side-by-side", "steps", "start"])
    parser.add_argument("--work", type=Path, help="run directories go here")
    parser.add_argument("--molecule", type=Path, help="make_molecule_xtb.py's output")
    parser.add_argument("--cases", nargs="+", default=["molecule", "Li"])
    parser.add_argument("--json", type=Path, help="write the per-step losses here")
    parser.add_argument("--minutes", type=float, default=12.0)
    parser.add_argument("--data", type=Path, help="start: the frames to look at")
    parser.add_argument("--r-max", type=float, default=5.0)
    args = parser.parse_args()
    if args.mode == "steps":  # a table of the per-step losses of --json
        return print_steps(args.json)
    if args.mode == "start":  # the model's scale at the start on --data
        return print_start(args.data, args.r_max, frames=8, seeds=3)
    if args.work is None:
        parser.error(f"{args.mode} needs --work")
    args.work.mkdir(parents=True, exist_ok=True)
    if args.mode == "first-epoch":
        if "molecule" in args.cases and args.molecule is None:
            parser.error("first-epoch on the molecule needs --molecule")
        run_first_epoch(args)
    else:
        run_side_by_side(args)


if __name__ == "__main__":
    main()
