"""Training from preprocessed datasets: same curve as from files, packed batches, mixing."""

import json
import os
import signal
from types import SimpleNamespace

import numpy as np
import pytest

from mlip_gnn.config import ConfigError
from mlip_gnn.data.preprocess import PreprocessOptions, preprocess
from mlip_gnn.train import train
from mlip_gnn.train.batching import PackedBatches, epoch_order, pack
from mlip_gnn.train.batching import train_batches
from mlip_gnn.train.splits import read_splits
from mlip_gnn.train.trainer import Trainer
from train_support import PairPotential, config_maker, write_tiny_cu


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("data")
    files = {name: write_tiny_cu(root / f"{name}.xyz", n, seed)
             for name, n, seed in (("train", 10, 0), ("valid", 3, 1), ("test", 3, 2))}
    dirs = {}
    for name, path in files.items():
        dirs[name] = root / f"{name}_ds"
        preprocess([path], dirs[name], PreprocessOptions(r_max=4.0, shard_size=3))
    return files, dirs


def _curve(run_dir):
    records = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    return [{k: v for k, v in r.items() if k != "epoch_time_s"} for r in records]


def _run(tmp_path, sources, name, **data):
    make = config_maker(sources["train"], tmp_path)
    cfg = make(name, data={"train": [str(sources["train"])], "valid": [str(sources["valid"])],
                           "test": [str(sources["test"])], **data},
               train={"max_epochs": 3, "best_metric": "forces_rmse"})
    return train(cfg, model_factory=PairPotential)


def _assert_same_curve(a, b):
    """Same records (float64: to round-off of the statistics summed in another order)."""
    assert [r.keys() for r in a] == [r.keys() for r in b]
    for ra, rb in zip(a, b):
        for key, value in ra.items():
            assert rb[key] == pytest.approx(value, rel=1e-10, abs=1e-14), key


@pytest.mark.parametrize("batching", [{}, {"batch_by": "atoms", "batch_size": 12},
                                      {"batch_by": "edges", "batch_size": 400},
                                      {"type_weights": {"default": 2.0}}])
def test_on_disk_training_curve_equals_in_memory(data, tmp_path, batching):
    files, dirs = data
    memory = _run(tmp_path, files, "memory", **batching)
    disk = _run(tmp_path, dirs, "disk", **batching)
    a, b = _curve(memory.run_dir), _curve(disk.run_dir)
    assert len(a) == 3
    _assert_same_curve(a, b)
    assert disk.test_metrics["all"] == pytest.approx(memory.test_metrics["all"], rel=1e-10)


def test_packed_batches_respect_the_budget_and_cover_the_epoch():
    rng = np.random.default_rng(0)
    costs = rng.integers(1, 40, 200)
    for world in (1, 3):
        seen = []
        for rank in range(world):
            sampler = PackedBatches(costs, 64, world, rank, seed=5)
            sampler.set_epoch(2)
            batches = list(sampler)
            assert all(costs[b].sum() <= 64 for b in batches)
            first = PackedBatches(costs, 64, world, 0, seed=5)
            first.set_epoch(2)
            assert len(batches) == len(first)  # every rank takes the same number of steps
            seen += [i for b in batches for i in b]
        assert set(seen) == set(range(200))  # padding repeats batches, never drops frames
    single = pack(np.arange(3), np.array([100, 5, 5]), 64)
    assert [b.tolist() for b in single] == [[0], [1, 2]]  # an oversize frame stands alone


def test_packed_batches_skip_resumes_the_same_epoch():
    costs = np.arange(1, 50)
    full = PackedBatches(costs, 60, seed=3)
    full.set_epoch(4)
    resumed = PackedBatches(costs, 60, seed=3)
    resumed.set_epoch(4, skip=3)
    assert list(resumed) == list(full)[3:]
    full.set_epoch(5)
    assert list(full) != list(resumed)  # another epoch, another order


def test_weights_set_each_entry_share_of_an_epoch():
    rng = np.random.default_rng(1)
    order = epoch_order([10, 90], [3.0, 1.0], rng)
    assert len(order) == 100
    small = order[order < 10]
    assert len(small) == 75  # 3/4 of the epoch from 10 frames: each seen 7 or 8 times
    counts = np.bincount(small, minlength=10)
    assert counts.min() == 7 and counts.max() == 8
    assert len(order[order >= 10]) == 25 and len(set(order[order >= 10])) == 25


