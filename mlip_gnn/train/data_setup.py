"""From a config to data sets, loaders, dataset statistics and the model spec."""

from __future__ import annotations

import dataclasses
import logging
from collections import Counter
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple, Union

import numpy as np
from ase.data import atomic_numbers as ATOMIC_NUMBERS
from torch.utils.data import DataLoader, Dataset, DistributedSampler, Sampler

from mlip_gnn.data import (Configuration, DataError, DatasetStatistics, DiskFrames,
                           DiskGraphDataset, GraphDataset, KeyMap, SpeciesTable, collate,
                           is_dataset_dir, keys, read_configurations)
from mlip_gnn.defaults import ARCHITECTURE
from mlip_gnn.config import ConfigError
from mlip_gnn.data.ondisk import check_r_max
from mlip_gnn.modelio import ModelSpec
from mlip_gnn.train.batching import FixedBatches, PackedBatches

__all__ = ["DataSplits", "Frames", "read_frames", "read_splits", "split_train_valid",
           "labelled_frames", "train_species", "train_statistics", "graph_dataset",
           "config_types", "check_config_types", "test_groups", "type_groups", "e0_method",
           "base_spec", "complete_spec", "run_key_map", "spec_changes", "model_architecture",
           "replay_frames",
           "ResumableSampler", "ShardSampler", "train_batches", "eval_batches",
           "make_loader"]

_log = logging.getLogger(__name__)

#: frames of a split: read into memory (files), or opened on disk (dataset directories)
Frames = Union[List[Configuration], DiskFrames]


@dataclasses.dataclass
class DataSplits:
    train: Frames
    valid: Frames
    test: Frames
    train_groups: List[int] = dataclasses.field(default_factory=list)  # frames per entry


def read_frames(paths: Sequence[str], key_map: KeyMap) -> Tuple[Frames, List[int]]:
    """The dataset factory: structure files are read into memory, dataset directories made
    by ``mlip-gnn preprocess`` are opened on disk (not read). Returns the frames and the
    number of frames of each path."""
    on_disk = [is_dataset_dir(p) for p in paths]
    if all(on_disk):
        frames = DiskFrames(paths)
        return frames, frames.dataset_sizes
    if any(on_disk):
        raise DataError(f"{', '.join(map(str, paths))}: mixes dataset directories and "
                        "structure files; preprocess the files too (mlip-gnn preprocess)")
    for path in paths:
        if Path(path).is_dir():
            raise DataError(f"{path}: a directory but not a preprocessed dataset (no "
                            "dataset.json); make one with mlip-gnn preprocess, or name files")
    groups = [read_configurations(path, key_map) for path in paths]
    return [c for group in groups for c in group], [len(group) for group in groups]


def _split_indices(frames: Frames, fraction: float, seed: int):
    """Indices of train and valid frames; see :func:`split_train_valid`. Frames on disk
    are split by reading the held-out frames only."""
    if len(frames) < 2:
        raise DataError(f"cannot split {len(frames)} training frame(s) into train and "
                        "validation; give data.valid or more training frames")
    n_valid = min(max(1, round(fraction * len(frames))), len(frames) - 1)
    if isinstance(frames, DiskFrames):
        sizes = frames.per_frame("num_atoms")
        stats = frames.statistics()
        remaining = Counter(dict(zip(stats.zs, stats.atoms_per_species)))
    else:
        sizes = np.array([c.num_atoms for c in frames])
        remaining = Counter(np.concatenate([c.atomic_numbers for c in frames]).tolist())
    order = np.random.default_rng(seed).permutation(len(frames))
    multi = sizes[order] > 1
    order = order[multi].tolist() + order[~multi].tolist()
    valid, train = order[:n_valid], order[n_valid:]
    numbers = {i: frames[i].atomic_numbers.tolist() for i in valid}
    for i in valid:
        remaining.subtract(numbers[i])
    in_train = {z for z, count in remaining.items() if count > 0}
    for i in list(valid):
        missing = set(numbers[i]) - in_train
        if missing and len(valid) > 1:
            valid.remove(i)
            train.append(i)
            in_train |= missing
    return sorted(train), sorted(valid)


