"""Two Gloo processes on the CPU against one process: same metrics, one set of outputs,
resume after a stop, and no hang when one rank fails."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from mlip_gnn.config import config_from_dict
from mlip_gnn.modelio import load_checkpoint
from mlip_gnn.train import train
from ddp_support import run_ddp
from train_support import PairPotential, write_tiny_cu

EPOCHS = 3


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    # 10 frames of 4 and 8 atoms: 8 train (2 steps of a global batch of 4), 2 valid
    return write_tiny_cu(tmp_path_factory.mktemp("ddp-data") / "cu.xyz", n_frames=10)


def _raw(data, run_dir, **train):
    return {
        "seed": 3, "device": "cpu", "dtype": "float64",
        # global batch 4 = 2 per rank; validation one frame per batch, because the
        # validation "loss" metric averages per-batch losses and so depends on how frames
        # are grouped (the MAE/RMSE figures do not)
        "data": {"train": [str(data)], "valid_fraction": 0.2, "r_max": 4.0,
                 "batch_size": 4, "valid_batch_size": 1},
        "loss": {"energy_weight": 1.0, "forces_weight": 10.0, "stress_weight": 1.0},
        "optim": {"lr": 0.05, "scheduler": "cosine", "ema_decay": 0.9},
        "train": {"max_epochs": EPOCHS, "best_metric": "forces_rmse", **train},
        "output": {"run_dir": str(run_dir), "tensorboard": False, "progress": False},
    }


def _records(run_dir):
    lines = (run_dir / "metrics.jsonl").read_text().splitlines()
    return [json.loads(line) for line in lines]


def _max_diff(a, b):
    """Largest absolute difference over the numbers of two metric records."""
    if isinstance(a, dict):
        assert a.keys() == b.keys()
        return max((_max_diff(a[k], b[k]) for k in a if k != "epoch_time_s"), default=0.0)
    return abs(a - b)


@pytest.fixture(scope="module")
def two_process_run(data, tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("ddp") / "run2"
    codes, reports = run_ddp(_raw(data, run_dir), run_dir.parent / "reports")
    assert codes == [0, 0], reports
    return run_dir


def test_two_processes_match_one_process(data, tmp_path, two_process_run):
    single = train(config_from_dict(_raw(data, tmp_path / "run1")), model_factory=PairPotential)
    one, two = _records(single.run_dir), _records(two_process_run)
    assert [r["epoch"] for r in two] == list(range(EPOCHS))  # one line per epoch
    assert len(one) == len(two)
    for r1, r2 in zip(one, two):
        assert r1["step"] == r2["step"] and "valid" in r2
        assert _max_diff(r1, r2) < 1e-9, (r1, r2)
    # dataset statistics and final weights agree
    last1, last2 = (load_checkpoint(d / "last.pt") for d in (single.run_dir, two_process_run))
    assert last1["model_spec"] == last2["model_spec"]
    assert (last1["model"]["coeffs"] - last2["model"]["coeffs"]).abs().max() < 1e-10


def test_two_processes_write_one_set_of_outputs(two_process_run):
    names = sorted(p.name for p in two_process_run.iterdir())
    assert names == sorted(["config.yaml", "train.log", "metrics.jsonl", "last.pt",
                            "last.prev.pt", "best.pt", f"epoch_{EPOCHS:05d}.pt",
                            f"epoch_{EPOCHS - 1:05d}.pt"])
    log = (two_process_run / "train.log").read_text()
    assert log.count("training finished") == 1 and "2 process(es)" in log


@pytest.mark.slow
def test_stop_on_one_rank_then_resume_matches_uninterrupted(data, tmp_path, two_process_run):
    run_dir = tmp_path / "run"
    raw = _raw(data, run_dir)
    # SIGUSR1 reaches rank 1 only, mid-epoch 1: both ranks must agree to stop there
    codes, reports = run_ddp(raw, tmp_path / "a", fault=("signal", 1, 3))
    assert codes == [0, 0], reports
    assert [r["stop_reason"] for r in reports] == ["signal on another rank", "signal SIGUSR1"]
    assert load_checkpoint(run_dir / "last.pt")["loop"]["step_in_epoch"] == 1
    codes, reports = run_ddp(raw, tmp_path / "b")  # same run dir and config: auto-resume
    assert codes == [0, 0], reports
    resumed, uninterrupted = _records(run_dir), _records(two_process_run)
    assert len(resumed) == len(uninterrupted) == EPOCHS
    for r1, r2 in zip(resumed, uninterrupted):
        assert _max_diff(r1, r2) < 1e-9, (r1, r2)


def test_a_time_budget_follows_the_slowest_rank(data, tmp_path):
    # rank 1's steps take 5 s (20 s epochs of 4 steps), rank 0's milliseconds: the ranks
    # share rank 1's clock, so 100 s hold 5 epochs and the stage at 0.4 starts at step 8
    # (epoch 2); rank 0 alone would run all 20 epochs with the stage at epoch 8. Ranks that
    # disagreed on when to stop would hang in the longer one's collectives.
    run_dir = tmp_path / "run"
    raw = _raw(data, run_dir, max_epochs=20, budget_minutes=100.0 / 60.0)
    raw["loss"]["stages"] = [{"at": 0.4, "energy_weight": 9.0}]
    codes, reports = run_ddp(raw, tmp_path / "r", fault=("pace", 1, 20.0))
    assert codes == [0, 0], reports
    assert [r["epochs_done"] for r in reports] == [5, 5], reports
    assert [r["stop_reason"] for r in reports] == ["budget_minutes", "budget_minutes"]
    records = _records(run_dir)
    assert [r["epoch"] for r in records] == list(range(5))
    assert [r["loss_weights"]["energy"] for r in records] == [1.0, 1.0, 9.0, 9.0, 9.0]
    assert "loss stage 0 starts" in (run_dir / "train.log").read_text()


@pytest.mark.slow
def test_exception_on_one_rank_does_not_hang_the_other(data, tmp_path):
    # the timeout is generous because two cold starts of torch take long on a busy machine
    codes, reports = run_ddp(_raw(data, tmp_path / "run"), tmp_path / "r",
                             fault=("raise", 1, 2), timeout=150)
    assert None not in codes, f"a rank hung: exit codes {codes}, reports {reports}"
    assert all(code != 0 for code in codes)
    assert reports[1]["message"] == "injected failure on rank 1"
    assert reports[0] is not None and "error" in reports[0]


@pytest.mark.slow
def test_nan_on_one_rank_is_skipped_on_all_and_stops_the_run(data, tmp_path):
    run_dir = tmp_path / "run"
    codes, reports = run_ddp(_raw(data, run_dir, max_bad_steps=1), tmp_path / "r",
                             fault=("nan", 1, 1), timeout=150)
    assert codes == [3, 3], reports
    assert [r["error"] for r in reports] == ["TrainingDiverged"] * 2
    log = (run_dir / "train.log").read_text()
    assert "step skipped (1 of at most 1)" in log
    assert "epoch 0 step 1: non-finite" in log


SCRIPTS = Path(__file__).resolve().parents[2] / "scripts"
FAKE_SRUN = """#!/bin/bash
echo "$@" > "$FAKE_DIR/srun_args"
trap 'echo stopped > "$FAKE_DIR/srun_stopped"; exit 0' USR1 TERM
touch "$FAKE_DIR/srun_started"
while true; do sleep 0.05; done
"""
FAKE_SCONTROL = """#!/bin/bash
if [[ $1 == show ]]; then echo node7; echo node8; else echo "$@" > "$FAKE_DIR/scontrol"; fi
"""


@pytest.mark.parametrize("script", ["slurm_single_node.sh", "slurm_multi_node.sh"])
def test_slurm_script_forwards_the_warning_signal_and_requeues(script, tmp_path):
    path = SCRIPTS / script
    assert subprocess.run(["bash", "-n", str(path)]).returncode == 0
    text = path.read_text()
    assert "#SBATCH --signal=B:USR1@120" in text and "#SBATCH --requeue" in text
    for name, body in (("srun", FAKE_SRUN), ("scontrol", FAKE_SCONTROL)):
        (tmp_path / name).write_text(body)
        (tmp_path / name).chmod(0o755)
    env = {**os.environ, "PATH": f"{tmp_path}:{os.environ['PATH']}", "FAKE_DIR": str(tmp_path),
           "SLURM_JOB_ID": "4242", "SLURM_JOB_NODELIST": "node[7-8]"}
    with subprocess.Popen(["bash", str(path), "cfg.yaml", "--set", "seed=3"], env=env,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT) as job:
        deadline = time.monotonic() + 20
        while not (tmp_path / "srun_started").exists() and time.monotonic() < deadline:
            time.sleep(0.02)
        job.send_signal(signal.SIGUSR1)  # what SLURM sends 120 s before the time limit
        out, _ = job.communicate(timeout=20)
    assert job.returncode == 0, out
    assert (tmp_path / "srun_stopped").exists()  # the signal reached the tasks
    assert "python -m mlip_gnn train cfg.yaml --set seed=3" in (tmp_path / "srun_args").read_text()
    assert (tmp_path / "scontrol").read_text().split() == ["requeue", "4242"]


@pytest.mark.slow
def test_torchrun_real_model_uses_no_unused_parameter_search_and_warns_nothing(data, tmp_path):
    """The real model under ``torchrun``: every parameter gets a gradient (DDP would fail
    with find_unused_parameters=False otherwise) and no gradient has odd strides."""
    import yaml

    config = tmp_path / "c.yaml"
    config.write_text(yaml.safe_dump({
        "device": "cpu", "dtype": "float64",
        "data": {"train": str(data), "r_max": 3.0, "batch_size": 4, "valid_fraction": 0.2},
        "model": {"num_layers": 2, "num_channels": 4, "max_ell": 1, "hidden_ell": 1,
                  "correlation": 2, "num_bessel": 4, "radial_mlp": [8]},
        "loss": {"stress_weight": 1.0}, "train": {"max_epochs": 2},
        "output": {"run_dir": str(tmp_path / "run"), "tensorboard": False}}))
    from ddp_support import free_port

    proc = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2",  # torchrun
         f"--master_port={free_port()}", "-m", "mlip_gnn", "train", str(config)],
        capture_output=True, text=True, timeout=300,
        env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "Grad strides do not match" not in proc.stderr
    assert "Traceback" not in proc.stderr
    assert len(_records(tmp_path / "run")) == 2
