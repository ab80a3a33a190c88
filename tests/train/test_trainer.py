"""End-to-end runs of ``train`` with the stand-in pair potential (float64, CPU)."""

import copy
import json
import logging
import math
import os
import signal

import pytest
import torch

from mlip_gnn.config import ConfigError
from mlip_gnn.data import GraphDataset, KeyMap, collate, keys, read_many
from mlip_gnn.modelio import load_checkpoint, model_from_checkpoint
from mlip_gnn.quantities import ErrorSums
from mlip_gnn.train import RunDirError, TrainingDiverged, train
from mlip_gnn.train.signals import StopRequest
from mlip_gnn.train.trainer import Trainer
from train_support import PairPotential, config_maker, write_tiny_cu


@pytest.fixture(scope="module")
def tiny_xyz(tmp_path_factory):
    return write_tiny_cu(tmp_path_factory.mktemp("data") / "cu.xyz")


@pytest.fixture
def make_config(tiny_xyz, tmp_path):
    return config_maker(tiny_xyz, tmp_path)


@pytest.fixture
def model_factory():
    """The stand-in model's builder (called with the stored builder kwargs)."""
    return PairPotential


def _records(run_dir):
    lines = (run_dir / "metrics.jsonl").read_text().splitlines()
    return [json.loads(line) for line in lines]


def _without_times(records):
    return [{k: v for k, v in r.items() if k != "epoch_time_s"} for r in records]


def test_training_lowers_the_loss_and_writes_the_run_dir(make_config, model_factory,
                                                         tiny_xyz):
    cfg = make_config(optim={"lr": 0.05, "scheduler": "none"}, train={"max_epochs": 5},
                      data={"test": [str(tiny_xyz)]},
                      output={"tensorboard": True, "progress": True})
    result = train(cfg, model_factory=model_factory)
    run_dir = result.run_dir
    records = _records(run_dir)
    assert [r["epoch"] for r in records] == list(range(5))
    assert records[-1]["train"]["loss"] < 0.7 * records[0]["train"]["loss"]
    assert records[-1]["valid"]["forces_rmse"] < records[0]["valid"]["forces_rmse"]
    for name in ("config.yaml", "last.pt", "last.prev.pt", "best.pt", "train.log"):
        assert (run_dir / name).is_file(), name
    assert list((run_dir / "tensorboard").glob("events.out.tfevents.*"))
    assert "epoch 4 (5/5)" in (run_dir / "train.log").read_text()
    best = load_checkpoint(run_dir / "best.pt")
    assert best["weights"] == ("ema" if cfg.optim.ema_decay else "raw")
    test = json.loads((run_dir / "test_metrics.json").read_text())
    assert test["units"]["forces"] == "meV/Å" and "forces_rmse" in test["metrics"]["all"]
    assert result.test_metrics["all"] == test["metrics"]["all"]
    model, spec, state = model_from_checkpoint(run_dir / "best.pt", model_factory)
    assert spec.r_max == cfg.data.r_max and spec.dtype == cfg.dtype
    assert state["epoch"] == result.best_epoch and state["model_spec"]["dtype"] == "float64"
    assert isinstance(state["model_spec"]["e0s"], dict)


def _errors(model, data_file, spec):
    """Errors of ``model`` on every frame of ``data_file``, computed here (not by the
    trainer) with the metrics implementation."""
    confs = read_many([data_file], KeyMap())
    dataset = GraphDataset(confs, spec.r_max, spec.species_table(), spec.torch_dtype)
    batch = collate([dataset[i] for i in range(len(dataset))])
    sums = ErrorSums()
    sums.update(model(batch, compute_forces=True, compute_stress=True), batch)
    return sums.compute()


def test_training_cuts_the_force_error_by_a_clear_factor(make_config, tiny_xyz):
    initial = []

    def factory(**kwargs):
        model = PairPotential(**kwargs)
        initial.append(copy.deepcopy(model))  # the weights before any step
        return model

    cfg = make_config(optim={"lr": 0.2, "scheduler": "none"}, train={"max_epochs": 5},
                      data={"test": [str(tiny_xyz)]})
    result = train(cfg, model_factory=factory)
    trained, spec, _ = model_from_checkpoint(result.run_dir / "best.pt", PairPotential)
    before = _errors(initial[0], tiny_xyz, spec)
    after = _errors(trained, tiny_xyz, spec)
    assert after["forces_rmse"] < 0.25 * before["forces_rmse"], (before, after)
    assert result.test_metrics["all"]["forces_rmse"] == pytest.approx(after["forces_rmse"])


def _interrupt_after(monkeypatch, n_steps, signum=signal.SIGUSR1):
    """Deliver a real signal to this process after ``n_steps`` optimiser steps."""
    original, calls = Trainer._step, []

    def step(self, batch):
        out = original(self, batch)
        calls.append(1)
        if len(calls) == n_steps:
            os.kill(os.getpid(), signum)
        return out

    monkeypatch.setattr(Trainer, "_step", step)