def split_train_valid(configs: List[Configuration], fraction: float, seed: int):
    """Random ``fraction`` of ``configs`` (at least one frame) held out for validation.

    Single-atom frames (isolated-atom references for the E0s) are never held out, and a
    frame whose element would otherwise be missing from train goes back to train.
    """
    train, valid = _split_indices(configs, fraction, seed)
    return [configs[i] for i in train], [configs[i] for i in valid]


def _split_on_disk(frames: DiskFrames, train: List[int], valid: List[int]):
    """Train and valid subsets of ``frames``; the train statistics are the stored ones
    less those of the valid frames (which are read; the train frames are not)."""
    edges = frames.per_frame("num_edges")
    held_out = DatasetStatistics(r_max=frames.r_max)
    for i in valid:
        held_out.add(frames[i], int(edges[i]))
    stats = frames.statistics().minus(held_out)
    # isolated-atom E0s: from the single-atom frames left in train, the last one winning
    stats.isolated = {}
    sizes = frames.per_frame("num_atoms")
    for i in (i for i in train if sizes[i] == 1):
        single = DatasetStatistics()
        single.add(frames[i])
        stats.isolated.update(single.isolated)
    return frames.subset(train, stats), frames.subset(valid, held_out)


def read_splits(cfg) -> DataSplits:
    """Read train / valid / test (files into memory, dataset directories opened on disk);
    split valid off train when data.valid is not given."""
    data = cfg.data
    key_map = run_key_map(cfg)
    train, groups = read_frames(data.train, key_map)
    if cfg.model.spin != "none" and isinstance(train, DiskFrames):
        raise DataError(f"{', '.join(map(str, data.train))}: preprocessed datasets do not "
                        "carry magnetic moments yet; give model.spin: collinear the "
                        "structure files")
    if data.valid:
        valid = read_frames(data.valid, key_map)[0]
    else:
        seed = cfg.seed if data.split_seed is None else data.split_seed
        train_index, valid_index = _split_indices(train, data.valid_fraction, seed)
        entry = np.repeat(np.arange(len(groups)), groups)
        groups = np.bincount(entry[train_index], minlength=len(groups)).tolist()
        if isinstance(train, DiskFrames):
            train, valid = _split_on_disk(train, train_index, valid_index)
        else:
            train, valid = [train[i] for i in train_index], [train[i] for i in valid_index]
    test = read_frames(data.test, key_map)[0] if data.test else []
    if cfg.finetune.replay:
        train, groups = _with_replay(cfg, train, groups, key_map)
    _check_labels(cfg, train)
    # an unknown type fails before graphs are built
    by_type = {"data.type_weights": data.type_weights,
               "loss.config_type_weights": cfg.loss.config_type_weights}
    if any(by_type.values()):
        types = config_types(train)
        for field, weights in by_type.items():
            if weights:
                check_config_types(types, list(weights), field)
    return DataSplits(train, valid, test, groups)


def run_key_map(cfg) -> KeyMap:
    """The config's label names; moments (and their derivatives) are read, and then
    required in every frame, only for a spin model."""
    key_map = KeyMap(**dataclasses.asdict(cfg.data.keys))
    if cfg.model.spin == "none":
        key_map = dataclasses.replace(key_map, magmoms=None, magnetic_forces=None)
    return key_map


def labelled_frames(frames: Frames, label: str) -> int:
    """Number of frames carrying ``label`` (energy, forces or stress)."""
    if isinstance(frames, DiskFrames):
        return frames.statistics().labelled[label]
    return sum(getattr(conf, label) is not None for conf in frames)


def train_species(frames: Frames) -> SpeciesTable:
    if isinstance(frames, DiskFrames):
        return SpeciesTable(frames.statistics().zs)
    return SpeciesTable.from_configurations(frames)


