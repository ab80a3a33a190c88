"""What a search writes: minima.xyz, candidates.xyz, report.json, report.md and two plots
(search progress; energy against volume of the distinct minima)."""

from __future__ import annotations

import io
import json
import math
from pathlib import Path
from typing import Dict, List

from ase.io import write

from mlip_gnn.search.log import TrialRecord
from mlip_gnn.search.minima import Minimum, minimum_atoms
from mlip_gnn.utils.figures import new_figure, save_png
from mlip_gnn.utils.files import atomic_write

__all__ = ["write_outputs", "MINIMA_FILE", "CANDIDATES_FILE", "REPORT_JSON", "REPORT_MD"]

MINIMA_FILE = "minima.xyz"
CANDIDATES_FILE = "candidates.xyz"
REPORT_JSON = "report.json"
REPORT_MD = "report.md"


def _xyz(path: Path, frames: list) -> None:
    buffer = io.StringIO()
    if frames:
        write(buffer, frames, format="extxyz")
    with atomic_write(path) as handle:
        handle.write(buffer.getvalue())


def _finite(value):
    return None if value is None or (isinstance(value, float) and not math.isfinite(value)) \
        else value


def summary(records: List[TrialRecord], minima: List[Minimum], cfg, wall_s: float) -> Dict:
    """The report as plain data: settings, budget spent, and one entry per minimum."""
    n = sum(cfg.composition.values())
    return {
        "composition": cfg.composition, "mode": cfg.mode, "method": cfg.method,
        "seed": cfg.seed, "trials": len(records),
        "valid_trials": sum(r.valid for r in records),
        "relax_steps": sum(r.relax_steps for r in records),
        "md_steps": sum(r.md_steps for r in records),
        "wall_s_this_run": wall_s, "wall_s_trials": sum(r.wall_s for r in records),
        "distinct_minima": len(minima), "flagged": sum(m.flagged for m in minima),
        "minima": [{"rank": rank, "energy": m.record.energy,
                    "energy_per_atom": m.energy_per_atom,
                    "energy_above_lowest_per_atom": (m.record.energy - minima[0].record.energy) / n,
                    "volume": _finite(m.volume), "spacegroup": m.spacegroup,
                    "uncertainty": m.uncertainty, "energy_std": m.record.energy_std,
                    "max_forces_std": m.record.max_forces_std, "flagged": m.flagged,
                    "times_found": m.times_found, "trials": m.trials,
                    "converged": m.record.converged}
                   for rank, m in enumerate(minima)],
    }


def _markdown(data: Dict, top: int = 20) -> str:
    formula = "".join(f"{s}{c}" for s, c in data["composition"].items())
    lines = [f"# Structure search: {formula} ({data['mode']}, {data['method']}, seed "
             f"{data['seed']})", "",
             f"{data['trials']} trials ({data['valid_trials']} valid), "
             f"{data['relax_steps']} optimiser steps, {data['md_steps']} MD steps; "
             f"{data['distinct_minima']} distinct minima, {data['flagged']} flagged "
             "(the model is unsure: see candidates.xyz).", "",
             "| rank | E (eV) | E/atom (eV) | ΔE/atom (meV) | volume (Å³) | space group | "
             "σE/atom (meV) | max σF (eV/Å) | flagged | found |",
             "|---:|---:|---:|---:|---:|---|---:|---:|---|---:|"]

    def fmt(value, scale=1.0, spec=".4f"):
        return "–" if value is None else format(value * scale, spec)

    for m in data["minima"][:top]:
        lines.append(f"| {m['rank']} | {m['energy']:.4f} | {m['energy_per_atom']:.4f} | "
                     f"{1000 * m['energy_above_lowest_per_atom']:.1f} | "
                     f"{fmt(m['volume'], spec='.2f')} | {m['spacegroup']} | "
                     f"{fmt(m['uncertainty'], 1000, '.1f')} | "
                     f"{fmt(m['max_forces_std'], spec='.3f')} | "
                     f"{'yes' if m['flagged'] else 'no'} | {m['times_found']} |")
    if len(data["minima"]) > top:
        lines.append(f"\n{len(data['minima']) - top} more in report.json and minima.xyz.")
    return "\n".join(lines) + "\n"


def _plots(records: List[TrialRecord], minima: List[Minimum], out: Path) -> None:
    n = len(records[0].numbers) if records else 1
    valid = [r for r in records if r.valid]
    fig = new_figure()
    ax = fig.add_subplot()
    ax.plot([r.index for r in valid], [r.energy / n for r in valid], ".", color="C0",
            label="trial minimum")
    best, xs, ys = math.inf, [], []
    for r in valid:
        best = min(best, r.energy / n)
        xs.append(r.index)
        ys.append(best)
    ax.step(xs, ys, where="post", color="C3", label="lowest so far")
    accepted = [r for r in valid if r.accepted and r.current == r.index]
    if accepted:
        ax.plot([r.index for r in accepted], [r.energy / n for r in accepted], "o",
                mfc="none", color="C2", label="accepted")
    ax.set_xlabel("trial")
    ax.set_ylabel("energy (eV/atom)")
    ax.legend()
    save_png(fig, out / "progress.png")

    fig = new_figure()
    ax = fig.add_subplot()
    pts = [(m.volume / m.n_atoms, m.energy_per_atom, m.flagged) for m in minima
           if math.isfinite(m.volume)]
    ax.plot([p[0] for p in pts if not p[2]], [p[1] for p in pts if not p[2]], "o",
            color="C0", label="minimum")
    if any(p[2] for p in pts):
        ax.plot([p[0] for p in pts if p[2]], [p[1] for p in pts if p[2]], "x", color="C3",
                label="flagged (uncertain)")
    ax.set_xlabel("volume per atom (Å³)" + ("" if records and all(records[0].pbc)
                                           else ", convex hull"))
    ax.set_ylabel("energy (eV/atom)")
    ax.legend()
    save_png(fig, out / "energy_volume.png")


def write_outputs(records: List[TrialRecord], minima: List[Minimum], cfg, out: Path,
                  wall_s: float, plots: bool = True) -> Dict:
    """Write every output of a search into ``out``; returns the report's data."""
    _xyz(out / MINIMA_FILE, [minimum_atoms(m, rank) for rank, m in enumerate(minima)])
    _xyz(out / CANDIDATES_FILE, [minimum_atoms(m, rank, labelled=False)
                                 for rank, m in enumerate(minima) if m.flagged])
    data = summary(records, minima, cfg, wall_s)
    with atomic_write(out / REPORT_JSON) as handle:
        json.dump(data, handle, indent=1)
    with atomic_write(out / REPORT_MD) as handle:
        handle.write(_markdown(data))
    if plots:
        _plots(records, minima, out)
    return data
