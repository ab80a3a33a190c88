"""Search drivers: each makes trial ``i`` (one local relaxation) from the trials before it.

Every random number of trial ``i`` is drawn from ``numpy.random.default_rng([seed, i])``
and a chain's state after each trial is in its record, so a driver rebuilt from the log
(:meth:`Driver.resume`) continues exactly as the uninterrupted run would have.
"""

from __future__ import annotations

import math
from typing import Dict, List, Type

import numpy as np
from ase import Atoms, units
from ase.md import velocitydistribution as vd
from ase.md.verlet import VelocityVerlet

from mlip_gnn.search.fingerprint import fingerprint, same_minimum
from mlip_gnn.search.log import TrialRecord
from mlip_gnn.search.relax import relaxed_record
from mlip_gnn.search.structures import SearchError, perturbed, random_bulk, random_cluster

__all__ = ["Driver", "RandomSearch", "BasinHopping", "MinimaHopping", "DRIVERS"]


class Driver:
    """Base of the drivers: random starts, relaxation, and the records so far."""

    def __init__(self, cfg, calculator):
        self.cfg = cfg
        self.calculator = calculator
        self.records: List[TrialRecord] = []

    def rng(self, index: int) -> np.random.Generator:
        """The random numbers of trial ``index``."""
        return np.random.default_rng([self.cfg.seed, index])

    def random_start(self, rng: np.random.Generator) -> Atoms:
        """A random structure under the constraints (cluster or bulk)."""
        cfg = self.cfg
        if cfg.mode == "cluster":
            return random_cluster(cfg.symbols, cfg.radius, cfg.min_distance, rng,
                                  cfg.constraints.max_attempts)
        return random_bulk(cfg.symbols, cfg.volume_range, cfg.min_distance, rng,
                           cfg.constraints.max_attempts)

    def resume(self, records: List[TrialRecord]) -> None:
        """Take up the finished trials of a log."""
        self.records = list(records)

    def step(self, index: int) -> TrialRecord:
        """Run trial ``index`` (= the number of records so far) and keep its record."""
        record = self.trial(index, self.rng(index))
        self.records.append(record)
        return record

    def trial(self, index: int, rng: np.random.Generator) -> TrialRecord:
        """Make one relaxed trial; drivers override this."""
        raise NotImplementedError

    def current(self) -> TrialRecord | None:
        """Chains: the current minimum (None before the first valid trial)."""
        last = self.records[-1].current if self.records else None
        return None if last is None else self.records[last]


class RandomSearch(Driver):
    """Random structure search (AIRSS-like): every trial relaxes a new random structure."""

    def trial(self, index: int, rng: np.random.Generator) -> TrialRecord:
        """Relax a random structure."""
        record = relaxed_record(index, self.random_start(rng), self.calculator, self.cfg)
        record.accepted = record.valid
        return record


class BasinHopping(Driver):
    """Monte Carlo over minima (Wales & Doye, J. Phys. Chem. A 101, 5111 (1997)): perturb
    the current minimum, relax, accept with probability min(1, exp(-ΔE / kT))."""

    def trial(self, index: int, rng: np.random.Generator) -> TrialRecord:
        """One basin-hopping step (the first valid trial starts the chain)."""
        cfg, bh, cur = self.cfg, self.cfg.basin_hopping, self.current()
        note = ""
        if cur is None:
            start = self.random_start(rng)
        else:
            radius = cfg.radius if cfg.mode == "cluster" else None
            try:
                start = perturbed(cur.atoms(), bh.step_size, bh.cell_strain, radius,
                                  cfg.min_distance, rng, cfg.constraints.max_attempts)
            except SearchError:  # a jammed move: a fresh random structure instead
                start, note = self.random_start(rng), "random restart: the move jammed"
        record = relaxed_record(index, start, self.calculator, cfg)
        record.note = record.note or note
        draw = rng.uniform()  # drawn every trial, so the stream does not depend on the path
        if not record.valid:
            accepted = False
        elif cur is None:
            accepted = True
        else:
            kT = units.kB * bh.temperature_K
            accepted = bool(record.energy <= cur.energy
                            or draw < math.exp(-(record.energy - cur.energy) / kT))
        record.accepted = accepted
        record.current = index if accepted else (None if cur is None else cur.index)
        return record