def graph_dataset(frames: Frames, spec: ModelSpec, indices: Optional[np.ndarray] = None,
                  type_weights: Optional[Mapping[str, float]] = None) -> Dataset:
    """Graphs of ``frames`` (those at ``indices``): built once in memory for frames read
    from files, built on the fly for frames on disk. ``type_weights`` (config_type ->
    factor, ``loss.config_type_weights``) multiply the frames' loss weights."""
    species, dtype = spec.species_table(), spec.torch_dtype
    weights = None
    if type_weights:
        types = config_types(frames)
        types = types if indices is None else types[indices]
        weights = [float(type_weights.get(name, 1.0)) for name in types]
    if isinstance(frames, DiskFrames):
        check_r_max(frames, spec.r_max, "data.r_max")
        return DiskGraphDataset(frames, spec.r_max, species, dtype, indices, weights)
    if indices is not None:
        frames = [frames[i] for i in indices]
    return GraphDataset(frames, spec.r_max, species, dtype, weights)


def check_config_types(types: np.ndarray, names: Sequence[str], field: str) -> None:
    """A clear error when a config_type named in the config at ``field`` is not among
    ``types`` (the training frames' :func:`config_types`; a typo would otherwise do
    nothing)."""
    present = set(types.tolist())
    missing = sorted(set(names) - present)
    if missing:
        raise ConfigError(f"{field}: no training frame has config_type "
                          f"{', '.join(map(repr, missing))} (the training frames have "
                          f"{', '.join(map(repr, sorted(present)))})", field=field)


def train_statistics(frames: Frames, dataset: Dataset, r_max: float) -> DatasetStatistics:
    """What the ``auto`` settings need; a preprocessed dataset has it stored."""
    if isinstance(frames, DiskFrames):
        return frames.statistics()
    stats = DatasetStatistics(r_max=r_max)
    for conf, graph in zip(frames, dataset.graphs):
        stats.add(conf, int(graph[keys.EDGE_INDEX].shape[1]))
    return stats


def config_types(frames: Frames) -> np.ndarray:
    """The config_type of every frame [N] (object array of str)."""
    if isinstance(frames, DiskFrames):
        return frames.config_types()
    return np.array([c.config_type for c in frames], dtype=object)


def test_groups(frames: Frames) -> Dict[str, Optional[np.ndarray]]:
    """Indices of every config type (``all``: None), when there is more than one."""
    types = config_types(frames)
    groups: Dict[str, Optional[np.ndarray]] = {"all": None}
    names = sorted(set(types.tolist()))
    if len(names) > 1:
        groups.update({name: np.flatnonzero(types == name) for name in names})
    return groups


def _with_replay(cfg, train: Frames, groups: List[int], key_map: KeyMap):
    """``train`` with the replayed old frames (``finetune.replay``) appended, as a group
    of their own."""
    if isinstance(train, DiskFrames):
        raise ConfigError("finetune.replay: not available with a preprocessed data.train; "
                          "give the old data as another data.train entry and set its share "
                          "with data.train_weights", field="finetune.replay")
    if cfg.data.train_weights is not None:
        raise ConfigError("finetune.replay: cannot be combined with data.train_weights; "
                          "give the old data as another data.train entry with its weight",
                          field="finetune.replay")
    old = [c for path in cfg.finetune.replay for c in read_configurations(path, key_map)]
    replay = replay_frames(old, len(train), cfg.finetune.replay_fraction, cfg.seed)
    return train + replay, [*groups, len(replay)]


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


def _check_labels(cfg, train: Frames) -> None:
    """A loss term with a positive weight (at the start or in a stage) needs at least one
    training frame with its label; frames without it are masked out of that term."""
    labels = {"energy": "energy", "forces": "forces", "stress": "stress",
              "magnetic_forces": "magnetic_forces"}
    for term, attribute in labels.items():
        weights = [getattr(cfg.loss, f"{term}_weight")]
        weights += [getattr(stage, f"{term}_weight", None) for stage in cfg.loss.stages]
        if not any(w for w in weights if w is not None):
            continue
        if labelled_frames(train, attribute):
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


def base_spec(cfg, species: SpeciesTable) -> ModelSpec:
    """The spec's species, cutoff and precision: all that graph building needs. The E0s
    and the architecture come with :func:`complete_spec`, once the graphs exist."""
    return ModelSpec(species.atomic_numbers, cfg.data.r_max, cfg.dtype)


