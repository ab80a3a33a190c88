"""Exploration: MD with the current models under an iteration's conditions, each
trajectory stopped as soon as a frame's uncertainty passes the upper threshold; and,
where the config names one, a structure search with the same models.

Every ``interval`` steps the frame is kept with its score (the largest per-atom force
uncertainty, eV/Å, ``info["al_score"]``). A trajectory that stops early leaves its
remaining frames unvisited: they count as not accurate. A search adds one more
"trajectory", the condition ``search``: its distinct minima, each scored the same way.
"""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path
from typing import Dict, List, Sequence

import numpy as np
from ase import Atoms

from mlip_gnn.active_learning.structures import strained
from mlip_gnn.md import MDSettings, prepare_velocities
from mlip_gnn.md.run import ENSEMBLES
from mlip_gnn.utils.files import atomic_write

__all__ = ["Condition", "Trajectory", "conditions_for", "run_trajectory", "search_minima",
           "explore", "load_exploration", "accurate_fractions", "hardest", "SCORE_KEY",
           "SEARCH"]

SCORE_KEY = "al_score"  # info key of a frame's score, eV/Å
_SUMMARY = "summary.json"


#: name of the search's condition (``explore.search``)
SEARCH = "search"


@dataclasses.dataclass(frozen=True)
class Condition:
    """Thermostat target (K), barostat pressure (GPa; None: constant volume), MD steps;
    or, with ``kind`` "search", a structure search of ``steps`` local relaxations."""

    temperature: float
    pressure: float | None
    steps: int
    kind: str = "md"

    @property
    def name(self) -> str:
        """Label of the condition in file names and logs, e.g. ``1200K_NVT``, ``search``."""
        if self.kind == SEARCH:
            return SEARCH
        pressure = "NVT" if self.pressure is None else f"{self.pressure:g}GPa"
        return f"{self.temperature:g}K_{pressure}"

    def hardness(self) -> tuple:
        """Sort key: hotter, then higher |pressure|, is harder."""
        return (self.temperature, abs(self.pressure or 0.0))


def conditions_for(explore_cfg, iteration: int) -> tuple:
    """(stage index, conditions) of ``iteration``: schedule entry ``iteration``, or the
    last one once the schedule is used up; every temperature with every pressure."""
    stage_index = min(iteration, len(explore_cfg.schedule) - 1)
    stage = explore_cfg.schedule[stage_index]
    steps = stage.steps or explore_cfg.steps
    pressures = stage.pressures if stage.pressures is not None else [None]
    return stage_index, [Condition(t, p, steps) for t in stage.temperatures for p in pressures]


@dataclasses.dataclass
class Trajectory:
    """One exploration run: its name, condition, frames kept, the frames it would have
    kept had it run to the end, and the step it stopped at (None: ran to the end)."""

    name: str
    condition: Condition
    frames: List[Atoms]
    planned: int
    stopped_at: int | None


class _Stop(Exception):
    """Raised inside the MD loop when the score passes the upper threshold."""