def test_type_weights_draw_the_frames_of_a_config_type_more_often(data, tmp_path):
    files, _ = data
    make = config_maker(files["train"], tmp_path)
    cfg = make("t", data={"type_weights": {"slab": 4.0}})
    # 30 bulk frames and 6 slabs among them: shares 30 : 4 x 6 of a 36-frame epoch
    kinds = ["slab" if i % 6 == 2 else "bulk" for i in range(36)]
    frames = [SimpleNamespace(config_type=kind) for kind in kinds]
    sampler = train_batches(cfg, frames, None, [36], 5, 1, 0)
    slabs = {i for i, kind in enumerate(kinds) if kind == "slab"}
    for epoch in range(3):
        sampler.set_epoch(epoch)
        drawn = [i for batch in sampler for i in batch]
        assert len(drawn) == 36
        per_slab = np.bincount(drawn, minlength=36)[sorted(slabs)]
        assert per_slab.sum() == 16  # floor(36 · 24 / 54)
        assert sorted(per_slab) == [2, 2, 3, 3, 3, 3]  # each 2-3 times
        bulk = [i for i in drawn if i not in slabs]
        assert len(bulk) == 20 and len(set(bulk)) == 20  # bulk frames at most once


def test_type_weights_name_only_types_the_training_frames_have(data, tmp_path):
    files, dirs = data
    make = config_maker(files["train"], tmp_path)
    frames = [SimpleNamespace(config_type=kind) for kind in ("bulk", "slab", "bulk")]
    cfg = make("u", data={"type_weights": {"slb": 2.0}})
    with pytest.raises(ConfigError, match="data.type_weights: no training frame has "
                                          "config_type 'slb'.*'bulk', 'slab'"):
        train_batches(cfg, frames, None, [3], 2, 1, 0)
    for source in (files["train"], dirs["train"]):  # caught on reading, before any graph
        cfg = make("x", data={"train": [str(source)], "type_weights": {"slab": 2.0}})
        with pytest.raises(ConfigError, match="no training frame has config_type 'slab'"):
            read_splits(cfg)
    with pytest.raises(ConfigError, match="data.type_weights: cannot be combined with "
                                          "data.train_weights"):
        make("v", data={"type_weights": {"slab": 2.0}, "train_weights": [1.0]})
    with pytest.raises(ConfigError, match="data.type_weights: rates must be > 0"):
        make("w", data={"type_weights": {"slab": 0.0}})


def test_mixed_weighted_training_resumes_exactly_mid_epoch(data, tmp_path, monkeypatch):
    files, dirs = data
    mix = {"train": [str(dirs["train"]), str(dirs["valid"])], "train_weights": [1.0, 2.0],
           "batch_by": "atoms", "batch_size": 16}
    reference = _run(tmp_path, dirs, "a", **mix)
    original, calls = Trainer._step, []

    def step(self, batch):
        out = original(self, batch)
        calls.append(1)
        if len(calls) == 5:
            os.kill(os.getpid(), signal.SIGUSR1)
        return out

    with monkeypatch.context() as patch:
        patch.setattr(Trainer, "_step", step)
        stopped = _run(tmp_path, dirs, "b", **mix)
    assert stopped.interrupted
    resumed = _run(tmp_path, dirs, "b", **mix)
    assert _curve(resumed.run_dir) == _curve(reference.run_dir)


def test_valid_split_off_a_dataset_equals_the_split_of_the_file(data, tmp_path):
    files, dirs = data
    runs = {}
    for name, source in (("memory", files), ("disk", dirs)):
        make = config_maker(source["train"], tmp_path)
        cfg = make(name, data={"train": [str(source["train"]), str(source["test"])],
                               "valid_fraction": 0.3, "train_weights": [2.0, 1.0]},
                   train={"max_epochs": 2, "best_metric": "forces_rmse"})
        runs[name] = train(cfg, model_factory=PairPotential)
    a, b = _curve(runs["memory"].run_dir), _curve(runs["disk"].run_dir)
    assert len(a) == 2
    _assert_same_curve(a, b)


def test_bad_weights_are_config_errors(data, tmp_path):
    files, dirs = data
    make = config_maker(dirs["train"], tmp_path)
    with pytest.raises(ConfigError, match=r"data.train_weights: got 2 weight\(s\) for 1"):
        make("y", data={"train_weights": [1.0, 2.0]})


def test_replay_with_a_dataset_on_disk_points_to_train_weights(data, tmp_path):
    from mlip_gnn.train.splits import read_splits

    files, dirs = data
    cfg = config_maker(dirs["train"], tmp_path)(
        "z", data={"valid": [str(dirs["valid"])]}, model={"init_from": str(tmp_path / "old")},
        finetune={"replay": [str(files["test"])]})
    with pytest.raises(ConfigError, match="finetune.replay: not available with a "
                                          "preprocessed data.train.*data.train_weights"):
        read_splits(cfg)