def complete_spec(spec: ModelSpec, cfg, stats: DatasetStatistics) -> ModelSpec:
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
            # a key the stored spec lacks predates it: that run was built with its default
            default = ARCHITECTURE.get(name, "<unset>")
            requested[f"model.{name}"] = (stored.architecture.get(name, default), value)
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


def _costs(batch_by: str, frames: Frames, dataset: Dataset) -> np.ndarray:
    """Per-frame size in ``batch_by`` units, [N] (N = frames of ``frames``)."""
    if batch_by == "structures":
        return np.ones(len(frames), dtype=np.int64)
    if isinstance(frames, DiskFrames):
        return frames.per_frame("num_atoms" if batch_by == "atoms" else "num_edges")
    if batch_by == "atoms":
        return np.array([c.num_atoms for c in frames], dtype=np.int64)
    return np.array([g[keys.EDGE_INDEX].shape[1] for g in dataset.graphs], dtype=np.int64)


def train_batches(cfg, frames: Frames, dataset: Dataset, groups: Sequence[int],
                  batch: int, world: int, rank: int) -> Sampler:
    """Training batches of one rank (``batch``: its share of data.batch_size), shuffled
    per epoch and resumable mid-epoch through ``set_epoch(epoch, skip)``."""
    data = cfg.data
    if (data.batch_by == "structures" and data.train_weights is None
            and data.type_weights is None):
        # padded to a multiple of the world size: every rank takes the same number of steps
        return FixedBatches(ResumableSampler(dataset, world, rank, cfg.seed), batch)
    costs = _costs(data.batch_by, frames, dataset)
    if data.type_weights is not None:
        sizes, shares, grouped = type_groups(frames, data.type_weights)
        return PackedBatches(costs, batch, world, rank, cfg.seed, group_sizes=sizes,
                             weights=shares, grouped=grouped)
    if data.train_weights is not None:
        empty = [data.train[k] for k, size in enumerate(groups) if size == 0]
        if empty:
            raise DataError(f"{', '.join(map(str, empty))}: no training frame left (after "
                            "the validation split) for a positive data.train_weights entry")
    return PackedBatches(costs, batch, world, rank, cfg.seed, group_sizes=groups,
                         weights=data.train_weights)


def type_groups(frames: Frames, rates: Dict[str, float]
                ) -> Tuple[List[int], List[float], np.ndarray]:
    """The training frames grouped by config_type for ``data.type_weights``: group sizes,
    shares (rate × size; unlisted types rate 1) and the frame indices in group order."""
    types = config_types(frames)
    check_config_types(types, list(rates), "data.type_weights")
    names = sorted(set(types.tolist()))
    members = [np.flatnonzero(types == name) for name in names]
    sizes = [len(m) for m in members]
    shares = [float(rates.get(name, 1.0)) * size for name, size in zip(names, sizes)]
    return sizes, shares, np.concatenate(members)


def eval_batches(cfg, frames: Frames, dataset: Dataset, batch: int, world: int, rank: int,
                 indices: Optional[np.ndarray] = None) -> Sampler:
    """Evaluation batches of one rank, in order, every frame once over all ranks (no
    padding, so metric sums are exact)."""
    if cfg.data.batch_by == "structures":
        return FixedBatches(_Fixed(ShardSampler(dataset, world, rank)), batch)
    costs = _costs(cfg.data.batch_by, frames, dataset)
    if indices is not None:
        costs = costs[indices]
    return PackedBatches(costs, batch, world, rank, shuffle=False, pad=False)


class _Fixed:
    """A sampler whose order does not depend on the epoch."""

    def __init__(self, sampler: Sampler):
        self.sampler = sampler

    def set_epoch(self, epoch: int, start: int = 0) -> None:
        pass

    def __iter__(self):
        return iter(self.sampler)

    def __len__(self) -> int:
        return len(self.sampler)


def make_loader(dataset: Dataset, batches: Sampler, num_workers: int = 0) -> DataLoader:
    """Batches of graphs; ``batches`` yields lists of frame indices."""
    return DataLoader(dataset, batch_sampler=batches, collate_fn=collate,
                      num_workers=num_workers)


