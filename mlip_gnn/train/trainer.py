"""The training loop: epochs of optimiser steps and the rules that stop them; the rest of a
run (stages, validation, best model, logging, checkpoints) are callbacks.

After every step the ranks agree on the run's clock (the slowest rank's) and its progress p
(:mod:`mlip_gnn.train.progress`), from which the learning rate, loss stages and EMA start
follow; the run ends when a length (epochs, steps, time budget) is reached, inside an epoch
if need be.

Epochs are numbered from 0 (as ``loss.stages[].epoch`` in the config). Everything the loop
needs to continue exactly where it stopped is in :meth:`Trainer.state_dict`; the data order
is a function of (seed, epoch), so a resumed run sees the same batches.
"""

from __future__ import annotations

import contextlib
import dataclasses
import time
from typing import Any, Dict, List, Mapping, Sequence

import torch
from torch import nn
from torch.utils.data import DataLoader

from mlip_gnn.data import keys, to_device
from mlip_gnn.errors import MlipGnnError
from mlip_gnn.train import distributed as dist
from mlip_gnn.train.checkpoint import CheckpointManager, RunDirError
from mlip_gnn.train.loss import WeightedLoss
from mlip_gnn.train.metrics import MetricAccumulator
from mlip_gnn.train.monitor import Monitor
from mlip_gnn.train.optim import ExponentialMovingAverage, clip_gradients
from mlip_gnn.train.loop import Callback, LoopSettings, LoopState
from mlip_gnn.train.progress import reserve_s
from mlip_gnn.train.rng import rng_state, set_rng_state
from mlip_gnn.train.schedule import LRSchedule, StageSchedule
from mlip_gnn.train.signals import StopRequest

__all__ = ["Trainer", "TrainingDiverged"]


class TrainingDiverged(MlipGnnError, RuntimeError):
    """Raised when more optimiser steps than ``train.max_bad_steps`` had a NaN/Inf loss or
    gradient norm. Not bad input: the run failed (exit status 1)."""

    exit_status = 1


