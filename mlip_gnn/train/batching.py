"""Batch samplers that can start part-way into an epoch: fixed frame counts, or packing
by a budget of atoms or edges, with datasets mixed by weight.

Every training batch sampler has ``set_epoch(epoch, skip)``: the epoch's batches are a
function of (seed, epoch), so a run resumed after ``skip`` steps sees exactly the batches
it would have seen.
"""

from __future__ import annotations

from typing import Dict, Iterator, List, Sequence, Tuple

import numpy as np
from torch.utils.data import DataLoader, Dataset, DistributedSampler, Sampler

from mlip_gnn.config import Config
from mlip_gnn.data import DataError, DiskFrames, collate, keys
from mlip_gnn.train.splits import Frames, check_config_types, config_types

__all__ = ["FixedBatches", "PackedBatches", "epoch_order", "pack", "ResumableSampler",
           "ShardSampler", "train_batches", "eval_batches", "type_groups", "make_loader"]


class FixedBatches(Sampler):
    """``batch_size`` consecutive indices of a resumable sampler (one with
    ``set_epoch(epoch, start)``), the last batch possibly shorter."""

    def __init__(self, sampler, batch_size: int):
        self.sampler, self.batch_size = sampler, batch_size

    def set_epoch(self, epoch: int, skip: int = 0) -> None:
        """Select the epoch's order and skip its first ``skip`` batches."""
        self.sampler.set_epoch(epoch, start=skip * self.batch_size)

    def __iter__(self) -> Iterator[List[int]]:
        indices = list(self.sampler)
        for lo in range(0, len(indices), self.batch_size):
            yield indices[lo:lo + self.batch_size]

    def __len__(self) -> int:
        return -(-len(self.sampler) // self.batch_size)


def epoch_order(group_sizes: Sequence[int], weights: Sequence[float] | None,
                rng: np.random.Generator, shuffle: bool = True) -> np.ndarray:
    """Indices (into the concatenation of the groups) of one epoch.

    Without ``weights``: every frame once. With ``weights``: the epoch keeps the total
    number of frames, and group k fills the share ``w_k / Σ w`` of it, drawn without
    repetition until the group is exhausted and then from a fresh permutation of it.
    """
    sizes = np.asarray(group_sizes, dtype=np.int64)
    total = int(sizes.sum())
    if weights is None:
        return rng.permutation(total) if shuffle else np.arange(total)
    w = np.asarray(weights, dtype=np.float64)
    shares = np.floor(total * w / w.sum()).astype(np.int64)
    shares[: total - int(shares.sum())] += 1  # distribute the remainder, first groups first
    starts = np.concatenate([[0], np.cumsum(sizes)])
    parts = []
    for start, size, share in zip(starts, sizes, shares):
        cycles = -(-int(share) // int(size))
        drawn = np.concatenate([rng.permutation(size) for _ in range(cycles)])[:share]
        parts.append(start + drawn)
    order = np.concatenate(parts)
    return order[rng.permutation(len(order))] if shuffle else order


def pack(order: np.ndarray, costs: np.ndarray, budget: int) -> List[np.ndarray]:
    """Consecutive runs of ``order`` whose summed ``costs`` stay within ``budget``; a
    frame that alone exceeds it is a batch of its own."""
    batches: List[np.ndarray] = []
    start, used = 0, 0
    for position, cost in enumerate(costs[order].tolist()):
        if used + cost > budget and position > start:
            batches.append(order[start:position])
            start, used = position, 0
        used += cost
    if len(order) > start:
        batches.append(order[start:])
    return batches


class PackedBatches(Sampler):
    """Batches packed to a budget (``costs``: atoms, edges or 1 per frame), dealt to the
    ranks in turn.

    Training (``pad``): the batch list is padded by repeating its first batches until
    every rank has the same number of steps. Evaluation (no ``pad``, no shuffle): every
    frame exactly once over all ranks. ``group_sizes`` and ``weights`` mix groups by
    share (:func:`epoch_order`); the groups are consecutive frames, or consecutive entries
    of ``grouped`` (frame indices) when given.
    """

    def __init__(self, costs: np.ndarray, budget: int, num_replicas: int = 1, rank: int = 0,
                 seed: int = 0, shuffle: bool = True, pad: bool = True,
                 group_sizes: Sequence[int] | None = None,
                 weights: Sequence[float] | None = None,
                 grouped: np.ndarray | None = None):
        self.costs = np.asarray(costs, dtype=np.int64)
        self.budget, self.num_replicas, self.rank = int(budget), num_replicas, rank
        self.seed, self.shuffle, self.pad = seed, shuffle, pad
        self.group_sizes = list(group_sizes) if group_sizes is not None else [len(self.costs)]
        if sum(self.group_sizes) != len(self.costs):
            raise ValueError(f"group sizes {self.group_sizes} do not add up to the "
                             f"{len(self.costs)} frames")
        self.weights = weights
        # frame indices in group order, when the groups are not contiguous in the frames
        self.grouped = None if grouped is None else np.asarray(grouped, dtype=np.int64)
        self.epoch, self.skip = 0, 0
        self._batches: List[np.ndarray] | None = None

    def set_epoch(self, epoch: int, skip: int = 0) -> None:
        """Select the epoch's batches and skip its first ``skip``."""
        self.epoch, self.skip, self._batches = epoch, skip, None

    def _mine(self) -> List[np.ndarray]:
        if self._batches is None:
            rng = np.random.default_rng([self.seed, self.epoch])
            order = epoch_order(self.group_sizes, self.weights, rng, self.shuffle)
            if self.grouped is not None:
                order = self.grouped[order]
            batches = pack(order, self.costs, self.budget)
            if self.pad and len(batches) % self.num_replicas:
                extra = self.num_replicas - len(batches) % self.num_replicas
                batches += [batches[i % len(batches)] for i in range(extra)]
            self._batches = batches[self.rank::self.num_replicas]
        return self._batches[self.skip:]

    def __iter__(self) -> Iterator[List[int]]:
        for batch in self._mine():
            yield batch.tolist()

    def __len__(self) -> int:
        return len(self._mine())


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


def train_batches(cfg: Config, frames: Frames, dataset: Dataset, groups: Sequence[int],
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


def eval_batches(cfg: Config, frames: Frames, dataset: Dataset, batch: int, world: int, rank: int,
                 indices: np.ndarray | None = None) -> Sampler:
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
