"""Dynamics: diffusion coefficient from the mean squared displacement, radial
distribution function, and NVE energy drift, from an equilibration (MTK NPT at zero
pressure, so that a liquid finds its own density, or Langevin at fixed cell), optionally
after a melt at a higher temperature, then NVE production, with ASE's integrators (the
same builders as ``mlip-gnn md``).

MSD: positions unwrapped frame to frame with the minimum image, centre-of-mass drift
removed, averaged over every time origin; D = slope / 6 of a straight-line fit over lags
in [0.2, 1] × the largest lag (a quarter of the run); error bar: standard error of D over
contiguous blocks (Allen & Tildesley, Computer Simulation of Liquids, 2nd ed., §8.4).
"""

from __future__ import annotations

import sys
import time
from typing import Dict

import numpy as np
from ase import units
from ase.geometry import get_distances

from mlip_gnn.md import ENSEMBLES, MDSettings, energy_drift, prepare_velocities
from mlip_gnn.validation.names import temperature_tag
from mlip_gnn.validation.result import Check, Measurement
from mlip_gnn.validation.structures import Bulk, repeat_to

__all__ = ["unwrap", "mean_squared_displacement", "diffusion_coefficient",
           "block_diffusion", "radial_distribution", "run_trajectory", "measure_dynamics",
           "M2_PER_S_PER_A2_PER_PS"]

M2_PER_S_PER_A2_PER_PS = 1e-8  # 1 Å²/ps = 1e-20 m² / 1e-12 s


def unwrap(positions: np.ndarray, cell: np.ndarray) -> np.ndarray:
    """Continuous trajectories from positions [F, N, 3] (Å) that may have been wrapped
    into a fixed ``cell`` [3, 3]: each step is taken as its minimum image (valid while no
    atom moves half a cell between frames)."""
    steps = np.diff(positions, axis=0)
    fractional = steps @ np.linalg.inv(cell)
    steps = (fractional - np.round(fractional)) @ cell
    return np.concatenate([positions[:1], positions[:1] + np.cumsum(steps, axis=0)])


def mean_squared_displacement(unwrapped: np.ndarray, masses: np.ndarray,
                              max_lag: int) -> np.ndarray:
    """MSD [max_lag + 1] (Å²) over all atoms and all time origins, after removing the
    mass-weighted centre-of-mass motion; ``unwrapped`` [F, N, 3]."""
    com = np.einsum("fnk,n->fk", unwrapped, masses) / masses.sum()
    r = unwrapped - com[:, None, :]
    msd = np.zeros(max_lag + 1)
    for lag in range(1, max_lag + 1):
        msd[lag] = np.mean(np.sum((r[lag:] - r[:-lag]) ** 2, axis=-1))
    return msd