@pytest.mark.parametrize("stop_after", [4, 6])  # end of epoch 0; middle of epoch 1
def test_resume_after_interruption_is_bitwise_exact(make_config, model_factory, monkeypatch,
                                                    stop_after):
    sections = dict(optim={"scheduler": "plateau", "plateau_patience": 0, "ema_decay": 0.9},
                    loss={"stages": [{"epoch": 2, "forces_weight": 1.0, "lr": 0.02}]})
    reference = train(make_config("a", **sections), model_factory=model_factory)

    cfg = make_config("b", **sections)
    with monkeypatch.context() as patch:
        _interrupt_after(patch, stop_after)
        stopped = train(cfg, model_factory=model_factory)
    assert stopped.interrupted and stopped.stop_reason == "signal SIGUSR1"
    state = load_checkpoint(stopped.run_dir / "last.pt")
    assert state["loop"]["global_step"] == stop_after
    resumed = train(cfg, model_factory=model_factory)  # same config: automatic resume
    assert resumed.stop_reason == "max_epochs"

    assert _without_times(_records(resumed.run_dir)) == _without_times(_records(reference.run_dir))
    final = {name: load_checkpoint(run.run_dir / "last.pt") for name, run in
             (("a", reference), ("b", resumed))}
    optim_a, optim_b = final["a"]["optimizer"]["state"], final["b"]["optimizer"]["state"]
    for index, moments in optim_a.items():
        for name, value in moments.items():
            assert torch.equal(value, optim_b[index][name])
    assert final["a"]["lr_schedule"] == final["b"]["lr_schedule"]
    for name, tensor in final["a"]["model"].items():
        assert torch.equal(tensor, final["b"]["model"][name])
    for name, tensor in final["a"]["ema"]["shadow"].items():
        assert torch.equal(tensor, final["b"]["ema"]["shadow"][name])


def test_sigterm_mid_epoch_leaves_a_loadable_checkpoint(make_config, model_factory, monkeypatch):
    cfg = make_config()
    _interrupt_after(monkeypatch, 2, signal.SIGTERM)
    result = train(cfg, model_factory=model_factory)
    assert result.stop_reason == "signal SIGTERM" and result.epochs_done == 0
    loop = load_checkpoint(result.run_dir / "last.pt")["loop"]
    assert (loop["epoch"], loop["step_in_epoch"]) == (0, 2)
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL  # handler restored


def test_ctrl_c_checkpoints_like_sigterm_and_resumes_exactly(make_config, model_factory,
                                                            monkeypatch):
    reference = train(make_config("a"), model_factory=model_factory)
    cfg = make_config("b")
    # as in a terminal (a background job started by a script ignores SIGINT)
    before = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        with monkeypatch.context() as patch:
            _interrupt_after(patch, 3, signal.SIGINT)
            stopped = train(cfg, model_factory=model_factory)
        assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # restored
    finally:
        signal.signal(signal.SIGINT, before)
    assert stopped.stop_reason == "signal SIGINT"
    assert load_checkpoint(stopped.run_dir / "last.pt")["loop"]["global_step"] == 3
    resumed = train(cfg, model_factory=model_factory)
    assert _without_times(_records(resumed.run_dir)) == _without_times(_records(reference.run_dir))


def test_a_second_ctrl_c_aborts_without_waiting():
    with StopRequest(signals=()) as stop:
        stop.request(signal.SIGINT)
        assert stop.requested
        with pytest.raises(KeyboardInterrupt):
            stop.request(signal.SIGINT)


def test_an_ignored_ctrl_c_stays_ignored():
    """A job started in the background by a script ignores SIGINT; training keeps that."""
    before = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        with StopRequest():
            assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
    finally:
        signal.signal(signal.SIGINT, before)


def test_stage_switch_changes_weights_and_lr_at_its_epoch(make_config, model_factory):
    cfg = make_config(optim={"scheduler": "none", "lr": 0.01},
                      loss={"stages": [{"epoch": 2, "forces_weight": 1.0, "lr": 0.001}]})
    records = _records(train(cfg, model_factory=model_factory).run_dir)
    assert [r["loss_weights"]["forces"] for r in records] == [10.0, 10.0, 1.0, 1.0]
    assert [r["lr"] for r in records] == [0.01, 0.01, 0.001, 0.001]


def test_best_model_is_chosen_within_the_last_stage(make_config, model_factory):
    """A second stage changes the objective (here the loss scale grows 1000-fold); the best
    model must still come from it, not from the first stage."""
    cfg = make_config(optim={"scheduler": "none", "lr": 0.05},
                      train={"max_epochs": 4, "best_metric": "loss"},
                      loss={"stages": [{"epoch": 2, "energy_weight": 1000.0,
                                        "forces_weight": 1000.0}]})
    result = train(cfg, model_factory=model_factory)
    assert result.best_epoch >= 2
    assert load_checkpoint(result.run_dir / "best.pt")["epoch"] >= 2