class MinimaHopping(Driver):
    """Minima hopping (Goedecker, J. Chem. Phys. 120, 9911 (2004)): escape the current
    minimum by MD at temperature T until ``mdmin`` potential-energy minima have passed,
    relax; T rises when the escape falls back into the current or an old minimum and
    falls after a new one; the hop is accepted when it raises the energy by less than
    ``ediff``, which shrinks after an acceptance and grows after a rejection."""

    def __init__(self, cfg, calculator):
        super().__init__(cfg, calculator)
        self._fps: Dict[int, np.ndarray] = {}  # trial index → fingerprint, valid trials

    def resume(self, records: List[TrialRecord]) -> None:
        """Take up the finished trials, and the fingerprints of the minima seen."""
        super().resume(records)
        self._fps = {r.index: self._fp(r.atoms()) for r in records if r.valid}

    def _fp(self, atoms: Atoms) -> np.ndarray:
        d = self.cfg.dedup
        return fingerprint(atoms, d.r_cut, d.sigma)

    def _same(self, a: TrialRecord, b: TrialRecord) -> bool:
        d = self.cfg.dedup
        return same_minimum(a.energy, b.energy, self._fps[a.index], self._fps[b.index],
                            len(a.numbers), d.energy_tol, d.fingerprint_tol)

    def _escape(self, start: Atoms, temperature_K: float, rng: np.random.Generator):
        """MD from ``start`` at ``temperature_K`` until ``mdmin`` minima of the potential
        energy have passed; returns the last frame and the steps run."""
        mh = self.cfg.minima_hopping
        atoms = start.copy()
        atoms.calc = self.calculator
        # ASE 3.29 renamed MaxwellBoltzmannDistribution (now deprecated) to thermalize_momenta
        thermalize = getattr(vd, "thermalize_momenta", None) or vd.MaxwellBoltzmannDistribution
        thermalize(atoms, temperature_K=temperature_K, rng=rng)
        vd.Stationary(atoms)
        if not atoms.pbc.any():
            vd.ZeroRotation(atoms)
        dyn = VelocityVerlet(atoms, timestep=mh.timestep_fs * units.fs)
        energies, minima, steps = [atoms.get_potential_energy()], 0, 0
        while minima < mh.mdmin and steps < mh.max_md_steps:
            dyn.run(1)
            steps += 1
            energies.append(atoms.get_potential_energy())
            if len(energies) >= 3 and energies[-2] < energies[-3] and energies[-2] < energies[-1]:
                minima += 1
        atoms.calc = None
        return atoms, steps

    def trial(self, index: int, rng: np.random.Generator) -> TrialRecord:
        """One hop (the first valid trial starts from a random structure)."""
        mh, cur = self.cfg.minima_hopping, self.current()
        if cur is None:
            record = relaxed_record(index, self.random_start(rng), self.calculator, self.cfg)
            record.accepted = record.valid
            record.current = index if record.valid else None
            record.state = {"temperature_K": mh.temperature_K, "ediff": mh.ediff}
            if record.valid:
                self._fps[index] = self._fp(record.atoms())
            return record
        state = self.records[-1].state
        temperature, ediff = state["temperature_K"], state["ediff"]
        escaped, md_steps = self._escape(cur.atoms(), temperature, rng)
        record = relaxed_record(index, escaped, self.calculator, self.cfg, md_steps=md_steps)
        accepted = False
        if record.valid:
            self._fps[index] = self._fp(record.atoms())
            if self._same(record, cur):
                temperature *= mh.beta_same
            else:
                seen = any(self._same(record, self.records[i]) for i in self._fps
                           if i != index)
                temperature *= mh.beta_old if seen else mh.beta_new
                accepted = record.energy - cur.energy < ediff
                ediff *= mh.alpha_accept if accepted else mh.alpha_reject
        else:
            temperature *= mh.beta_same
        record.accepted = bool(accepted)
        record.current = index if accepted else cur.index
        record.state = {"temperature_K": temperature, "ediff": ediff}
        return record


#: method name (``method`` of SEARCH.yaml) → driver class
DRIVERS: Dict[str, Type[Driver]] = {"basin_hopping": BasinHopping,
                                    "minima_hopping": MinimaHopping, "random": RandomSearch}
