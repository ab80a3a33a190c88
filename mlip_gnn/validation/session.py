"""``mlip-gnn validate`` as one call: SYSTEM.yaml read, the families chosen, every model
checked to know the system's elements, then every property measured and compared."""

from __future__ import annotations

import dataclasses
import os
from typing import Sequence

from ase.data import atomic_numbers

from mlip_gnn.calculators import MLIPCalculator
from mlip_gnn.validation.runner import ValidationResult, run_validation
from mlip_gnn.validation.spec import FAMILIES, SystemSpec, SystemSpecError
from mlip_gnn.validation.system import load_system

__all__ = ["select_families", "check_species", "validate_models"]


def select_families(spec: SystemSpec, only: Sequence[str] | None = None,
                    with_dynamics: bool = False, source: str = "SYSTEM.yaml") -> SystemSpec:
    """``spec`` with its families replaced by ``only`` (in run order) and ``dynamics``
    added when ``with_dynamics``; dynamics needs a temperature (named by ``source``)."""
    properties = list(spec.properties)
    if only:
        properties = [f for f in FAMILIES if f in only]
    if with_dynamics and "dynamics" not in properties:
        properties.append("dynamics")
    if "dynamics" in properties and not spec.temperatures:
        raise SystemSpecError(f"{source}: temperatures: dynamics needs at least one")
    return dataclasses.replace(spec, properties=properties)


def check_species(calc: MLIPCalculator, elements: Sequence[str], model: str) -> None:
    """Refuse a model (every committee member) that was trained without one of
    ``elements``."""
    known = set.intersection(*(set(m.spec.species) for m in calc.committee.members))
    missing = [e for e in elements if atomic_numbers[e] not in known]
    if missing:
        raise SystemSpecError(f"elements: model {model!r} has no {', '.join(missing)} "
                              "(it was trained without them)")


def validate_models(models: Sequence[str], system: os.PathLike,
                    only: Sequence[str] | None = None, with_dynamics: bool = False,
                    device: str = "auto", use_ema: bool = True,
                    progress: bool = False) -> ValidationResult:
    """The properties of SYSTEM.yaml at ``system`` (families ``only``, plus dynamics when
    ``with_dynamics``) for each of ``models`` (exported files, checkpoints or run dirs)
    and for the reference. Everything is checked before the first property runs."""
    spec = select_families(load_system(system), only, with_dynamics, str(system))
    calcs = []
    for model in models:
        calc = MLIPCalculator(model, device=device, use_ema=use_ema)
        check_species(calc, spec.elements, model)
        calcs.append(calc)
    reference = spec.reference.make_calculator()
    return run_validation(spec, calcs, list(models), reference, progress=progress)
