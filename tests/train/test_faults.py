"""Faults of a single-process run: SIGKILL, damaged checkpoints, an unusable or full
output directory."""

import errno
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from mlip_gnn.cli.main import main
from mlip_gnn.config import load_config
from mlip_gnn.modelio import load_checkpoint
from mlip_gnn.train import RunDirError, train
from mlip_gnn.train import checkpoint as checkpoint_module
from mlip_gnn.train import monitor as monitor_module
from train_support import PairPotential, config_maker, write_tiny_cu


@pytest.fixture(scope="module")
def tiny_xyz(tmp_path_factory):
    return write_tiny_cu(tmp_path_factory.mktemp("faults-data") / "cu.xyz", n_frames=10)


@pytest.fixture
def make_config(tiny_xyz, tmp_path):
    return config_maker(tiny_xyz, tmp_path)


def _records(run_dir):
    return [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]


def _without_times(records):
    return [{k: v for k, v in r.items() if k != "epoch_time_s"} for r in records]


def _real_model_config(path, data, run_dir, epochs):
    """A tiny real model (the CLI builds it; no stand-in in a subprocess)."""
    path.write_text(yaml.safe_dump({
        "seed": 2, "device": "cpu", "dtype": "float64",
        "data": {"train": str(data), "r_max": 3.0, "batch_size": 2, "valid_fraction": 0.2},
        "model": {"num_layers": 1, "num_channels": 4, "max_ell": 1, "hidden_ell": 0,
                  "correlation": 1, "num_bessel": 4, "radial_mlp": [8]},
        "train": {"max_epochs": epochs},
        "output": {"run_dir": str(run_dir), "tensorboard": False, "progress": False}}))
    return path


def test_sigkill_loses_only_the_work_since_the_last_checkpoint(tiny_xyz, tmp_path):
    epochs = 12
    killed = _real_model_config(tmp_path / "a.yaml", tiny_xyz, tmp_path / "killed", epochs)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    last = tmp_path / "killed" / "last.pt"
    with subprocess.Popen([sys.executable, "-m", "mlip_gnn", "train", str(killed)],
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env) as proc:
        deadline = time.monotonic() + 120
        while not last.exists() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.01)
        proc.send_signal(signal.SIGKILL)  # kill -9 once the first checkpoint exists
        _, err = proc.communicate(timeout=30)
    assert proc.returncode == -signal.SIGKILL, err.decode()[-2000:]
    assert len(_records(tmp_path / "killed")) < epochs  # really stopped part-way
    # the same command again resumes from the newest good checkpoint and finishes
    train(load_config(killed))
    reference = train(load_config(_real_model_config(tmp_path / "b.yaml", tiny_xyz,
                                                     tmp_path / "whole", epochs)))
    resumed, whole = _records(tmp_path / "killed"), _records(reference.run_dir)
    assert [r["epoch"] for r in resumed] == list(range(epochs))
    for a, b in zip(_without_times(resumed), _without_times(whole)):
        assert a["train"] == pytest.approx(b["train"], rel=1e-9, abs=1e-12)
        assert a["valid"] == pytest.approx(b["valid"], rel=1e-9, abs=1e-12)


def test_ctrl_c_in_the_cli_writes_a_checkpoint_and_exits_130(tiny_xyz, tmp_path):
    config = _real_model_config(tmp_path / "a.yaml", tiny_xyz, tmp_path / "run", 200)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    metrics = tmp_path / "run" / "metrics.jsonl"
    # the child gets Ctrl-C as in a terminal, even when this process ignores SIGINT
    with subprocess.Popen([sys.executable, "-m", "mlip_gnn", "train", str(config)],
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env,
                          preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL)
                          ) as proc:
        deadline = time.monotonic() + 120
        while not (metrics.exists() and metrics.stat().st_size) and proc.poll() is None \
                and time.monotonic() < deadline:
            time.sleep(0.01)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err.decode()[-2000:]
    assert "writing a checkpoint" in err.decode()
    loop = load_checkpoint(tmp_path / "run" / "last.pt")["loop"]
    assert 1 <= loop["global_step"] < 200 * 4


