"""From a config to data sets, loaders, dataset statistics and the model spec."""

from __future__ import annotations

import dataclasses
import logging
from typing import Any, Callable, List, Mapping

import numpy as np
from ase.data import atomic_numbers as ATOMIC_NUMBERS
from torch.utils.data import DataLoader, DistributedSampler, Sampler

from mlip_gnn.data import (Configuration, DataError, GraphDataset, KeyMap, SpeciesTable,
                           average_num_neighbours, collate, force_rms,
                           interaction_energy_per_atom, read_many, reference_energies)
from mlip_gnn.modelio import ModelSpec

__all__ = ["DataSplits", "read_splits", "split_train_valid", "e0_method", "base_spec",
           "complete_spec", "spec_changes", "model_architecture", "replay_frames",
           "ResumableSampler", "ShardSampler", "make_loader"]

_log = logging.getLogger(__name__)


@dataclasses.dataclass
class DataSplits:
    train: List[Configuration]
    valid: List[Configuration]
    test: List[Configuration]


def split_train_valid(configs: List[Configuration], fraction: float, seed: int):
    """Random ``fraction`` of ``configs`` (at least one frame) held out for validation.

    Single-atom frames (isolated-atom references for the E0s) are never held out, and a
    frame whose element would otherwise be missing from train goes back to train.
    """
    if len(configs) < 2:
        raise DataError(f"cannot split {len(configs)} training frame(s) into train and "
                        "validation; give data.valid or more training frames")
    n_valid = min(max(1, round(fraction * len(configs))), len(configs) - 1)
    order = np.random.default_rng(seed).permutation(len(configs))
    order = [i for i in order if configs[i].num_atoms > 1] + \
        [i for i in order if configs[i].num_atoms == 1]
    valid, train = order[:n_valid], order[n_valid:]
    in_train = set(np.concatenate([configs[i].atomic_numbers for i in train]).tolist()) \
        if train else set()
    for i in list(valid):
        missing = set(configs[i].atomic_numbers.tolist()) - in_train
        if missing and len(valid) > 1:
            valid.remove(i)
            train.append(i)
            in_train |= missing
    return [configs[i] for i in sorted(train)], [configs[i] for i in sorted(valid)]


def read_splits(cfg) -> DataSplits:
    """Read train / valid / test files; split valid off train when no valid file is given."""
    data = cfg.data
    key_map = KeyMap(**dataclasses.asdict(data.keys))
    train = read_many(data.train, key_map)
    if data.valid:
        valid = read_many(data.valid, key_map)
    else:
        seed = cfg.seed if data.split_seed is None else data.split_seed
        train, valid = split_train_valid(train, data.valid_fraction, seed)
    test = read_many(data.test, key_map) if data.test else []
    if cfg.finetune.replay:
        train = train + replay_frames(read_many(cfg.finetune.replay, key_map), len(train),
                                      cfg.finetune.replay_fraction, cfg.seed)
    _check_labels(cfg, train)
    return DataSplits(train, valid, test)


def replay_frames(old: List[Configuration], num_new: int, fraction: float,
                  seed: int) -> List[Configuration]:
    """A random subset of ``old`` (drawn once per run with ``seed``) that makes up
    ``fraction`` of the training frames beside ``num_new`` new ones; all of ``old`` when
    it has fewer."""
    wanted = round(fraction / (1.0 - fraction) * num_new)
    if wanted > len(old):
        _log.warning("finetune.replay: %d frames wanted for a replay fraction of %g, only "
                     "%d given; replaying all of them", wanted, fraction, len(old))
        wanted = len(old)
    order = np.random.default_rng([seed, 1]).permutation(len(old))[:wanted]
    return [old[i] for i in sorted(order)]


def _check_labels(cfg, train: List[Configuration]) -> None:
    """A loss term with a positive weight (at the start or in a stage) needs at least one
    training frame with its label; frames without it are masked out of that term."""
    labels = {"energy": "energy", "forces": "forces", "stress": "stress"}
    for term, attribute in labels.items():
        weights = [getattr(cfg.loss, f"{term}_weight")]
        weights += [getattr(stage, f"{term}_weight", None) for stage in cfg.loss.stages]
        if not any(w for w in weights if w is not None):
            continue
        if any(getattr(conf, attribute) is not None for conf in train):
            continue
        key = getattr(cfg.data.keys, term, None) or term
        files = ", ".join(str(path) for path in cfg.data.train)
        raise DataError(f"{files}: none of the {len(train)} training frames carries the "
                        f"{term} label (looked for the field '{key}'), but "
                        f"loss.{term}_weight (or a stage's) is positive; add the labels, map "
                        f"the field with data.keys.{term}, or set loss.{term}_weight: 0")


