"""``loss.config_type_weights``: a frame of a listed config_type weighs in the loss as if
its file gave it that ``config_weight`` (files and datasets on disk alike), the sampling is
left alone, and a type no training frame has is a config error."""

import json

import pytest
from ase.io import read, write

from mlip_gnn.config import ConfigError
from mlip_gnn.data.preprocess import PreprocessOptions, preprocess
from mlip_gnn.train import train
from mlip_gnn.train.splits import read_splits
from train_support import PairPotential, config_maker, write_tiny_cu

WEIGHT = 3.0


@pytest.fixture(scope="module")
def typed(tmp_path_factory):
    """The same frames three ways: typed bulk / strained; typed, with the strained frames'
    config_weight in the file; typed, on disk."""
    root = tmp_path_factory.mktemp("typed")
    frames = read(write_tiny_cu(root / "plain.xyz", n_frames=12), ":")
    for i, atoms in enumerate(frames):
        atoms.info["config_type"] = "strained" if i % 3 == 0 else "bulk"
    write(root / "typed.xyz", frames, format="extxyz")
    for atoms in frames:
        if atoms.info["config_type"] == "strained":
            atoms.info["config_weight"] = WEIGHT
    write(root / "weighted.xyz", frames, format="extxyz")
    preprocess([root / "typed.xyz"], root / "typed_ds", PreprocessOptions(r_max=4.0))
    return {name: root / name for name in ("typed.xyz", "weighted.xyz", "typed_ds")}


def _curve(source, tmp_path, name, **loss):
    make = config_maker(source, tmp_path)
    cfg = make(name, data={"train": [str(source)]}, loss=loss,
               train={"max_epochs": 3, "best_metric": "loss"})
    run_dir = train(cfg, model_factory=PairPotential).run_dir
    records = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    return [{k: v for k, v in r.items() if k != "epoch_time_s"} for r in records]


def _losses(curve):
    return [r[split]["loss"] for r in curve for split in ("train", "valid")]


def test_a_type_weight_is_the_config_weight_of_its_frames(typed, tmp_path):
    by_type = _curve(typed["typed.xyz"], tmp_path, "by_type",
                     config_type_weights={"strained": WEIGHT})
    in_file = _curve(typed["weighted.xyz"], tmp_path, "in_file")
    plain = _curve(typed["typed.xyz"], tmp_path, "plain")
    assert by_type == in_file  # same split, batches, weights: the same numbers
    assert _losses(by_type) != pytest.approx(_losses(plain), rel=1e-3)
    on_disk = _curve(typed["typed_ds"], tmp_path, "on_disk",
                     config_type_weights={"strained": WEIGHT})
    assert _losses(on_disk) == pytest.approx(_losses(by_type), rel=1e-10)


def test_a_zero_weight_takes_a_type_out_of_the_loss_not_out_of_the_epoch(typed, tmp_path):
    only_bulk = _curve(typed["typed.xyz"], tmp_path, "zero",
                       config_type_weights={"strained": 0.0})
    assert [r["step"] for r in only_bulk] == [r["step"] for r in
                                               _curve(typed["typed.xyz"], tmp_path, "all")]
    assert all(r["train"]["loss"] > 0.0 for r in only_bulk)


def test_unknown_or_negative_type_weights_are_config_errors(typed, tmp_path):
    make = config_maker(typed["typed.xyz"], tmp_path)
    for source in (typed["typed.xyz"], typed["typed_ds"]):  # before any graph is built
        cfg = make("x", data={"train": [str(source)]},
                   loss={"config_type_weights": {"strianed": 2.0}})
        with pytest.raises(ConfigError, match="loss.config_type_weights: no training frame "
                                              "has config_type 'strianed'.*'bulk', 'strained'"):
            read_splits(cfg)
    with pytest.raises(ConfigError, match="loss.config_type_weights: weights must be "
                                          "finite and >= 0"):
        make("y", loss={"config_type_weights": {"strained": -1.0}})
