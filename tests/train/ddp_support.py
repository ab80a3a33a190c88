"""Run ``train`` in several Gloo processes on the CPU (spawned, float64, stand-in model).

Each worker sets the torchrun environment variables, so the launcher detection of
:mod:`mlip_gnn.train.distributed` is exercised as well. A ``fault`` makes one rank
misbehave: ``("signal", rank, step)`` sends SIGUSR1 to that rank after ``step`` optimiser
steps, ``("raise", rank, step)`` raises there, ``("nan", rank, step)`` poisons that rank's
forces from that step on, ``("pace", rank, seconds)`` gives that rank a clock on which
each epoch takes ``seconds``.

(Not a conftest.py: see train_support.py.)
"""

import json
import multiprocessing
import os
import signal
import socket
import time
from pathlib import Path

import torch

from mlip_gnn.config import config_from_dict
from mlip_gnn.data import keys
from train_support import PairPotential, paced_clock


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _inject(fault, rank):
    from mlip_gnn.train.trainer import Trainer

    kind, fault_rank, at_step = fault
    if rank != fault_rank:
        return
    if kind == "pace":
        Trainer.elapsed_s = paced_clock(at_step)
        return
    step_fn, forward_fn, calls = Trainer._step, Trainer._forward, []

    def step(self, batch):
        if kind == "raise" and len(calls) == at_step:
            raise RuntimeError(f"injected failure on rank {rank}")
        out = step_fn(self, batch)
        calls.append(1)
        if kind == "signal" and len(calls) == at_step:
            os.kill(os.getpid(), signal.SIGUSR1)
        return out

    def forward(self, model, batch, training):
        out = forward_fn(self, model, batch, training)
        if kind == "nan" and training and len(calls) >= at_step:
            out[keys.FORCES] = out[keys.FORCES] * float("nan")
        return out

    Trainer._step, Trainer._forward = step, forward


def _worker(rank, world, port, raw_config, fault, report_dir):
    os.environ.update(RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE=str(world),
                      MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.set_num_threads(1)
    from mlip_gnn.train import train

    if fault is not None:
        _inject(fault, rank)
    report = Path(report_dir) / f"rank{rank}.json"
    try:
        result = train(config_from_dict(raw_config), model_factory=PairPotential)
        report.write_text(json.dumps({"stop_reason": result.stop_reason,
                                      "epochs_done": result.epochs_done}))
    except BaseException as exc:
        report.write_text(json.dumps({"error": type(exc).__name__, "message": str(exc)}))
        raise SystemExit(3) from None


def run_ddp(raw_config, report_dir, world=2, fault=None, timeout=150.0):
    """Run ``world`` worker processes to the end; returns ``(exit codes, reports)``.
    Workers still alive after ``timeout`` s are killed and reported with exit code None."""
    report_dir = Path(report_dir)
    report_dir.mkdir(parents=True, exist_ok=True)
    ctx = multiprocessing.get_context("spawn")
    port = free_port()
    procs = [ctx.Process(target=_worker, args=(r, world, port, raw_config, fault,
                                               str(report_dir))) for r in range(world)]
    for proc in procs:
        proc.start()
    codes, deadline = [], time.monotonic() + timeout
    for proc in procs:
        proc.join(max(0.0, deadline - time.monotonic()))
        if proc.is_alive():
            proc.kill()
            proc.join()
            codes.append(None)
        else:
            codes.append(proc.exitcode)
    reports = []
    for r in range(world):
        path = report_dir / f"rank{r}.json"
        reports.append(json.loads(path.read_text()) if path.exists() else None)
    return codes, reports