class Trainer:
    """Runs epochs of optimiser steps until ``max_epochs``, early stopping, the time limit
    or a stop signal; everything else a run does (loss stages, validation and the best
    model, logging, checkpoints) is in its ``callbacks`` (the standard ones:
    :func:`~mlip_gnn.train.callbacks.default_callbacks`)."""

    def __init__(self, *, model: nn.Module, loss: WeightedLoss,
                 optimizer: torch.optim.Optimizer, lr_schedule: LRSchedule,
                 stages: StageSchedule, ema: ExponentialMovingAverage | None,
                 train_loader: DataLoader, valid_loader: DataLoader | None,
                 settings: LoopSettings, monitor: Monitor, checkpoints: CheckpointManager,
                 device: torch.device, dtype: torch.dtype, stop: StopRequest,
                 metadata: Mapping[str, Any], callbacks: Sequence[Callback]):
        self.model, self.loss, self.optimizer = model, loss, optimizer
        self.lr_schedule, self.stages, self.ema = lr_schedule, stages, ema
        self.train_loader, self.valid_loader = train_loader, valid_loader
        self.settings, self.monitor, self.checkpoints = settings, monitor, checkpoints
        self.device, self.dtype, self.stop = device, dtype, stop
        self.metadata = dict(metadata)  # model kwargs, config, version: copied to checkpoints
        self.state = LoopState()
        self.train_metrics = MetricAccumulator(device)
        self.callbacks: List[Callback] = list(callbacks)
        self.started = self._now()
        self.first_epoch = self.first_step = 0  # the epoch and step this process started at
        self.elapsed_before_s = 0.0  # run time of the processes before this one
        self.plan = None  # the latest forecast of a time-budgeted run (callbacks.PlanReport)
        self.epoch_batches = 0  # batches of the epoch in progress, steps already done included

    # ----------------------------------------------------------------- state
    @property
    def module(self) -> nn.Module:
        """The model itself (unwrapped from DDP)."""
        return dist.unwrap_model(self.model)

    def state_dict(self) -> Dict[str, Any]:
        """The run's state; under DDP a collective (call it on every rank): the partial
        metric sums of the epoch in progress are summed over ranks."""
        train_sums = MetricAccumulator(self.device)
        train_sums.sums = dist.all_reduce_sum(self.train_metrics.sums)
        return {
            **self.metadata,
            "epoch": self.state.epoch,
            "loop": dataclasses.asdict(self.state),
            "model": self.module.state_dict(),
            "ema": None if self.ema is None else self.ema.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "lr_schedule": self.lr_schedule.state_dict(),
            "loss_weights": dict(self.loss.weights),
            "train_sums": train_sums.state_dict(),
            "rng": rng_state(),
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Continue from a checkpoint's state: weights, EMA, optimiser, schedules and counters."""
        configured_lr = self.lr_schedule.base_lr
        configured_decay = self.ema.decay if self.ema is not None else None
        self.module.load_state_dict(state["model"])
        if self.ema is not None and state.get("ema") is not None:
            self.ema.load_state_dict(state["ema"])
            self.ema.decay = configured_decay
        try:
            self.optimizer.load_state_dict(state["optimizer"])
        except ValueError as exc:  # other parameter groups than the checkpoint's
            raise RunDirError(
                f"cannot resume: the checkpoint's optimiser state does not fit the parameter "
                f"groups this config builds ({exc}); optim.weight_decay, "
                "optim.no_weight_decay and the finetune section must be as when the run "
                "started") from exc
        self.lr_schedule.load_state_dict(state["lr_schedule"])
        self.train_metrics.load_state_dict(state["train_sums"])
        if not dist.is_main():  # the stored sums are over all ranks: count them once
            self.train_metrics = MetricAccumulator(self.device)
        self.state = LoopState.from_dict(state["loop"])
        set_rng_state(state["rng"])
        # `--resume` with a changed config: its loss weights, lr and EMA decay apply from
        # the stage the run is in (with the same config these equal the stored values)
        index = min(self.state.stage_index, len(self.stages.stages) - 1)
        self.loss.set_weights(self.stages.weights_upto(index))
        self.lr_schedule.base_lr = self.stages.lr_upto(index) or configured_lr

    def inference_weights(self) -> Dict[str, torch.Tensor]:
        """The weights to use for prediction: the EMA when there is one."""
        if self.ema is not None:
            return {k: v.detach().cpu().clone() for k, v in self.ema.shadow.items()}
        return {k: v.detach().cpu().clone() for k, v in self.module.state_dict().items()}

    # ----------------------------------------------------------------- steps
    def _forward(self, model: nn.Module, batch, training: bool):
        has_stress = bool((batch[keys.STRESS_WEIGHT] > 0).any())
        # an energy-only loss needs no graph of the derivatives (2-3x cheaper steps)
        return model(batch, compute_forces=True,
                     compute_stress=self.loss.needs_stress or has_stress,
                     training=training and self.loss.needs_derivative_graph)

    def _loss(self, out, batch) -> tuple:
        """``(loss to differentiate, loss of the global batch)``.

        One process: both are the loss of the batch. Under DDP each term is a mean over
        the labelled entries of this rank's share, and DDP averages gradients over ranks,
        which would weight an entry by 1 / (its rank's count): an 8-atom frame's forces
        would count less than a 4-atom frame's on another rank. So term t is rescaled by
        W · n_t,rank / Σ_ranks n_t; the averaged gradient is then exactly that of the
        single-process loss of the global batch.
        """
        if dist.world_size() == 1:
            loss = self.loss(out, batch)
            return loss, loss.detach()
        terms = self.loss.terms(out, batch)
        if not terms:
            loss = self.loss(out, batch)
            return loss, dist.all_reduce_sum(loss.detach()) / dist.world_size()
        label_counts = self.loss.label_counts(batch)
        counts = torch.stack([label_counts[name] for name in terms]).to(torch.float64)
        share = (dist.world_size() * counts / dist.all_reduce_sum(counts).clamp(min=1.0))
        loss = sum(self.loss.weights[name] * value * share[i].to(value.dtype)
                   for i, (name, value) in enumerate(terms.items()))
        return loss, dist.all_reduce_sum(loss.detach()) / dist.world_size()

    def _step(self, batch) -> tuple:
        """One optimiser step; skipped (and counted) when the loss or gradient is not finite
        (on any rank: every rank skips the same steps, or DDP would deadlock)."""
        batch = to_device(batch, self.device, self.dtype)
        self.optimizer.zero_grad(set_to_none=True)
        out = self._forward(self.model, batch, training=True)
        loss, global_loss = self._loss(out, batch)
        loss.backward()
        grad_norm = clip_gradients(self.model.parameters(), self.settings.grad_clip)
        finite = bool(torch.isfinite(global_loss) & torch.isfinite(grad_norm.to(loss.device)))
        if dist.any_rank(not finite):
            self._skip_step(float(global_loss), float(grad_norm))
            return float("nan"), float(grad_norm)
        self.optimizer.step()
        if self.ema is not None:  # before ema_start it follows the weights: averaging starts there
            self.ema.update(self.module, follow=self.state.progress < self.settings.ema_start)
        self.train_metrics.update(out, batch, global_loss)
        return float(global_loss), float(grad_norm)

    def _skip_step(self, loss: float, grad_norm: float) -> None:
        self.optimizer.zero_grad(set_to_none=True)
        self.state.bad_steps += 1
        s = self.state
        self.monitor.warning("epoch %d step %d: non-finite loss (%s) or gradient norm (%s); "
                             "step skipped (%d of at most %d)", s.epoch, s.step_in_epoch,
                             loss, grad_norm, s.bad_steps, self.settings.max_bad_steps)
        if s.bad_steps > self.settings.max_bad_steps:
            raise TrainingDiverged(
                f"training stopped: {s.bad_steps} optimiser steps had a NaN or Inf loss or "
                f"gradient (train.max_bad_steps = {self.settings.max_bad_steps}). Lower "
                "optim.lr, set optim.grad_clip, or check the data for outliers; the last "
                f"good checkpoint is in {self.checkpoints.run_dir}.")

    def _stop_reason(self) -> str | None:
        """Agree with the other ranks on the run's clock (the slowest rank's) and progress,
        and on whether to stop now (a signal on any rank, this process's time limit)."""
        s = self.state
        values = torch.tensor([float(self.stop.requested), float(self._out_of_time()),
                               self.elapsed_before_s + self.elapsed_s(), s.valid_s,
                               s.checkpoint_s], dtype=torch.float64)
        if dist.world_size() > 1:
            values = dist.all_reduce_max(values.to(self.device)).cpu()
        s.elapsed_s, s.valid_s, s.checkpoint_s = (float(v) for v in values[2:])
        s.progress = self.settings.length.progress(*self._done())
        if values[0] > 0:
            return f"signal {self.stop.signal_name or 'on another rank'}"
        return "time limit" if values[1] > 0 else None

    def reserve_s(self) -> float:
        """Seconds of the time budget kept for the final validation, test and checkpoint."""
        s, budget = self.state, self.settings.length.seconds
        return 0.0 if budget is None else reserve_s(budget, s.valid_s, s.checkpoint_s,
                                                    self.settings.test_share)

    def _done(self) -> tuple:
        """(epochs, steps, seconds, reserve) of the run so far, as the ranks agreed."""
        s = self.state
        # an epoch's length is known once it starts (a resumed run: part done, not ended)
        epochs = s.epoch + (s.step_in_epoch / self.epoch_batches if self.epoch_batches else 0)
        return epochs, s.global_step, s.elapsed_s, self.reserve_s()

    def run_ends(self) -> str | None:
        """The length (config key) that ends the run at this point, or None."""
        return self.settings.length.reached(*self._done())

    @staticmethod
    def _now() -> float:
        """The clock of :meth:`elapsed_s` (tests replace it by a simulated one)."""
        return time.monotonic()

    def elapsed_s(self) -> float:
        """Seconds since this process started training (what the time limit counts)."""
        return self._now() - self.started

    def _out_of_time(self) -> bool:
        limit = self.settings.max_time_s
        return limit is not None and self.elapsed_s() >= limit

    def _early_stop(self) -> bool:
        patience = self.settings.early_stopping_patience
        return patience is not None and self.state.rounds_since_best >= patience

    # ----------------------------------------------------------------- epochs
    def _call(self, hook: str, *args) -> None:
        for callback in self.callbacks:
            getattr(callback, hook)(self, *args)

    def _train_epoch(self) -> str | None:
        """Steps of the current epoch; returns a stop reason if stopped before its end."""
        # the epoch's batches depend on (seed, epoch) only: a resumed run skips those done
        self.train_loader.batch_sampler.set_epoch(self.state.epoch,
                                                  skip=self.state.step_in_epoch)
        self.epoch_batches = self.state.step_in_epoch + len(self.train_loader)
        start = self._now() - self.state.epoch_elapsed_s
        self.model.train()
        for batch in self.train_loader:
            self._call("on_step_start")
            lr = self.lr_schedule.set(self.state.progress, self.state.epoch)
            if self.state.step_in_epoch == 0:
                self.state.epoch_lr = lr
            loss, grad_norm = self._step(batch)
            self.state.step_in_epoch += 1
            self.state.global_step += 1
            self.state.epoch_elapsed_s = self._now() - start
            reason = self._stop_reason()
            self._call("on_step_end", loss, grad_norm)
            if reason is not None and self.state.step_in_epoch < self.epoch_batches:
                return reason
            if self.run_ends() is not None:  # the run's length is reached inside the epoch
                break
        return None

    def evaluate(self, loader: DataLoader, use_ema: bool = True) -> Dict[str, float]:
        """Metrics over ``loader`` (reduced over ranks), with the EMA weights by default."""
        model = self.module
        averaged = self.ema.applied(model) if (use_ema and self.ema is not None) \
            else contextlib.nullcontext()
        metrics = MetricAccumulator(self.device)
        with averaged:
            model.eval()
            try:
                for batch in loader:
                    batch = to_device(batch, self.device, self.dtype)
                    out = self._forward(model, batch, training=False)
                    metrics.update(out, batch, self.loss(out, batch).detach())
            finally:
                model.train()
        return metrics.reduce(dist.all_reduce_sum).compute()

    def _epoch_record(self) -> Dict[str, Any]:
        s = self.state
        return {"epoch": s.epoch, "step": s.global_step, "lr": s.epoch_lr,
                "progress": s.progress, "epoch_time_s": s.epoch_elapsed_s,
                "train": self.train_metrics.reduce(dist.all_reduce_sum).compute(),
                "loss_weights": dict(self.loss.weights), "bad_steps": s.bad_steps}

    def _next_epoch(self) -> None:
        s = self.state
        s.epoch += 1
        s.step_in_epoch, s.epoch_elapsed_s = 0, 0.0
        self.train_metrics = MetricAccumulator(self.device)

    def write(self, save, *args):
        """``save(*args)``; a failed write (disk full, quota, permissions) becomes a
        RunDirError naming the file, the cause and that the older checkpoints are intact
        (writes are atomic: a temp file is removed, never renamed into place)."""
        try:
            return save(*args)
        except OSError as exc:
            raise RunDirError(
                f"cannot write a checkpoint in {self.checkpoints.run_dir}: "
                f"{exc.strerror or exc}. The checkpoints already there are intact; free "
                "space (or fix the permissions) and run the same command again to resume."
            ) from None

    def save_last(self, snapshot: bool = False) -> None:
        """Checkpoint on rank 0; a failure there raises on every rank (no rank hangs).
        Its duration (this process's clock) is kept in hand at the end of a time budget."""
        began = self.elapsed_s()
        state = self.state_dict()

        def save() -> None:
            self.write(self.checkpoints.save_last, state)
            if snapshot:
                self.write(self.checkpoints.snapshot, self.state.epoch,
                           self.settings.keep_checkpoints)

        dist.on_main(save)
        self.state.checkpoint_s = max(self.state.checkpoint_s, self.elapsed_s() - began)

    def fit(self) -> str:
        """Train; returns why it stopped: the length reached (``max_epochs``,
        ``max_steps``, ``budget_minutes``), ``early stopping``, ``time limit`` or
        ``signal SIGTERM`` (with the default callbacks, a checkpoint is written in every
        case)."""
        s = self.state
        self.started, self.first_epoch, self.first_step = self._now(), s.epoch, s.global_step
        self.elapsed_before_s = s.elapsed_s
        reason = self.run_ends()  # a resumed run that had ended (progress as stored)
        while reason is None:
            self._call("on_epoch_start")
            reason = self._train_epoch()
            if reason is not None:
                self._call("on_interrupt", reason)
                return reason
            self._call("on_epoch_end", self._epoch_record())
            self._next_epoch()
            reason = ("early stopping" if self._early_stop()
                      else self._stop_reason() or self.run_ends())
            self._call("after_epoch", reason)
        return reason