def e0_method(e0s: Any):
    """The config's ``data.e0s`` for :func:`reference_energies`: symbols → atomic numbers."""
    if isinstance(e0s, Mapping):
        return {ATOMIC_NUMBERS[symbol]: float(value) for symbol, value in e0s.items()}
    return e0s


def _auto(value: Any, compute: Callable[[], float]) -> float:
    return float(compute()) if value == "auto" else float(value)


def _shift(train, species, e0s, e0_source) -> float:
    """Mean per-atom energy after the E0s; 0 when the E0s are isolated-atom energies, since
    an atom without neighbours gets E0 + shift and must keep its isolated energy (the
    cohesive energy is then learnt by the network)."""
    if e0_source == "isolated":
        return 0.0
    per_atom = interaction_energy_per_atom(train, species, e0s)
    return float(per_atom.mean()) if per_atom.size else 0.0


def _scale(train) -> float:
    rms = force_rms(train)
    if not rms > 0.0:
        _log.warning("no forces in the training data: model.scale 'auto' falls back to 1.0")
        return 1.0
    return rms


def base_spec(cfg, species: SpeciesTable) -> ModelSpec:
    """The spec's species, cutoff and precision: all that graph building needs. The E0s
    and the architecture come with :func:`complete_spec`, once the graphs exist."""
    return ModelSpec(species.atomic_numbers, cfg.data.r_max, cfg.dtype)


def complete_spec(spec: ModelSpec, cfg, train: List[Configuration],
                  train_graphs) -> ModelSpec:
    """``spec`` with the E0s and the architecture: the config's model section, every key
    passed through to the builder unchanged, with its ``auto`` statistics computed on
    ``train``."""
    species = spec.species_table()
    e0s = reference_energies(train, species, e0_method(cfg.data.e0s))
    architecture = model_architecture(cfg)
    statistics = {
        "avg_num_neighbors": lambda: average_num_neighbours(train_graphs),
        "scale": lambda: _scale(train),
        "shift": lambda: _shift(train, species, e0s, cfg.data.e0s),
    }
    for name, compute in statistics.items():
        architecture[name] = _auto(architecture[name], compute)
    return spec.replace(e0s=e0s, architecture=architecture)


def model_architecture(cfg) -> dict:
    """The config's model section as builder arguments (without ``init_from``, which says
    where the weights come from, not what the model is)."""
    architecture = dataclasses.asdict(cfg.model)
    architecture.pop("init_from")
    return architecture


def spec_changes(stored: ModelSpec, cfg, species: SpeciesTable,
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
            requested[f"model.{name}"] = (stored.architecture.get(name, "<unset>"), value)
    return [f"{name}: {old!r} -> {new!r}" for name, (old, new) in requested.items()
            if old != new]


class ResumableSampler(DistributedSampler):
    """``DistributedSampler`` (order = f(seed, epoch), so a resumed run sees the same
    order) that can start part-way into an epoch."""

    def __init__(self, dataset, num_replicas: int, rank: int, seed: int, shuffle: bool = True):
        super().__init__(dataset, num_replicas=num_replicas, rank=rank, shuffle=shuffle,
                         seed=seed, drop_last=False)
        self.start = 0

    def set_epoch(self, epoch: int, start: int = 0) -> None:
        """Select the epoch's order and skip its first ``start`` samples of this rank."""
        super().set_epoch(epoch)
        self.start = start

    def __iter__(self):
        return iter(list(super().__iter__())[self.start:])

    def __len__(self) -> int:
        return max(self.num_samples - self.start, 0)


class ShardSampler(Sampler):
    """Every ``num_replicas``-th frame, in order, without padding: evaluation metrics then
    sum to exactly the single-process figures."""

    def __init__(self, dataset, num_replicas: int, rank: int):
        self.indices = list(range(rank, len(dataset), num_replicas))

    def __iter__(self):
        return iter(self.indices)

    def __len__(self) -> int:
        return len(self.indices)


def make_loader(dataset: GraphDataset, batch_size: int, sampler: Sampler,
                num_workers: int = 0) -> DataLoader:
    return DataLoader(dataset, batch_size=batch_size, sampler=sampler, collate_fn=collate,
                      num_workers=num_workers, drop_last=False)


