"""Molecular dynamics with ASE integrators, a log, a trajectory and an extrapolation stop."""

from __future__ import annotations

import dataclasses
import sys
import time
from pathlib import Path
from typing import Callable, Dict, List

import numpy as np
from ase import units
from ase.md.md import MolecularDynamics

from mlip_gnn.errors import MlipGnnError

__all__ = ["MDSettings", "MDResult", "MDError", "ExtrapolationError", "ENSEMBLES",
           "prepare_velocities", "run_md", "energy_drift", "LOG_FILE", "TRAJECTORY_FILE"]

LOG_FILE = "md.log"
TRAJECTORY_FILE = "md.xyz"
EXTRAPOLATED_FILE = "extrapolated.xyz"


class MDError(MlipGnnError, ValueError):
    """Raised for MD settings that cannot work (non-positive time step, NPT without a
    periodic cell, an uncertainty limit without an uncertainty estimator...), before
    anything runs."""


class ExtrapolationError(MlipGnnError, RuntimeError):
    """Raised when the force uncertainty passes ``max_force_std`` or the OOD score passes
    ``max_ood_score`` (any estimator: committee, LLPR, descriptor distance): the model is
    extrapolating. The run stops; the frame is written to ``extrapolated.xyz``
    (exit status 3)."""

    exit_status = 3


@dataclasses.dataclass
class MDSettings:
    """What an MD run does: ensemble, temperature (K), time step (fs), steps, output interval,
    thermostat and barostat times (fs), pressure (GPa), uncertainty limits and seed."""

    ensemble: str = "nve"
    temperature_K: float = 300.0  # initial velocities, and target of the thermostats
    timestep_fs: float = 1.0
    steps: int = 1000
    interval: int = 10  # steps between log lines and trajectory frames
    friction_per_fs: float = 0.01  # Langevin
    tdamp_fs: float | None = None  # Nose-Hoover / NPT thermostat time; None: 100 dt
    pdamp_fs: float | None = None  # NPT barostat time; None: 1000 dt
    pressure_GPa: float = 0.0  # NPT
    max_force_std: float | None = None  # eV/Å, force uncertainty that stops the run
    max_ood_score: float | None = None  # per-atom OOD score that stops the run
    seed: int = 0

    def check(self, periodic: bool, has_uncertainty: bool) -> None:
        """An MDError for settings out of range or that this run cannot use (NPT without a
        periodic cell, uncertainty limits without an estimator)."""
        if self.ensemble not in ENSEMBLES:
            raise MDError(f"ensemble: got {self.ensemble!r}; choose one of {sorted(ENSEMBLES)}")
        for name in ("timestep_fs", "friction_per_fs"):
            if not getattr(self, name) > 0:
                raise MDError(f"{name}: got {getattr(self, name)}; must be > 0")
        if self.temperature_K < 0:
            raise MDError(f"temperature: got {self.temperature_K} K; must be >= 0")
        if self.ensemble != "nve" and self.temperature_K <= 0:
            raise MDError(f"temperature: the {self.ensemble} ensemble needs a target > 0 K")
        if self.steps < 0 or self.interval < 1:
            raise MDError(f"steps ({self.steps}) must be >= 0 and interval "
                          f"({self.interval}) >= 1")
        if self.ensemble == "npt" and not periodic:
            raise MDError("ensemble npt needs a fully periodic cell with non-zero volume")
        for name in ("max_force_std", "max_ood_score"):
            if getattr(self, name) is not None and not has_uncertainty:
                raise MDError(f"{name} needs an uncertainty estimator: give two or more "
                              "models (a committee) or choose one (llpr, distance)")


def _tdamp(s: MDSettings) -> float:
    return (s.tdamp_fs or 100.0 * s.timestep_fs) * units.fs


def _nve(atoms, s: MDSettings) -> MolecularDynamics:
    from ase.md.verlet import VelocityVerlet

    return VelocityVerlet(atoms, timestep=s.timestep_fs * units.fs)


def _langevin(atoms, s: MDSettings) -> MolecularDynamics:
    from ase.constraints import FixCom
    from ase.md.langevin import Langevin

    # ASE >= 3.28: the centre of mass is held by a constraint, not by Langevin(fixcm=True)
    if not atoms.constraints:
        atoms.set_constraint(FixCom())
    return Langevin(atoms, timestep=s.timestep_fs * units.fs, temperature_K=s.temperature_K,
                    friction=s.friction_per_fs / units.fs, fixcm=False,
                    rng=np.random.default_rng(s.seed + 1))


