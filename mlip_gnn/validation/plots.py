"""Figures of the validation report, drawn with matplotlib's Agg canvas (no pyplot, so no
global backend is chosen): E–V curves, phonon dispersion and DOS, RDF, MSD with its fit,
and a bar chart of relative errors. Model curves are solid, the reference dashed."""

from __future__ import annotations

from pathlib import Path
from typing import Dict, List

import numpy as np

from mlip_gnn.utils.figures import new_figure, save_png
from mlip_gnn.validation.lattice import birch_murnaghan_energy

__all__ = ["write_plots"]


def _style(label: str, index: int) -> dict:
    if label == "reference":
        return {"color": "black", "ls": "--", "label": label}
    return {"color": f"C{index}", "ls": "-", "label": label}


def _eos(curves: Dict[str, dict], out: Path) -> Path:
    fig = new_figure()
    ax = fig.add_subplot()
    for i, (label, c) in enumerate(curves.items()):
        e = c["eos"]
        grid = np.linspace(e["volume"].min(), e["volume"].max(), 100)
        fit = birch_murnaghan_energy(grid, e["v0"], e["e0"], e["b0"], e["b_prime"])
        style = _style(label, i)
        ax.plot(grid, 1000 * (fit - e["e0"]), color=style["color"], ls=style["ls"],
                label=f"{label}: B {e['b0']:.1f} GPa")
        ax.scatter(e["volume"], 1000 * (e["energy"] - e["e0"]), color=style["color"], s=12)
    ax.set(xlabel="volume (Å³/atom)", ylabel="E − E0 (meV/atom)",
           title="equation of state (Birch–Murnaghan)")
    ax.legend(fontsize=8)
    return save_png(fig, out / "eos.png")


def _phonons(curves: Dict[str, dict], out: Path) -> Path:
    fig = new_figure(8.0, 4.0)
    grid = fig.add_gridspec(1, 2, width_ratios=[3, 1])
    ax, ax_dos = fig.add_subplot(grid[0]), fig.add_subplot(grid[1])
    for i, (label, c) in enumerate(curves.items()):
        p, style = c["phonons"], _style(label, i)
        lines = ax.plot(p["x"], p["frequencies"], color=style["color"], ls=style["ls"], lw=1)
        lines[0].set_label(label)
        ax_dos.plot(p["dos"], p["dos_frequency"], color=style["color"], ls=style["ls"], lw=1)
    first = next(iter(curves.values()))["phonons"]
    labels = ["Γ" if k == "G" else k for k in first["special_labels"]]
    ax.set_xticks(first["special_x"], labels)
    for x in first["special_x"]:
        ax.axvline(x, color="0.8", lw=0.5)
    ax.axhline(0.0, color="0.6", lw=0.5)
    ax.set(xlim=(first["x"][0], first["x"][-1]), ylabel="frequency (THz)",
           title="phonon dispersion")
    ax.legend(fontsize=8)
    ax_dos.set(xlabel="DOS (1/THz)", yticks=[], ylim=ax.get_ylim(), title="DOS")
    return save_png(fig, out / "phonons.png")


def _dynamics(curves: Dict[str, dict], key: str, out: Path) -> List[Path]:
    tag = key.removeprefix("dynamics_")
    fig_rdf, fig_msd = new_figure(), new_figure()
    ax_rdf, ax_msd = fig_rdf.add_subplot(), fig_msd.add_subplot()
    for i, (label, c) in enumerate(curves.items()):
        d, style = c[key], _style(label, i)
        ax_rdf.plot(d["r"], d["g"], color=style["color"], ls=style["ls"], label=label)
        ax_msd.plot(d["lags"], d["msd"], color=style["color"], ls=style["ls"],
                    label=f"{label}: D {d['D']:.2e} ± {d['D_error']:.0e} m²/s")
        ax_msd.plot(d["lags"], d["slope"] * d["lags"] + d["intercept"], color=style["color"],
                    ls=":", lw=1)
    ax_rdf.set(xlabel="r (Å)", ylabel="g(r)", title=f"radial distribution, {tag}")
    ax_msd.set(xlabel="lag time (ps)", ylabel="MSD (Å²)", title=f"mean squared displacement, "
               f"{tag} (dotted: fit)")
    ax_rdf.legend(fontsize=8)
    ax_msd.legend(fontsize=8)
    return [save_png(fig_rdf, out / f"rdf_{tag}.png"), save_png(fig_msd, out / f"msd_{tag}.png")]


def _errors(entries, out: Path) -> Path:
    rows = [e for e in entries if e.relative_error is not None]
    fig = new_figure(6.0, 0.3 * len(rows) + 1.5)
    ax = fig.add_subplot()
    y = np.arange(len(rows))
    ax.barh(y, [100 * e.relative_error for e in rows], color="C0")
    ax.set_yticks(y, [e.name for e in rows], fontsize=8)
    ax.invert_yaxis()
    ax.axvline(0.0, color="0.4", lw=0.8)
    ax.set(xlabel="relative error (%)", title="model − reference")
    return save_png(fig, out / "errors.png")


def write_plots(result, out_dir) -> List[Path]:
    """Every figure the result has data for, into ``out_dir``; returns their paths."""
    out = Path(out_dir)
    written: List[Path] = []
    curves = result.curves
    with_eos = {k: c for k, c in curves.items() if "eos" in c}
    if with_eos:
        written.append(_eos(with_eos, out))
    with_phonons = {k: c for k, c in curves.items() if "phonons" in c}
    if with_phonons:
        written.append(_phonons(with_phonons, out))
    keys = sorted({k for c in curves.values() for k in c if k.startswith("dynamics_")})
    for key in keys:
        written += _dynamics({k: c for k, c in curves.items() if key in c}, key, out)
    if any(e.relative_error is not None for e in result.entries):
        written.append(_errors(result.entries, out))
    return written
