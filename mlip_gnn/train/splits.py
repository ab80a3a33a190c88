"""Reading a run's data: train / valid / test frames (files into memory, preprocessed
dataset directories opened on disk), the validation split, fine-tuning's replayed frames,
and what the rest of training asks of the frames (species, config types, graphs,
statistics)."""

from __future__ import annotations

import dataclasses
import logging
from collections import Counter
from pathlib import Path
from typing import Dict, List, Mapping, Sequence, Tuple

import numpy as np
from torch.utils.data import Dataset

from mlip_gnn.config import Config, ConfigError
from mlip_gnn.data import (Configuration, DataError, DatasetStatistics, DiskFrames,
                           DiskGraphDataset, GraphDataset, KeyMap, SpeciesTable, is_dataset_dir,
                           keys, read_configurations)
from mlip_gnn.data.ondisk import check_r_max
from mlip_gnn.modelio import ModelSpec

__all__ = ["DataSplits", "Frames", "read_frames", "read_splits", "split_train_valid",
           "labelled_frames", "train_species", "train_statistics", "graph_dataset",
           "config_types", "check_config_types", "test_groups", "replay_frames", "run_key_map"]

_log = logging.getLogger(__name__)

#: frames of a split: read into memory (files), or opened on disk (dataset directories)
Frames = List[Configuration] | DiskFrames


@dataclasses.dataclass
class DataSplits:
    """The frames of a run's three splits, and how many training frames each
    ``data.train`` entry (and the replay) contributed."""

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


def read_splits(cfg: Config) -> DataSplits:
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


def run_key_map(cfg: Config) -> KeyMap:
    """The config's label names; moments (and their derivatives) are read, and then
    required in every frame, only for a spin model; per-atom charge labels only for a
    latent-charge model."""
    key_map = KeyMap(**dataclasses.asdict(cfg.data.keys))
    if cfg.model.spin == "none":
        key_map = dataclasses.replace(key_map, magmoms=None, magnetic_forces=None)
    if cfg.model.long_range.electrostatics == "none":
        key_map = dataclasses.replace(key_map, charges=None)
    return key_map


def labelled_frames(frames: Frames, label: str) -> int:
    """Number of frames carrying ``label`` (a :class:`Configuration` attribute: energy,
    forces, stress, atomic_charges ...); a preprocessed dataset's stored counts where it
    has them."""
    if isinstance(frames, DiskFrames):
        counts = frames.statistics().labelled
        if label in counts:
            return counts[label]
    return sum(getattr(conf, label) is not None for conf in frames)


def train_species(frames: Frames) -> SpeciesTable:
    """The elements of the training frames, as the model's species table."""
    if isinstance(frames, DiskFrames):
        return SpeciesTable(frames.statistics().zs)
    return SpeciesTable.from_configurations(frames)


def graph_dataset(frames: Frames, spec: ModelSpec, indices: np.ndarray | None = None,
                  type_weights: Mapping[str, float] | None = None) -> Dataset:
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


def test_groups(frames: Frames) -> Dict[str, np.ndarray | None]:
    """Indices of every config type (``all``: None), when there is more than one."""
    types = config_types(frames)
    groups: Dict[str, np.ndarray | None] = {"all": None}
    names = sorted(set(types.tolist()))
    if len(names) > 1:
        groups.update({name: np.flatnonzero(types == name) for name in names})
    return groups


def _with_replay(cfg: Config, train: Frames, groups: List[int], key_map: KeyMap):
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


def _check_labels(cfg: Config, train: Frames) -> None:
    """A loss term with a positive weight (at the start or in a stage) needs at least one
    training frame with its label; frames without it are masked out of that term."""
    labels = {"energy": "energy", "forces": "forces", "stress": "stress",
              "magnetic_forces": "magnetic_forces", "charges": "atomic_charges"}
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