def _nose_hoover(atoms, s: MDSettings) -> MolecularDynamics:
    from ase.md.nose_hoover_chain import NoseHooverChainNVT

    return NoseHooverChainNVT(atoms, timestep=s.timestep_fs * units.fs,
                              temperature_K=s.temperature_K, tdamp=_tdamp(s))


def _npt(atoms, s: MDSettings) -> MolecularDynamics:
    # Martyna-Tobias-Klein NPT with Nose-Hoover chains, full cell fluctuations (ASE >= 3.25)
    from ase.md.nose_hoover_chain import MTKNPT

    return MTKNPT(atoms, timestep=s.timestep_fs * units.fs, temperature_K=s.temperature_K,
                  pressure_au=s.pressure_GPa * units.GPa, tdamp=_tdamp(s),
                  pdamp=(s.pdamp_fs or 1000.0 * s.timestep_fs) * units.fs)


#: ensemble name → integrator builder
ENSEMBLES: Dict[str, Callable[..., MolecularDynamics]] = {
    "nve": _nve, "langevin": _langevin, "nose-hoover": _nose_hoover, "npt": _npt}


def prepare_velocities(atoms, temperature_K: float, seed: int) -> None:
    """Maxwell-Boltzmann velocities at ``temperature_K`` without centre-of-mass motion,
    unless the structure already carries momenta."""
    from ase.md import velocitydistribution as vd

    if np.any(atoms.get_momenta() != 0.0) or temperature_K == 0.0:
        return
    # ASE 3.29 renamed MaxwellBoltzmannDistribution (now deprecated) to thermalize_momenta
    thermalize = getattr(vd, "thermalize_momenta", None) or vd.MaxwellBoltzmannDistribution
    thermalize(atoms, temperature_K=temperature_K, rng=np.random.default_rng(seed))
    vd.Stationary(atoms)
    if not atoms.pbc.any():
        vd.ZeroRotation(atoms)


@dataclasses.dataclass
class MDResult:
    """What an MD run did: steps, the logged times (ps), total energies (eV) and temperatures (K),
    atoms and wall time (s)."""

    steps_done: int
    times_ps: np.ndarray  # [k] of the logged steps
    total_energy: np.ndarray  # [k] eV
    temperature_K: np.ndarray  # [k]
    num_atoms: int
    wall_s: float

    @property
    def drift_meV_per_atom_ps(self) -> float:
        """NVE energy drift, meV/atom/ps (see :func:`energy_drift`)."""
        return energy_drift(self.times_ps, self.total_energy, self.num_atoms)


def energy_drift(times_ps: np.ndarray, total_energy: np.ndarray, num_atoms: int) -> float:
    """Slope of a straight-line fit of E_tot / atom against time, meV/atom/ps."""
    if len(times_ps) < 2:
        return 0.0
    slope = np.polyfit(np.asarray(times_ps), np.asarray(total_energy) / num_atoms, 1)[0]
    return 1000.0 * float(slope)


