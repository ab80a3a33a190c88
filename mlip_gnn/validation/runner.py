"""Run the property drivers for every committee member and the reference, and compare.

Each member is measured on its own; the model value is the committee mean and the spread
the population standard deviation of the members' values. A committee disagrees on a
property when the spread exceeds ``committee_tolerance`` × |value|.
"""

from __future__ import annotations

import dataclasses
import sys
import time
from typing import Callable, Dict, List, Sequence

import numpy as np

from mlip_gnn.validation.defects import measure_vacancy
from mlip_gnn.validation.dynamics import measure_dynamics
from mlip_gnn.validation.elastic import measure_elastic
from mlip_gnn.validation.magnetism import measure_magnetism
from mlip_gnn.validation.names import MODEL_ONLY, expected_names, unit_of
from mlip_gnn.validation.phases import measure_phases
from mlip_gnn.validation.phonons import measure_phonons
from mlip_gnn.validation.result import Check, Measurement
from mlip_gnn.validation.lattice import measure_eos, measure_lattice
from mlip_gnn.validation.structures import Bulk, RelaxationCollapse, relax_bulk
from mlip_gnn.validation.surfaces import measure_surfaces
from mlip_gnn.validation.spec import SystemSpec

__all__ = ["DRIVERS", "PropertyEntry", "ValidationResult", "measure_all", "run_validation",
           "REFERENCE_LABEL"]

REFERENCE_LABEL = "reference"
Driver = Callable[[Bulk, object, bool], Measurement]

#: family → driver(relaxed bulk, calculator, progress) in the order they run
DRIVERS: Dict[str, Driver] = {
    "lattice": lambda bulk, calc, progress: measure_lattice(bulk),
    "eos": lambda bulk, calc, progress: measure_eos(bulk, calc),
    "elastic": lambda bulk, calc, progress: measure_elastic(bulk, calc),
    "vacancy": lambda bulk, calc, progress: measure_vacancy(bulk, calc),
    "surfaces": lambda bulk, calc, progress: measure_surfaces(bulk, calc),
    "phases": lambda bulk, calc, progress: measure_phases(bulk, calc),
    "magnetism": lambda bulk, calc, progress: measure_magnetism(bulk, calc),
    "phonons": lambda bulk, calc, progress: measure_phonons(bulk, calc),
    "dynamics": lambda bulk, calc, progress: measure_dynamics(bulk, calc, progress),
}


def _say(progress: bool, text: str) -> None:
    if progress:
        print(text, file=sys.stderr, flush=True)


def measure_all(spec: SystemSpec, calc, label: str = "model", progress: bool = False,
                families: Sequence[str] | None = None) -> Measurement:
    """Relax the bulk with ``calc`` and run every family of ``spec`` (or ``families``);
    the curves gain ``wall_s`` (family → seconds)."""
    families = list(spec.properties if families is None else families)
    start = time.perf_counter()
    bulk = relax_bulk(spec, calc)
    wall = {"relax": time.perf_counter() - start}
    _say(progress, f"[{label}] relaxed bulk: E {bulk.energy_per_atom:.5f} eV/atom "
         f"({wall['relax']:.1f} s)")
    result = Measurement()
    for family in families:
        t0 = time.perf_counter()
        _say(progress, f"[{label}] {family} ...")
        try:
            result.update(DRIVERS[family](bulk, calc, progress))
        except RelaxationCollapse as exc:  # the family's values stay missing (NaN)
            result.checks.append(Check(family, False, f"relaxation COLLAPSED: {exc}"))
        wall[family] = time.perf_counter() - t0
        _say(progress, f"[{label}] {family} done in {wall[family]:.1f} s")
    if "bulk_modulus" in result.values and "elastic" in result.curves:
        b_eos = result.values["bulk_modulus"]
        b_elastic = result.curves["elastic"]["bulk_modulus_voigt"]
        diff = abs(b_elastic / b_eos - 1.0)
        result.checks.append(Check("eos", diff < 0.02, f"B from E(V) {b_eos:.2f} GPa vs "
                                   f"(C11 + 2 C12)/3 {b_elastic:.2f} GPa ({100 * diff:.2f} %)"))
    result.curves["wall_s"] = wall
    return result


@dataclasses.dataclass
class PropertyEntry:
    """One row of validation.json: value of the model (committee mean) and reference,
    error = model − reference, relative_error = error / |reference|, spread = committee
    standard deviation (None for one model)."""

    name: str
    unit: str
    model: float
    reference: float | None
    error: float | None
    relative_error: float | None
    spread: float | None
    members: List[float]
    source: str | None = None

    def to_dict(self) -> dict:
        """The entry as plain JSON-ready values."""
        return {k: _plain(v) for k, v in dataclasses.asdict(self).items()}


def _plain(value):
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, float) and not np.isfinite(value):
        return None
    return value


@dataclasses.dataclass
class ValidationResult:
    """A validation: system, models, reference, families, the property entries, checks and plot data
    per calculator, and the properties the committee disagrees on."""

    system: str
    models: List[str]
    reference: str
    families: List[str]
    entries: List[PropertyEntry]
    checks: Dict[str, List[Check]]  # calculator label → checks
    curves: Dict[str, dict]  # calculator label → plot data
    disagreements: List[str]  # properties the committee disagrees on
    committee_tolerance: float
    wall_s: Dict[str, float]  # calculator label → seconds


def _entry(name: str, members: List[float], reference: float | None,
           source: str | None) -> PropertyEntry:
    model = float(np.mean(members))
    spread = float(np.std(members)) if len(members) > 1 else None
    if any(name.startswith(p) for p in MODEL_ONLY):
        reference = None
    error = None if reference is None else model - reference
    relative = None if error is None or reference == 0 else error / abs(reference)
    return PropertyEntry(name, unit_of(name), model, reference, error, relative, spread,
                         [float(m) for m in members], source)


def run_validation(spec: SystemSpec, models: Sequence, model_names: Sequence[str],
                   reference_calc=None, progress: bool = False) -> ValidationResult:
    """Measure every family of ``spec`` with each model calculator (a committee when
    several) and with ``reference_calc`` (None: the spec's reference table)."""
    labels = [f"model {i + 1}" if len(models) > 1 else "model" for i in range(len(models))]
    measured: Dict[str, Measurement] = {}
    wall: Dict[str, float] = {}
    calcs = list(zip(labels, models))
    if reference_calc is not None:
        calcs.append((REFERENCE_LABEL, reference_calc))
    for label, calc in calcs:
        start = time.perf_counter()
        measured[label] = measure_all(spec, calc, label, progress)
        wall[label] = time.perf_counter() - start
    entries = []
    for name in expected_names(spec):
        if reference_calc is not None:
            reference = measured[REFERENCE_LABEL].values.get(name, float("nan"))
            source = None
        else:
            row = spec.reference.table.get(name)
            reference, source = (row.value, row.source) if row else (None, None)
        members = [measured[lab].values.get(name, float("nan")) for lab in labels]
        entries.append(_entry(name, members, reference, source))
    scale = spec.committee_tolerance
    disagreements = [e.name for e in entries if e.spread is not None
                     and e.spread > scale * max(abs(e.model), abs(e.reference or 0.0))]
    return ValidationResult(
        system=spec.name, models=list(model_names), reference=spec.reference.describe(),
        families=list(spec.properties), entries=entries,
        checks={label: m.checks for label, m in measured.items()},
        curves={label: m.curves for label, m in measured.items()},
        disagreements=disagreements, committee_tolerance=spec.committee_tolerance,
        wall_s=wall)