def run_trajectory(name: str, start: Atoms, calc, condition: Condition, explore_cfg,
                   upper: float, seed: int) -> Trajectory:
    """Langevin (or MTK NPT with a pressure) MD from ``start`` with ``calc`` (which must
    give ``max_forces_std``), stopped at the first step whose score exceeds ``upper``."""
    rng = np.random.default_rng(seed)
    atoms = strained(start, explore_cfg.strain, rng)
    atoms.calc = calc
    settings = MDSettings(ensemble="langevin" if condition.pressure is None else "npt",
                          temperature_K=condition.temperature,
                          timestep_fs=explore_cfg.timestep_fs,
                          friction_per_fs=explore_cfg.friction_per_fs,
                          pressure_GPa=condition.pressure or 0.0, seed=seed)
    prepare_velocities(atoms, condition.temperature, seed)
    dyn = ENSEMBLES[settings.ensemble](atoms, settings)
    interval = explore_cfg.interval
    frames: List[Atoms] = []

    def observe() -> None:
        atoms.get_forces()  # results of the current positions (cached after the step)
        score = float(calc.results["max_forces_std"])
        if dyn.nsteps > 0 and dyn.nsteps % interval == 0 or score > upper:
            frames.append(_frame(atoms, calc, score, dyn.nsteps, name, condition))
        if score > upper:
            raise _Stop

    dyn.attach(observe, interval=1)
    stopped_at = None
    try:
        dyn.run(condition.steps)
    except _Stop:
        stopped_at = dyn.nsteps
        frames[-1].info["al_stopped"] = True
    return Trajectory(name, condition, frames, condition.steps // interval, stopped_at)


def _frame(atoms: Atoms, calc, score: float, step: int, name: str,
           condition: Condition) -> Atoms:
    frame = Atoms(numbers=atoms.numbers, positions=atoms.get_positions(wrap=True),
                  cell=atoms.cell, pbc=atoms.pbc)
    frame.info = {SCORE_KEY: score, "al_step": step, "al_trajectory": name,
                  "temperature_K": condition.temperature,
                  "energy_model": float(calc.results["energy"])}
    if condition.pressure is not None:
        frame.info["pressure_GPa"] = condition.pressure
    frame.arrays["forces_std"] = np.asarray(calc.results["forces_std"], dtype=np.float64)
    return frame


def search_minima(out_dir: Path, calc, search_cfg, trials: int | None,
                  seed: int) -> Trajectory:
    """The structure search ``search_cfg`` with ``calc`` (seed ``seed``, ``trials`` local
    relaxations or the config's), in ``out_dir`` (a killed search resumes there): its
    distinct minima, lowest first, each scored by ``calc`` like an MD frame."""
    from mlip_gnn.search import run_search

    cfg = dataclasses.replace(search_cfg, seed=seed, trials=trials or search_cfg.trials,
                              out_dir=str(out_dir))
    result = run_search(cfg, calc, out_dir, plots=False)
    condition = Condition(0.0, None, cfg.trials, kind=SEARCH)
    frames = []
    for minimum in result.minima:
        atoms = minimum.record.atoms()
        atoms.calc = calc
        atoms.get_forces()
        score = float(calc.results["max_forces_std"])
        frames.append(_frame(atoms, calc, score, minimum.record.index, SEARCH, condition))
    return Trajectory(SEARCH, condition, frames, len(frames), None)


def explore(out_dir: Path, starts: Dict[str, Atoms], calc, conditions: Sequence[Condition],
            explore_cfg, upper: float, seed: int, search_cfg=None) -> List[Trajectory]:
    """Every condition × starting structure × ``explore_cfg.trajectories``, then the
    search ``search_cfg`` if given (in ``out_dir/search``); each trajectory written to
    ``out_dir/<name>.xyz``, then ``summary.json`` (the mark that the exploration is
    complete)."""
    from ase.io import write

    out_dir.mkdir(parents=True, exist_ok=True)
    runs = []
    index = 0
    for condition in conditions:
        for structure, atoms in starts.items():
            for k in range(explore_cfg.trajectories):
                name = f"{condition.name}_{structure}_{k}"
                run = run_trajectory(name, atoms, calc, condition, explore_cfg, upper,
                                     seed + index)
                index += 1
                with atomic_write(out_dir / f"{name}.xyz") as handle:
                    write(handle, run.frames, format="extxyz")
                runs.append(run)
    if search_cfg is not None:
        run = search_minima(out_dir / SEARCH, calc, search_cfg, explore_cfg.search_trials,
                            seed)
        with atomic_write(out_dir / f"{run.name}.xyz") as handle:
            write(handle, run.frames, format="extxyz")
        runs.append(run)
    summary = [{"name": r.name, "condition": dataclasses.asdict(r.condition),
                "planned": r.planned, "kept": len(r.frames), "stopped_at": r.stopped_at}
               for r in runs]
    with atomic_write(out_dir / _SUMMARY) as handle:
        json.dump(summary, handle, indent=1)
    return runs


def load_exploration(out_dir: Path) -> List[Trajectory] | None:
    """The trajectories of a complete exploration in ``out_dir``; None if it is not."""
    from ase.io import read

    if not (out_dir / _SUMMARY).is_file():
        return None
    runs = []
    for entry in json.loads((out_dir / _SUMMARY).read_text()):
        path = out_dir / f"{entry['name']}.xyz"
        frames = read(path, ":", format="extxyz") if entry["kept"] else []
        runs.append(Trajectory(entry["name"], Condition(**entry["condition"]), frames,
                               entry["planned"], entry["stopped_at"]))
    return runs


def accurate_fractions(runs: Sequence[Trajectory], lower: float) -> Dict[str, float]:
    """Condition name → accurate frames / frames planned, over its trajectories."""
    accurate: Dict[str, int] = {}
    planned: Dict[str, int] = {}
    for run in runs:
        name = run.condition.name
        good = sum(f.info[SCORE_KEY] < lower and not f.info.get("al_stopped")
                   for f in run.frames)
        accurate[name] = accurate.get(name, 0) + good
        planned[name] = planned.get(name, 0) + run.planned
    return {name: accurate[name] / planned[name] if planned[name] else math.nan
            for name in planned}


def hardest(conditions: Sequence[Condition]) -> Condition:
    """The highest temperature (then the largest |pressure|)."""
    return max(conditions, key=Condition.hardness)