@pytest.mark.parametrize("metric, expected", [("loss", 0), ("last", 3)])
def test_best_metric_last_keeps_the_latest_model(make_config, model_factory, monkeypatch,
                                                 metric, expected):
    """best_metric: last — the end of a fixed schedule is the model, whatever the
    validation noise says. Here the validation loss grows every epoch: `loss` keeps
    epoch 0, `last` the last epoch."""
    original = Trainer.evaluate
    growing = iter(range(1, 100))

    def worse_each_time(self, loader, use_ema=True):
        return {**original(self, loader, use_ema), "loss": float(next(growing))}

    monkeypatch.setattr(Trainer, "evaluate", worse_each_time)
    cfg = make_config(optim={"scheduler": "cosine", "lr": 0.05},
                      train={"max_epochs": 4, "best_metric": metric})
    result = train(cfg, model_factory=model_factory)
    assert result.best_epoch == expected
    assert load_checkpoint(result.run_dir / "best.pt")["epoch"] == expected


class _NaNOnSomeSteps(torch.nn.Module):
    """Wraps the stand-in; training calls number ``bad`` return a NaN energy."""

    def __init__(self, inner, bad):
        super().__init__()
        self.inner, self.bad, self.calls = inner, set(bad), 0

    def forward(self, data, compute_forces=True, compute_stress=False, training=False):
        out = self.inner(data, compute_forces, compute_stress, training)
        if training:
            self.calls += 1
            if self.calls in self.bad:
                out[keys.TOTAL_ENERGY] = out[keys.TOTAL_ENERGY] * math.nan
        return out


def test_nan_steps_are_skipped_counted_and_stop_the_run(make_config, model_factory, caplog):
    def factory(**kwargs):
        return _NaNOnSomeSteps(model_factory(**kwargs), bad={2, 5})

    with caplog.at_level(logging.WARNING):
        result = train(make_config(train={"max_epochs": 2}), model_factory=factory)
    records = _records(result.run_dir)
    assert [r["bad_steps"] for r in records] == [1, 2]
    assert "step skipped (1 of at most 10)" in caplog.text
    weights = load_checkpoint(result.run_dir / "last.pt")["model"]
    assert all(torch.isfinite(w).all() for w in weights.values())

    def always_bad(**kwargs):
        return _NaNOnSomeSteps(model_factory(**kwargs), bad=range(100))

    with pytest.raises(TrainingDiverged, match="max_bad_steps = 2"):
        train(make_config("c", train={"max_bad_steps": 2}), model_factory=always_bad)


def test_changed_config_in_same_run_dir_needs_explicit_resume(make_config, model_factory):
    first = train(make_config(train={"max_epochs": 2}), model_factory=model_factory)
    longer = make_config(train={"max_epochs": 3})
    with pytest.raises(RunDirError, match=r"train.max_epochs: 2 -> 3.*--resume"):
        train(longer, model_factory=model_factory)
    result = train(longer, resume=str(first.run_dir), model_factory=model_factory)
    assert [r["epoch"] for r in _records(result.run_dir)] == [0, 1, 2]


def test_explicit_resume_applies_changed_loss_weights_and_lr(make_config, model_factory):
    first = train(make_config(train={"max_epochs": 2}, optim={"scheduler": "none"}),
                  model_factory=model_factory)
    changed = make_config(train={"max_epochs": 3}, optim={"scheduler": "none", "lr": 0.002},
                          loss={"forces_weight": 3.0})
    result = train(changed, resume=str(first.run_dir), model_factory=model_factory)
    last = _records(result.run_dir)[-1]
    assert last["loss_weights"]["forces"] == 3.0 and last["lr"] == 0.002


def test_corrupted_last_checkpoint_falls_back_to_previous(make_config, model_factory, caplog):
    cfg = make_config(train={"max_epochs": 2})
    run_dir = train(cfg, model_factory=model_factory).run_dir
    last = run_dir / "last.pt"
    last.write_bytes(last.read_bytes()[: last.stat().st_size // 3])
    with caplog.at_level(logging.WARNING):
        result = train(cfg, model_factory=model_factory)
    assert "last.pt is unreadable" in caplog.text
    assert "resuming from the previous checkpoint" in caplog.text
    assert [r["epoch"] for r in _records(result.run_dir)] == [0, 1]  # epoch 1 redone


def test_time_limit_checkpoints_stops_and_scores_the_test_set(make_config, model_factory,
                                                              tiny_xyz):
    cfg = make_config(train={"max_time_minutes": 1e-6}, data={"test": [str(tiny_xyz)]})
    result = train(cfg, model_factory=model_factory)
    assert result.stop_reason == "time limit"
    assert load_checkpoint(result.run_dir / "last.pt")["loop"]["global_step"] == 1
    assert result.test_metrics["all"]["forces_rmse"] > 0  # the spent budget ends the run
    assert (result.run_dir / "test_metrics.json").exists()


def test_best_metric_without_labels_is_a_config_error(make_config, model_factory):
    cfg = make_config(data={"keys": {"stress": None, "virial": None}},
                      loss={"stress_weight": 0.0}, train={"best_metric": "stress_mae"})
    with pytest.raises(ConfigError, match="train.best_metric"):
        train(cfg, model_factory=model_factory)
