"""``train(cfg)``: one training run from a validated config, resumable.

Resume rules (documented in the CLI help too):

- ``resume=None`` and ``output.run_dir`` holds a checkpoint written with the same config
  (same :func:`config_hash`): the run continues from it automatically.
- ``resume=None`` and the checkpoint came from a different config: :class:`RunDirError`
  listing the differences; pass ``resume=run_dir`` to continue anyway, or pick a new
  ``output.run_dir``.
- ``resume=RUN_DIR``: continue the run in RUN_DIR with the given config (``output.run_dir``
  becomes RUN_DIR). Changes to the loop, loss and optimiser (``train.budget_minutes``, loss
  weights, ...) take effect. The model spec (species, r_max, dtype, E0s, architecture) is
  the checkpoint's: a config that asks for another one is refused with
  :class:`~mlip_gnn.modelio.ModelSpecError` naming the changed fields; dataset statistics
  left at ``auto`` keep the checkpoint's values.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from pathlib import Path
from typing import Any, Dict, List, Sequence

import torch
from torch import nn
from torch.utils.data import DataLoader

import mlip_gnn
from mlip_gnn.config import Config, ConfigError, config_hash, config_to_dict, save_config
from mlip_gnn.quantities import metric_units
from mlip_gnn.modelio import (ModelFactory, ModelSpec, ModelSpecError, build_from_spec,
                              spec_from_state)
from mlip_gnn.train import distributed as dist
from mlip_gnn.train.checkpoint import (CheckpointManager, RunDirError, StartGuard,
                                       check_free_space, check_writable, checkpoint_bytes,
                                       load_checkpoint)
from mlip_gnn.train import finetune
from mlip_gnn.train.batching import eval_batches, make_loader, train_batches
from mlip_gnn.train.model_spec import base_spec, complete_spec, e0_method, spec_changes
from mlip_gnn.train.splits import (DataSplits, graph_dataset, labelled_frames, read_splits,
                                   test_groups, train_species, train_statistics)
from mlip_gnn.train.loss import TERM_NAMES, WeightedLoss, elementwise_loss
from mlip_gnn.train.monitor import Monitor, log_to
from mlip_gnn.train.optim import ExponentialMovingAverage, build_optimizer, spare_from_decay
from mlip_gnn.train.rng import seed_everything
from mlip_gnn.train.schedule import LRSchedule, Stage, StageSchedule
from mlip_gnn.train.signals import StopRequest
from mlip_gnn.train.callbacks import Callback, default_callbacks
from mlip_gnn.train.loop import LoopSettings
from mlip_gnn.train.trainer import Trainer

__all__ = ["TrainResult", "train", "TEST_METRICS_FILE"]

TEST_METRICS_FILE = "test_metrics.json"
_log = logging.getLogger("mlip_gnn.train")


@dataclasses.dataclass
class TrainResult:
    """What a run did: its directory, why it stopped, epochs done, the best epoch and value, and the
    test metrics."""

    run_dir: Path
    stop_reason: str  # "max_epochs", "early stopping", "time limit", "signal SIGTERM", ...
    epochs_done: int
    best_epoch: int
    best_value: float
    test_metrics: Dict[str, Dict[str, float]] | None = None

    @property
    def interrupted(self) -> bool:
        """Whether a signal or the time limit stopped the run."""
        return self.stop_reason.startswith("signal") or self.stop_reason == "time limit"


def _flatten(d: Any, prefix: str = "") -> Dict[str, Any]:
    if not isinstance(d, dict):
        return {prefix: d}
    out: Dict[str, Any] = {}
    for key, value in d.items():
        out.update(_flatten(value, f"{prefix}.{key}" if prefix else str(key)))
    return out


def _differences(old: dict, new: dict, limit: int = 6) -> List[str]:
    a, b = _flatten(old), _flatten(new)
    diffs = [f"{k}: {a.get(k)!r} -> {b.get(k)!r}" for k in sorted(set(a) | set(b))
             if a.get(k) != b.get(k)]
    return diffs[:limit] + ([f"... {len(diffs) - limit} more"] if len(diffs) > limit else [])


def _resume_state(cfg, manager: CheckpointManager, explicit: bool) -> dict | None:
    if not explicit and not manager.has_checkpoint():
        return None
    state, path = manager.load_latest()
    diffs = _differences(state.get("config", {}), config_to_dict(cfg))
    if state.get("config_hash") != config_hash(cfg) and not explicit:
        raise RunDirError(
            f"{manager.run_dir} already holds a run with a different config ("
            + "; ".join(diffs) + "). To continue that run with this config, pass "
            f"--resume {manager.run_dir}; to start a new run, set another output.run_dir "
            "(e.g. --set output.run_dir=runs/new).")
    if diffs:
        _log.warning("resuming with a changed config: %s", "; ".join(diffs))
    _log.info("resuming from %s: epoch %d, step %d", path, state["loop"]["epoch"],
              state["loop"]["step_in_epoch"])
    return state


def _check_best_metric(cfg, valid) -> None:
    quantity = cfg.train.best_metric.split("_")[0]
    if quantity in ("loss", "last"):
        return
    if not labelled_frames(valid, quantity):
        raise ConfigError(f"train.best_metric: got {cfg.train.best_metric!r} but no validation "
                          f"frame has a {quantity} label; choose another metric",
                          field="train.best_metric")


def _batch_sizes(cfg, world: int) -> tuple:
    """Per-rank train and validation batch sizes. ``data.batch_size`` is the *global*
    batch (summed over processes), so a run gives the same optimisation on 1 or N
    processes; validation batches are split as evenly as possible."""
    try:
        train_batch = dist.per_rank_batch_size(cfg.data.batch_size, world, "data.batch_size")
    except ValueError as exc:
        raise ConfigError(str(exc), field="data.batch_size") from None
    valid_batch = cfg.data.valid_batch_size or cfg.data.batch_size
    return train_batch, max(1, -(-valid_batch // world))


def _loaders(cfg, splits, spec: ModelSpec, info):
    # the validation loss is the training loss on held-out frames: the same type weights
    sets = {name: graph_dataset(getattr(splits, name), spec,
                                type_weights=cfg.loss.config_type_weights)
            for name in ("train", "valid")}
    train_batch, valid_batch = _batch_sizes(cfg, info.world_size)
    world, rank, workers = info.world_size, info.rank, cfg.data.num_workers
    batches = train_batches(cfg, splits.train, sets["train"], splits.train_groups,
                            train_batch, world, rank)
    train_loader = make_loader(sets["train"], batches, workers)
    valid_loader = (make_loader(sets["valid"], eval_batches(cfg, splits.valid, sets["valid"],
                                                            valid_batch, world, rank), workers)
                    if len(sets["valid"]) else None)
    return sets["train"], train_loader, valid_loader


def _test(run: _Run, trainer: Trainer, setup: _Setup) -> dict:
    """Best model on the test set, overall and per config type."""
    cfg, info, splits = run.cfg, run.info, setup.splits
    best = trainer.checkpoints.best
    if best.exists():
        trainer.module.load_state_dict(load_checkpoint(best)["model"])
    else:
        trainer.module.load_state_dict(trainer.inference_weights())
    batch = _batch_sizes(cfg, info.world_size)[1]
    rows = {}
    for name, indices in test_groups(splits.test).items():
        dataset = graph_dataset(splits.test, setup.spec, indices)
        batches = eval_batches(cfg, splits.test, dataset, batch, info.world_size, info.rank,
                               indices)
        rows[name] = trainer.evaluate(make_loader(dataset, batches, cfg.data.num_workers),
                                      use_ema=False)
    trainer.monitor.table(f"test set ({len(splits.test)} frames), best model", rows)
    if dist.is_main():
        path = trainer.checkpoints.run_dir / TEST_METRICS_FILE
        path.write_text(json.dumps({"best_epoch": trainer.state.best_epoch,
                                    "units": metric_units(), "metrics": rows}, indent=2))
    return rows


@dataclasses.dataclass(frozen=True)
class _Run:
    """What every stage of a run needs: the config, where the process stands (rank,
    device), how it was asked to start, and its stop flag."""

    cfg: Config
    info: dist.DistInfo
    device: torch.device
    stop: StopRequest
    explicit_resume: bool
    model_factory: ModelFactory | None
    callbacks: Sequence[Callback]

    @property
    def run_dir(self) -> Path:
        return Path(self.cfg.output.run_dir)

    @property
    def main(self) -> bool:
        return self.info.rank == 0


def train(cfg: Config, *, resume: str | None = None,
          model_factory: ModelFactory | None = None,
          callbacks: Sequence[Callback] = ()) -> TrainResult:
    """Train as ``cfg`` says; see the module docstring for how resuming works.

    ``model_factory`` builds the model from the spec's builder arguments (default:
    :func:`mlip_gnn.model.build_model`). ``callbacks`` act after the standard ones
    (:func:`~mlip_gnn.train.callbacks.default_callbacks`) at every hook of the loop.
    """
    if resume is not None:
        run_dir = str(Path(resume).resolve())
        cfg = dataclasses.replace(cfg, output=dataclasses.replace(cfg.output, run_dir=run_dir))
    info = dist.detect()
    device = dist.resolve_device(cfg.device, info.local_rank)
    dist.init_process_group(info, device)
    try:
        with dist.tf32(cfg.tf32), StopRequest() as stop:
            run = _Run(cfg, info, device, stop, resume is not None, model_factory,
                       [*default_callbacks(), *callbacks])
            return _train(run)
    except BaseException as exc:
        dist.release_failed_run(exc)
        raise
    finally:
        dist.shutdown()


@dataclasses.dataclass
class _Setup:
    """Data, model spec, model and loaders of a run (fresh or resumed)."""

    splits: DataSplits
    spec: ModelSpec
    model: nn.Module
    train_loader: DataLoader
    valid_loader: DataLoader | None
    param_groups: List[dict] | None = None  # fine-tuning: groups with their lr_factor


def _setup(run: _Run, state: dict | None) -> _Setup:
    """Read the data, make the model spec (a resumed run: the checkpoint's, which the config
    must not contradict; a fine-tuning run: the pretrained model's) and build the model."""
    cfg, run_dir = run.cfg, run.run_dir
    seed_everything(cfg.seed)
    splits = read_splits(cfg)
    _check_best_metric(cfg, splits.valid)
    species = train_species(splits.train)
    pretrained = (finetune.load_pretrained(cfg.model.init_from)
                  if cfg.model.init_from is not None else None)
    if state:
        spec = spec_from_state(state, run_dir)
        changes = spec_changes(spec, cfg, species, species_may_grow=pretrained is not None)
        if changes:
            raise ModelSpecError(
                f"cannot resume {run_dir}: its model was built with another spec than the "
                f"config asks for ({'; '.join(changes)}; checkpoint -> config). Restore "
                "these values, or start a new run with another output.run_dir.")
    elif pretrained is not None:
        changes = spec_changes(pretrained.spec, cfg, species, species_may_grow=True)
        spec = finetune.finetune_spec(pretrained, changes, species, splits.train,
                                      e0_method(cfg.data.e0s))
    else:
        spec = base_spec(cfg, species)
    train_set, train_loader, valid_loader = _loaders(cfg, splits, spec, run.info)
    if not state and pretrained is None:
        stats = train_statistics(splits.train, train_set, spec.r_max)
        spec = _shared_spec(complete_spec(spec, cfg, stats))
    model = build_from_spec(spec, run.model_factory).to(run.device)
    groups = _start_from(cfg, model, pretrained, spec) if pretrained is not None else None
    return _Setup(splits, spec, model, train_loader, valid_loader, groups)


def _start_from(cfg, model: nn.Module, pretrained: finetune.Pretrained,
                spec: ModelSpec) -> List[dict]:
    """Load the pretrained weights into ``model`` (a resumed run loads its own over them),
    freeze and start afresh what ``finetune`` says; the optimiser's parameter groups."""
    f = cfg.finetune
    fresh = finetune.part_names(model, f.reinit)
    grown = finetune.transfer_weights(model, pretrained.weights, pretrained.spec.species,
                                      spec.species, skip=fresh)
    old_rows = [list(spec.species).index(z) for z in pretrained.spec.species]
    frozen = finetune.freeze_parts(model, f.freeze, grown, old_rows)
    groups = finetune.parameter_groups(model, fresh, f.pretrained_lr_factor,
                                       [n for n in grown if n in finetune.part_names(
                                           model, f.freeze)])
    _log.info("fine-tuning from %s: %s", pretrained.path, finetune.describe(groups, frozen))
    return groups


def _shared_spec(spec: ModelSpec) -> ModelSpec:
    """Rank 0's spec on every rank. Every rank computes the dataset statistics (E0s,
    average neighbour count, scale, shift) from the same files, so they should agree bit for
    bit; rank 0's copy is what the model and the checkpoint hold either way."""
    shared = ModelSpec.from_dict(dist.broadcast_object(spec.to_dict()))
    if shared != spec:
        _log.warning("rank %d computed other dataset statistics than rank 0; using rank 0's",
                     dist.rank())
    return shared


def _optimisation(cfg, model: nn.Module, param_groups: List[dict] | None = None):
    """EMA, optimiser, lr schedule, loss stages and loss from the config."""
    o = cfg.optim
    ema = ExponentialMovingAverage(model, o.ema_decay) if o.ema_decay else None
    params = param_groups if param_groups is not None else model.parameters()
    decays = o.weight_decay > 0 or any(s.weight_decay for s in cfg.loss.stages)
    if decays and o.no_weight_decay:
        spared = finetune.part_names(model, o.no_weight_decay, field="optim.no_weight_decay")
        params = spare_from_decay(model, spared, param_groups)
    optimizer = build_optimizer(o.optimizer, params, o.lr, o.weight_decay, o.amsgrad)
    lr_schedule = LRSchedule(optimizer, o.scheduler, o.lr, o.min_lr, warmup=o.warmup,
                             warmup_epochs=o.warmup_epochs, plateau_factor=o.plateau_factor,
                             plateau_patience=o.plateau_patience, step_factor=o.step_factor,
                             step_at=o.step_at)
    weights = {name: getattr(cfg.loss, f"{name}_weight") for name in TERM_NAMES}
    stages = StageSchedule(weights, [Stage.from_mapping(s) for s in cfg.loss.stages])
    loss = WeightedLoss(weights, elementwise_loss(cfg.loss.kind, cfg.loss.huber_delta))
    return dict(ema=ema, optimizer=optimizer, lr_schedule=lr_schedule, stages=stages, loss=loss)


def _test_share(splits: DataSplits) -> float:
    """Test frames per validation frame: the test set's time, kept in hand at the end of a
    time budget, relative to a validation's."""
    return len(splits.test) / max(len(splits.valid), 1) if splits.test else 0.0


def _train(run: _Run) -> TrainResult:
    with StartGuard(run.run_dir, run.main) as guard:
        dist.on_main(lambda: check_writable(run.run_dir))
        with log_to(run.run_dir if run.main else None, console=run.main):
            return _run(run, guard)


def _run(run: _Run, guard: StartGuard) -> TrainResult:
    cfg, run_dir, main = run.cfg, run.run_dir, run.main
    manager = CheckpointManager(run_dir)
    state = _resume_state(cfg, manager, run.explicit_resume)
    setup = _setup(run, state)
    # room for last, previous, best and the temp file of the next write
    needed = 4 * checkpoint_bytes(setup.model)
    dist.on_main(lambda: check_free_space(run_dir, needed))
    if main:
        save_config(cfg, run_dir / "config.yaml")
    loop = state["loop"] if state else {}
    monitor = Monitor(run_dir, enabled=main, tensorboard=cfg.output.tensorboard,
                      progress=cfg.output.progress, max_epochs=cfg.train.max_epochs,
                      resume_epoch=loop.get("epoch", 0), resume_step=loop.get("global_step", 0))
    metadata = {"version": mlip_gnn.__version__, "model_spec": setup.spec.to_dict(),
                "config": config_to_dict(cfg), "config_hash": config_hash(cfg)}
    try:
        trainer = Trainer(model=dist.wrap_model(setup.model, run.device),
                          **_optimisation(cfg, setup.model, setup.param_groups),
                          train_loader=setup.train_loader, valid_loader=setup.valid_loader,
                          settings=LoopSettings.from_config(cfg, _test_share(setup.splits)),
                          monitor=monitor,
                          checkpoints=manager, device=run.device,
                          dtype=setup.spec.torch_dtype, stop=run.stop, metadata=metadata,
                          callbacks=run.callbacks)
        if state:
            trainer.load_state_dict(state)
        guard.started()
        return _fit(run, trainer, setup)
    finally:
        monitor.close()


def _fit(run: _Run, trainer: Trainer, setup: _Setup) -> TrainResult:
    cfg, info = run.cfg, run.info
    monitor, splits, run_dir = trainer.monitor, setup.splits, trainer.checkpoints.run_dir
    monitor.info("training on %s (%s, %d process(es)): %d train / %d valid / %d test frames, "
                 "species %s, %d parameters, run dir %s", trainer.device, setup.spec.dtype,
                 info.world_size, len(splits.train), len(splits.valid), len(splits.test),
                 list(setup.spec.species), sum(p.numel() for p in setup.model.parameters()),
                 run_dir)
    reason = trainer.fit()
    s = trainer.state
    result = TrainResult(run_dir, reason, s.epoch, s.best_epoch, s.best_value)
    if result.interrupted:
        monitor.info("stopped (%s) at epoch %d step %d; checkpoint written. Continue with: "
                     "mlip-gnn train <config> --resume %s", reason, s.epoch, s.step_in_epoch,
                     run_dir)
        if reason != "time limit":  # a signal: the job is being stopped, no time to test
            return result
    else:
        monitor.info("training finished (%s) after %d epochs; best %s %.6g at epoch %d",
                     reason, result.epochs_done, cfg.train.best_metric, result.best_value,
                     result.best_epoch)
    if splits.test:  # also after the time limit: the budget the config gave is spent
        result.test_metrics = _test(run, trainer, setup)
    return result