def diffusion_coefficient(times_ps: np.ndarray, unwrapped: np.ndarray, masses: np.ndarray):
    """(D m²/s, lag times [L] ps, MSD [L] Å², fit slope Å²/ps, fit intercept Å²) of one
    trajectory with frames at ``times_ps`` (evenly spaced)."""
    frames = len(times_ps)
    max_lag = max(frames // 4, 2)  # longer lags have few independent origins: noisy
    msd = mean_squared_displacement(unwrapped, masses, max_lag)
    lags = (times_ps[1] - times_ps[0]) * np.arange(max_lag + 1)
    start = max(1, int(0.2 * max_lag))
    slope, intercept = np.polyfit(lags[start:], msd[start:], 1)
    return (float(slope / 6.0 * M2_PER_S_PER_A2_PER_PS), lags, msd, float(slope),
            float(intercept))


def block_diffusion(times_ps: np.ndarray, unwrapped: np.ndarray, masses: np.ndarray,
                    blocks: int) -> float:
    """Standard error of D (m²/s) from ``blocks`` contiguous blocks of the trajectory."""
    size = len(times_ps) // blocks
    if blocks < 2 or size < 4:
        return float("nan")
    values = [diffusion_coefficient(times_ps[b * size:(b + 1) * size],
                                    unwrapped[b * size:(b + 1) * size], masses)[0]
              for b in range(blocks)]
    return float(np.std(values, ddof=1) / np.sqrt(blocks))


def radial_distribution(positions: np.ndarray, cell: np.ndarray, r_max: float,
                        bins: int = 120):
    """g(r) averaged over frames [F, N, 3] in a periodic ``cell``: (r [bins] Å, g [bins]).
    ``r_max`` is cut to half the smallest perpendicular width of the cell."""
    volume = abs(np.linalg.det(cell))
    widths = volume / np.linalg.norm(np.cross(cell[[1, 2, 0]], cell[[2, 0, 1]]), axis=1)
    r_max = min(r_max, 0.5 * float(widths.min()))
    edges = np.linspace(0.0, r_max, bins + 1)
    counts = np.zeros(bins)
    n = positions.shape[1]
    upper = np.triu_indices(n, k=1)
    for frame in positions:
        _, d = get_distances(frame, cell=cell, pbc=True)
        counts += np.histogram(d[upper], bins=edges)[0]
    shells = 4.0 / 3.0 * np.pi * (edges[1:] ** 3 - edges[:-1] ** 3)
    g = 2.0 * counts / (len(positions) * n * (n / volume) * shells)
    return 0.5 * (edges[1:] + edges[:-1]), g


def _progress(label: str, step: int, total: int, start: float, show: bool) -> None:
    if show and total and (step == total or step % max(total // 5, 1) == 0):
        print(f"    {label}: step {step}/{total} ({time.perf_counter() - start:.0f} s)",
              file=sys.stderr, flush=True)


def run_trajectory(atoms, calc, temperature_K: float, settings,
                   progress: bool = False) -> Dict[str, np.ndarray]:
    """Equilibration (``settings.equilibration``: npt or langevin; a melt at
    ``settings.melt_K`` first, if given) then NVE production at ``temperature_K``; frames
    every ``interval`` steps of the NVE part. Returns
    ``times_ps`` [F], ``positions`` [F, N, 3] (as integrated, unwrapped), ``total_energy``
    [F] eV, ``temperature`` [F] K."""
    atoms = atoms.copy()
    atoms.calc = calc
    common = dict(timestep_fs=settings.timestep_fs, friction_per_fs=settings.friction_per_fs,
                  tdamp_fs=settings.tdamp_fs, pdamp_fs=settings.pdamp_fs, seed=settings.seed)
    prepare_velocities(atoms, settings.melt_K or temperature_K, settings.seed)
    stages = [(settings.melt_K, settings.melt_steps), (temperature_K,
                                                       settings.equilibration_steps)]
    start = time.perf_counter()
    for target, steps in stages:
        if target and steps:
            kind = settings.equilibration
            dyn = ENSEMBLES[kind](atoms, MDSettings(ensemble=kind, temperature_K=target,
                                                    **common))
            dyn.attach(lambda d=dyn, n=steps, t=target, k=kind: _progress(
                f"{k} {t:g} K", d.nsteps, n, start, progress), interval=1)
            dyn.run(steps)
    atoms.set_constraint()
    dyn = ENSEMBLES["nve"](atoms, MDSettings(ensemble="nve", **common))
    record: Dict[str, list] = {"times_ps": [], "positions": [], "total_energy": [],
                               "temperature": []}

    def sample() -> None:
        record["times_ps"].append(dyn.get_time() / (1000.0 * units.fs))
        record["positions"].append(atoms.get_positions())
        record["total_energy"].append(atoms.get_potential_energy()
                                      + atoms.get_kinetic_energy())
        record["temperature"].append(atoms.get_temperature())
        _progress(f"NVE {temperature_K:g} K", dyn.nsteps, settings.production_steps, start,
                  progress)

    dyn.attach(sample, interval=settings.interval)
    dyn.run(settings.production_steps)
    return {key: np.asarray(value) for key, value in record.items()} | {
        "cell": np.asarray(atoms.cell[:]), "masses": atoms.get_masses()}


def measure_dynamics(bulk: Bulk, calc, progress: bool = False,
                     label: str | None = None) -> Measurement:
    """Per temperature of the system: ``diffusion_coefficient_<T>K`` (m²/s),
    ``rdf_first_peak_<T>K`` (Å), ``nve_energy_drift_<T>K`` (meV/atom/ps)."""
    settings = bulk.spec.settings.dynamics
    start = repeat_to(bulk.conventional(), settings.min_atoms)
    result = Measurement()
    for temperature in bulk.spec.temperatures:
        tag = temperature_tag(temperature)
        traj = run_trajectory(start, calc, temperature, settings, progress)
        unwrapped = unwrap(traj["positions"], traj["cell"])
        d, lags, msd, slope, intercept = diffusion_coefficient(traj["times_ps"], unwrapped,
                                                               traj["masses"])
        d_err = block_diffusion(traj["times_ps"], unwrapped, traj["masses"], settings.blocks)
        r, g = radial_distribution(traj["positions"], traj["cell"], settings.rdf_r_max)
        drift = energy_drift(traj["times_ps"], traj["total_energy"], len(start))
        result.values.update({f"diffusion_coefficient_{tag}": d,
                              f"rdf_first_peak_{tag}": float(r[int(np.argmax(g))]),
                              f"nve_energy_drift_{tag}": drift})
        mean_t = float(traj["temperature"].mean())
        result.curves[f"dynamics_{tag}"] = {
            "lags": lags, "msd": msd, "slope": slope, "intercept": intercept, "r": r,
            "g": g, "D": d, "D_error": d_err, "mean_T": mean_t}
        result.checks += [
            Check("dynamics", abs(mean_t - temperature) < 0.1 * temperature,
                  f"{tag}: mean NVE temperature {mean_t:.0f} K ({len(start)} atoms)"),
            Check("dynamics", True, f"{tag}: D = {d:.3e} ± {d_err:.1e} m²/s "
                  f"({settings.blocks} blocks)")]
    return result
