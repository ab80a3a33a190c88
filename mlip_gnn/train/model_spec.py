"""The model spec a run derives from its config and training data: species, cutoff and
precision first (:func:`base_spec`, enough to build graphs), then the E0s and the
architecture with its ``auto`` values from the training statistics
(:func:`complete_spec`); and what a config asks for that a stored spec lacks
(:func:`spec_changes`). A fine-tuning run's spec is the pretrained one
(:func:`mlip_gnn.train.finetune.finetune_spec`)."""

from __future__ import annotations

import dataclasses
import logging
from typing import Any, List, Mapping

from ase.data import atomic_numbers as ATOMIC_NUMBERS

from mlip_gnn.config import LONG_RANGE_ARGUMENTS, Config
from mlip_gnn.data import DatasetStatistics, SpeciesTable
from mlip_gnn.defaults import ARCHITECTURE
from mlip_gnn.modelio import ModelSpec

__all__ = ["e0_method", "base_spec", "complete_spec", "spec_changes", "model_architecture"]

_log = logging.getLogger(__name__)


def e0_method(e0s: Any):
    """The config's ``data.e0s`` for :func:`reference_energies`: symbols → atomic numbers."""
    if isinstance(e0s, Mapping):
        return {ATOMIC_NUMBERS[symbol]: float(value) for symbol, value in e0s.items()}
    return e0s


def _shift(stats: DatasetStatistics, e0s, e0_source) -> float:
    """Mean per-atom energy after the E0s; 0 when the E0s are isolated-atom energies, since
    an atom without neighbours gets E0 + shift and must keep its isolated energy (the
    cohesive energy is then learnt by the network)."""
    if e0_source == "isolated":
        return 0.0
    return stats.mean_interaction_energy(e0s)


def _scale(stats: DatasetStatistics) -> float:
    rms = stats.force_rms()
    if not rms > 0.0:
        _log.warning("no forces in the training data: model.scale 'auto' falls back to 1.0")
        return 1.0
    return rms


def base_spec(cfg: Config, species: SpeciesTable) -> ModelSpec:
    """The spec's species, cutoff and precision: all that graph building needs. The E0s
    and the architecture come with :func:`complete_spec`, once the graphs exist."""
    return ModelSpec(species.atomic_numbers, cfg.data.r_max, cfg.dtype)


def complete_spec(spec: ModelSpec, cfg: Config, stats: DatasetStatistics) -> ModelSpec:
    """``spec`` with the E0s and the architecture: the config's model section, every key
    passed through to the builder unchanged, with its ``auto`` values taken from the
    training set's statistics ``stats``."""
    e0s = stats.reference_energies(e0_method(cfg.data.e0s))
    architecture = model_architecture(cfg)
    statistics = {
        "avg_num_neighbors": stats.average_num_neighbours,
        "scale": lambda: _scale(stats),
        "shift": lambda: _shift(stats, e0s, cfg.data.e0s),
    }
    for name, compute in statistics.items():
        value = architecture[name]
        architecture[name] = float(compute()) if value == "auto" else float(value)
    return spec.replace(e0s=e0s, architecture=architecture)


def model_architecture(cfg: Config) -> dict:
    """The config's model section as builder arguments (without ``init_from``, which says
    where the weights come from, not what the model is; ``long_range``'s fields become the
    builder's ``long_range``/``lr_*`` keywords)."""
    architecture = dataclasses.asdict(cfg.model)
    architecture.pop("init_from")
    long_range = architecture.pop("long_range")
    for name, keyword in LONG_RANGE_ARGUMENTS.items():
        architecture[keyword] = long_range[name]
    return architecture


def spec_changes(stored: ModelSpec, cfg: Config, species: SpeciesTable,
                 species_may_grow: bool = False) -> List[str]:
    """What the config (and the species of its training data) asks for that differs from
    the ``stored`` spec of a run, one ``field: stored -> requested`` line per field.
    Dataset statistics set to ``auto`` are not compared: a run keeps its own.
    ``species_may_grow``: the data may hold elements the stored spec lacks, and need not
    hold all of its elements (fine-tuning)."""
    requested = {"data.r_max": (stored.r_max, float(cfg.data.r_max)),
                 "dtype": (stored.dtype, cfg.dtype)}
    if not species_may_grow:
        requested["species (of data.train)"] = (list(stored.species), species.atomic_numbers)
    if isinstance(cfg.data.e0s, Mapping):
        wanted = {z: e for z, e in e0_method(cfg.data.e0s).items() if z in stored.species}
        requested["data.e0s"] = ({z: stored.e0s.get(z) for z in wanted}, wanted)
    for name, value in model_architecture(cfg).items():
        if value != "auto":
            # a key the stored spec lacks predates it: that run was built with its default
            default = ARCHITECTURE.get(name, "<unset>")
            requested[f"model.{name}"] = (stored.architecture.get(name, default), value)
    return [f"{name}: {old!r} -> {new!r}" for name, (old, new) in requested.items()
            if old != new]