def test_truncated_last_checkpoint_falls_back_to_the_previous(make_config, caplog):
    cfg = make_config(train={"max_epochs": 2})
    result = train(cfg, model_factory=PairPotential)
    last = result.run_dir / "last.pt"
    last.write_bytes(last.read_bytes()[: last.stat().st_size // 2])
    more = make_config(train={"max_epochs": 3})
    resumed = train(more, resume=str(result.run_dir), model_factory=PairPotential)
    assert "unreadable (truncated or corrupted)" in caplog.text
    assert "resuming from the previous checkpoint" in caplog.text
    assert resumed.epochs_done == 3
    assert [r["epoch"] for r in _records(result.run_dir)] == [0, 1, 2]


def test_run_dir_under_a_regular_file_is_reported_before_training(make_config, tmp_path,
                                                                  capsys):
    blocker = tmp_path / "a_file"
    blocker.write_text("not a directory")
    cfg = make_config(output={"run_dir": str(blocker / "run")})
    with pytest.raises(RunDirError, match="a_file/run is not writable"):
        train(cfg, model_factory=PairPotential)
    assert blocker.read_text() == "not a directory"


def test_full_disk_before_training_is_a_clear_error(make_config, monkeypatch, capsys):
    monkeypatch.setattr(checkpoint_module.shutil, "disk_usage",
                        lambda path: type("Usage", (), {"free": 1024})())
    cfg = make_config()
    with pytest.raises(RunDirError, match="MiB free"):
        train(cfg, model_factory=PairPotential)
    assert not (cfg.output.run_dir and os.path.exists(cfg.output.run_dir))  # nothing left


def test_full_disk_during_training_keeps_the_last_good_checkpoint(make_config, monkeypatch):
    save, calls = checkpoint_module.torch.save, []

    def save_until_full(obj, handle, *args, **kwargs):
        calls.append(1)
        if len(calls) == 3:  # epoch 0 writes best.pt and last.pt; epoch 1's best.pt fails
            handle.write(b"partial")
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return save(obj, handle, *args, **kwargs)

    monkeypatch.setattr(checkpoint_module.torch, "save", save_until_full)
    cfg = make_config(optim={"lr": 0.05, "scheduler": "none"})
    with pytest.raises(RunDirError, match="No space left on device.*intact"):
        train(cfg, model_factory=PairPotential)
    run_dir = cfg.output.run_dir
    names = sorted(os.listdir(run_dir))
    assert not [n for n in names if n.endswith(".tmp")], names  # no partial file left
    assert load_checkpoint(os.path.join(run_dir, "last.pt"))["epoch"] == 1
    assert load_checkpoint(os.path.join(run_dir, "best.pt"))["epoch"] == 0


def test_full_disk_while_appending_metrics_is_a_clear_error_and_resumes(make_config,
                                                                         monkeypatch):
    real_open, calls = open, []

    class FullDisk:
        def __init__(self, handle):
            self.handle = handle

        def __enter__(self):
            return self

        def write(self, text):
            self.handle.write(text[: len(text) // 2])  # half a line reaches the disk
            self.handle.flush()
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

        def __exit__(self, *exc):
            self.handle.close()

    def open_until_full(path, mode="r", *args, **kwargs):
        handle = real_open(path, mode, *args, **kwargs)
        if str(path).endswith("metrics.jsonl") and mode == "a":
            calls.append(1)
            if len(calls) == 2:  # epoch 1's line
                return FullDisk(handle)
        return handle

    monkeypatch.setattr(monitor_module, "open", open_until_full, raising=False)
    cfg = make_config(train={"max_epochs": 3})
    with pytest.raises(RunDirError, match=r"metrics.jsonl: No space left on device.*intact"):
        train(cfg, model_factory=PairPotential)
    run_dir = cfg.output.run_dir
    assert len(_records(Path(run_dir))) == 1  # the half line is gone
    monkeypatch.undo()
    resumed = train(cfg, model_factory=PairPotential)
    assert [r["epoch"] for r in _records(resumed.run_dir)] == [0, 1, 2]


def test_cli_reports_an_unwritable_run_dir_with_exit_2(tiny_xyz, tmp_path, capsys):
    blocker = tmp_path / "a_file"
    blocker.write_text("")
    path = _real_model_config(tmp_path / "c.yaml", tiny_xyz, blocker / "run", 1)
    assert main(["train", str(path)]) == 2
    err = capsys.readouterr().err
    assert "a_file/run" in err and "not writable" in err and "Traceback" not in err