class _Recorder:
    """Log lines, trajectory frames, progress and the extrapolation check, per step."""

    def __init__(self, dyn, atoms, s: MDSettings, out_dir: Path, uncertainty: bool,
                 progress: bool):
        self.dyn, self.atoms, self.s, self.out_dir = dyn, atoms, s, out_dir
        self.uncertainty, self.progress = uncertainty, progress
        self.log = open(out_dir / LOG_FILE, "w", encoding="utf-8")
        self.traj = open(out_dir / TRAJECTORY_FILE, "w", encoding="utf-8")
        cols = ["step", "time_ps", "T_K", "Epot_eV", "Ekin_eV", "Etot_eV", "P_GPa"]
        extra = ["max_F_std_eV/A", "max_OOD"] if uncertainty else []
        self.log.write("# " + " ".join(cols + extra) + "\n")
        self.times: List[float] = []
        self.etot: List[float] = []
        self.temps: List[float] = []
        self.start = time.perf_counter()

    def close(self) -> None:
        self.log.close()
        self.traj.close()

    def __call__(self) -> None:
        step = self.dyn.nsteps
        reason = self.extrapolating()
        if reason:
            self.record(step)
            _write_frame(self.out_dir / EXTRAPOLATED_FILE, self.atoms)
            raise ExtrapolationError(
                f"step {step} (t = {self.dyn.get_time() / (1000 * units.fs):.4f} ps): "
                f"{reason}; the model is extrapolating. Frame written "
                f"to {self.out_dir / EXTRAPOLATED_FILE}")
        if step % self.s.interval == 0 or step == self.s.steps:
            self.record(step)

    def extrapolating(self) -> str:
        """Why the current frame is past a limit ('' when it is not)."""
        results = self.atoms.calc.results
        limits = (("max_forces_std", self.s.max_force_std, "force uncertainty",
                   "--max-force-std", " eV/Å"),
                  ("max_ood_score", self.s.max_ood_score, "OOD score", "--max-ood-score", ""))
        for key, limit, what, option, unit in limits:
            value = results.get(key)
            if limit is not None and value is not None and value > limit:
                return (f"{self.estimator_name()} {what} {value:.4g}{unit} exceeds {option} "
                        f"{limit:g}{unit}")
        return ""

    def estimator_name(self) -> str:
        estimator = getattr(getattr(self.atoms.calc, "committee", None), "estimator", None)
        return type(estimator).__name__ if estimator is not None else "model"

    def record(self, step: int) -> None:
        atoms = self.atoms
        epot = atoms.get_potential_energy()
        ekin = atoms.get_kinetic_energy()
        temp = atoms.get_temperature()
        t_ps = self.dyn.get_time() / (1000.0 * units.fs)
        pressure = float("nan")
        if "stress" in atoms.calc.results:
            pressure = -np.trace(atoms.get_stress(voigt=False, include_ideal_gas=True)) / 3
            pressure /= units.GPa
        line = (f"{step:8d} {t_ps:10.5f} {temp:9.2f} {epot:15.6f} {ekin:13.6f} "
                f"{epot + ekin:15.6f} {pressure:10.4f}")
        if self.uncertainty:
            line += (f" {atoms.calc.results['max_forces_std']:10.5f}"
                     f" {atoms.calc.results.get('max_ood_score', float('nan')):8.3f}")
        self.log.write(line + "\n")
        self.log.flush()
        _write_frame(self.traj, atoms)
        self.times.append(t_ps)
        self.etot.append(epot + ekin)
        self.temps.append(temp)
        if self.progress:
            self.show(step, temp, epot + ekin)

    def show(self, step: int, temp: float, etot: float) -> None:
        elapsed = time.perf_counter() - self.start
        rate = step / elapsed if elapsed > 0 else 0.0
        eta = (self.s.steps - step) / rate if rate > 0 else float("nan")
        text = (f"step {step}/{self.s.steps} ({100 * step / max(self.s.steps, 1):5.1f} %) "
                f"T {temp:8.1f} K  Etot {etot:.4f} eV  {rate:.1f} steps/s  ETA {eta:.0f} s")
        end = "\r" if sys.stderr.isatty() and step < self.s.steps else "\n"
        print(text, end=end, file=sys.stderr, flush=True)


def _write_frame(target, atoms) -> None:
    """One extxyz frame with energy, forces, stress, velocities, committee spread and, for
    a spin model, its (fixed) moments and -∂E/∂m."""
    from ase.calculators.singlepoint import SinglePointCalculator
    from ase.io import write

    frame = atoms.copy()
    results = atoms.calc.results
    frame.calc = SinglePointCalculator(frame, **{k: results[k] for k in (
        "energy", "forces", "stress") if k in results})
    for key in ("energy_std", "max_forces_std", "max_ood_score"):
        if key in results:
            frame.info[key] = results[key]
    for key in ("forces_std", "ood_score", "magnetic_forces"):
        if key in results:
            frame.arrays[key] = np.asarray(results[key])
    write(target, frame, format="extxyz")


def run_md(atoms, settings: MDSettings, out_dir, progress: bool = False) -> MDResult:
    """Integrate ``atoms`` (with its calculator attached) as ``settings`` say, writing
    ``md.log`` and ``md.xyz`` every ``interval`` steps into ``out_dir``.

    Raises :class:`MDError` for impossible settings (before any file is written) and
    :class:`ExtrapolationError` when the calculator's force uncertainty passes
    ``max_force_std`` or its OOD score ``max_ood_score``.
    """
    calc = atoms.calc
    uncertainty = getattr(getattr(calc, "committee", None), "estimator", None) is not None
    periodic = bool(atoms.pbc.all() and atoms.cell.rank == 3)
    settings.check(periodic, uncertainty)
    atoms.get_forces()  # bad structures (overlaps, unknown species) fail before any output
    prepare_velocities(atoms, settings.temperature_K, settings.seed)
    dyn = ENSEMBLES[settings.ensemble](atoms, settings)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    recorder = _Recorder(dyn, atoms, settings, out_dir, uncertainty, progress)
    dyn.attach(recorder, interval=1)
    try:
        dyn.run(settings.steps)
    finally:
        recorder.close()
    return MDResult(dyn.nsteps, np.array(recorder.times), np.array(recorder.etot),
                    np.array(recorder.temps), len(atoms), time.perf_counter() - recorder.start)
