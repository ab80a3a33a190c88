"""From a config to data sets, loaders, dataset statistics and model builder arguments."""

from __future__ import annotations

import dataclasses
import logging
from typing import Any, Callable, Dict, List, Mapping, Optional

import numpy as np
from ase.data import atomic_numbers as ATOMIC_NUMBERS
from torch import nn
from torch.utils.data import DataLoader, DistributedSampler, Sampler

from mlip_gnn.data import (Configuration, DataError, GraphDataset, KeyMap, SpeciesTable,
                           average_num_neighbours, collate, force_rms,
                           interaction_energy_per_atom, read_many, reference_energies)

__all__ = ["DataSplits", "read_splits", "split_train_valid", "e0_method", "model_kwargs",
           "build_model_from_kwargs", "ResumableSampler", "ShardSampler", "make_loader"]

_log = logging.getLogger(__name__)
ModelFactory = Callable[..., nn.Module]


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
    _check_labels(cfg, train)
    return DataSplits(train, valid, test)


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


def model_kwargs(cfg, train: List[Configuration], species: SpeciesTable,
                 train_graphs) -> Dict[str, Any]:
    """Builder arguments as plain python values (``torch.load(weights_only=True)``-safe;
    the dtype is a string), with the ``auto`` statistics computed on ``train``."""
    m = cfg.model
    e0s = reference_energies(train, species, e0_method(cfg.data.e0s))
    return {
        "species": list(species.atomic_numbers),
        "r_max": float(cfg.data.r_max),
        "e0s": {int(z): float(e) for z, e in e0s.items()},
        "avg_num_neighbors": _auto(m.avg_num_neighbors,
                                   lambda: average_num_neighbours(train_graphs)),
        "scale": _auto(m.scale, lambda: _scale(train)),
        "shift": _auto(m.shift, lambda: _shift(train, species, e0s, cfg.data.e0s)),
        "num_layers": m.num_layers, "num_channels": m.num_channels, "max_ell": m.max_ell,
        "hidden_ell": m.hidden_ell, "correlation": m.correlation, "num_bessel": m.num_bessel,
        "envelope_p": m.envelope_p, "radial_mlp": list(m.radial_mlp), "zbl": bool(m.zbl),
        "dtype": cfg.dtype,
    }


def build_model_from_kwargs(kwargs: Mapping[str, Any],
                            factory: Optional[ModelFactory] = None) -> nn.Module:
    """Call the model factory (default :func:`mlip_gnn.model.build_model`) with stored
    builder arguments (plain python values; ``dtype`` is ``"float32"`` or ``"float64"``)."""
    if factory is None:
        from mlip_gnn.model import build_model as factory
    return factory(**kwargs)


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


