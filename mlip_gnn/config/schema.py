"""The configuration schema: one keyword-only dataclass per YAML section.

Each field's annotation says what it may hold, ``setting`` gives its default, docstring
(with unit) and range; ``_cross_check`` holds the rules that involve more than one field.
Build instances with ``config_from_dict`` / ``load_config``, which validate; constructing
them directly does not.
"""

import math
import re
from dataclasses import dataclass
from typing import Literal

from mlip_gnn.defaults import ARCHITECTURE, DTYPE, PLATEAU_FACTOR, PLATEAU_PATIENCE
from mlip_gnn.utils.schema import ConfigError, Section, dotted, not_one_of, setting

from ._data import DataConfig
from ._long_range import LongRangeConfig, check_charge_labels
from ._stage import StageConfig, check_stage_order

AUTO = Literal["auto"]

#: parts of the model that finetune.freeze may name (besides ``layers.N``)
FREEZE_PARTS = ("embedding", "radial", "interactions", "products", "readouts")


@dataclass(kw_only=True)
class ModelConfig(Section):
    """Architecture: one family from NequIP-like (correlation 1) to MACE-like (2-3)."""

    num_layers: int = setting(ARCHITECTURE["num_layers"], "message-passing layers", ge=1, le=8)
    num_channels: int = setting(ARCHITECTURE["num_channels"], "feature channels per irrep", ge=1)
    max_ell: int = setting(
        ARCHITECTURE["max_ell"], "max L of the edge spherical harmonics", ge=0, le=4
    )
    hidden_ell: int = setting(
        ARCHITECTURE["hidden_ell"], "max L of the node features (<= max_ell)", ge=0
    )
    correlation: int = setting(
        ARCHITECTURE["correlation"],
        "body order of the product: 1 two-body, 2-3 many-body",
        ge=1,
        le=3,
    )
    num_bessel: int = setting(ARCHITECTURE["num_bessel"], "radial Bessel basis functions", ge=1)
    envelope_p: int = setting(
        ARCHITECTURE["envelope_p"], "exponent p of the polynomial cutoff envelope", ge=2
    )
    radial_mlp: list[int] = setting(
        factory=lambda: list(ARCHITECTURE["radial_mlp"]),
        doc="hidden widths of the radial MLP",
        ge=1,
    )
    avg_num_neighbors: AUTO | float = setting(
        "auto", "message normalisation; auto: mean neighbour count of train", gt=0
    )
    scale: AUTO | float = setting(
        "auto", "energy scale, eV; auto: RMS of train forces (eV/Å)", gt=0
    )
    shift: AUTO | float = setting(
        "auto", "per-atom energy shift, eV; auto: mean per-atom energy after E0s (0 with "
        "e0s: isolated, so that an isolated atom keeps its reference energy)"
    )
    zbl: bool = setting(ARCHITECTURE["zbl"], "add ZBL screened-nuclear repulsion at short range")
    spin: Literal["none", "collinear"] = setting(
        ARCHITECTURE["spin"], "collinear: per-atom magnetic moments (data.keys.magmoms) are "
        "an input; the energy is even under flipping all of them"
    )
    magmom_scale: float = setting(
        ARCHITECTURE["magmom_scale"], "typical moment that normalises the spin inputs, μB "
        "(only with spin: collinear)", gt=0
    )
    long_range: LongRangeConfig = setting(factory=LongRangeConfig,
                                          doc="terms beyond the cutoff (electrostatics)")
    init_scheme: Literal["stable", "legacy"] = setting(
        ARCHITECTURE["init_scheme"], "start scale: stable (radial basis constant sqrt(2/r_max), "
        "product orders >= 2 start at zero) or legacy (r_max*sqrt(2/3), random: models "
        "stored before this key, whose first epoch could blow up); a model keeps its own"
    )
    init_from: str | None = setting(
        None, "checkpoint or run directory whose weights start this run (fine-tuning); its "
        "architecture, r_max and dtype must match this section; new elements get fresh "
        "weights and E0s"
    )

    def _cross_check(self, where: str) -> None:
        if self.spin == "none" and self.magmom_scale != ARCHITECTURE["magmom_scale"]:
            path = dotted(where, "magmom_scale")
            raise ConfigError(
                f"{path}: set to {self.magmom_scale} but {dotted(where, 'spin')} is 'none', "
                "so it would do nothing; set spin: collinear or drop it",
                field=path,
            )
        if self.hidden_ell > self.max_ell:
            path = dotted(where, "hidden_ell")
            raise ConfigError(
                f"{path}: got {self.hidden_ell}; must be <= "
                f"{dotted(where, 'max_ell')} ({self.max_ell})",
                field=path,
            )


@dataclass(kw_only=True)
class LossConfig(Section):
    """Weighted sum of energy-per-atom, force and stress errors."""

    kind: Literal["mse", "huber"] = setting("mse", "error function of every term")
    huber_delta: float = setting(0.01, "Huber transition, in the unit of each term", gt=0)
    energy_weight: float = setting(
        10.0, "weight of the energy-per-atom term (eV/atom); by default that of a force "
        "component (eV/Å)", ge=0
    )
    forces_weight: float = setting(10.0, "weight of the force term", ge=0)
    stress_weight: float = setting(0.0, "weight of the stress term", ge=0)
    magnetic_forces_weight: float = setting(
        0.0, "weight of the -∂E/∂m term (eV/μB; model.spin: collinear, frames with "
        "data.keys.magnetic_forces)", ge=0
    )
    charges_weight: float = setting(
        0.0, "weight of the per-atom charge term (e; model.long_range latent, frames with "
        "data.keys.charges)", ge=0
    )
    stages: list[StageConfig] = setting(factory=list, doc="weight / lr changes during training")
    config_type_weights: dict[str, float] | None = setting(
        None,
        "loss weight per config_type, multiplying every term of the frames of that type "
        "(and a frame's own config_weight); types not listed 1; as MACE's "
        "config_type_weights. Unlike data.type_weights it leaves the sampling alone; null: 1",
    )

    def _cross_check(self, where: str) -> None:
        if self.config_type_weights is not None:
            path = dotted(where, "config_type_weights")
            bad = {name: w for name, w in self.config_type_weights.items()
                   if not (math.isfinite(w) and w >= 0)}
            if bad:
                raise ConfigError(f"{path}: weights must be finite and >= 0, got {bad}",
                                  field=path)
        weights = [self.energy_weight, self.forces_weight, self.stress_weight]
        if not any(weights):
            raise ConfigError(
                f"{where}: energy_weight, forces_weight and stress_weight are "
                "all 0; at least one must be > 0",
                field=where,
            )
        for i, stage in enumerate(self.stages):
            path = f"{dotted(where, 'stages')}[{i}]"
            check_stage_order(stage, self.stages[i - 1] if i else None, path)
            new = [stage.energy_weight, stage.forces_weight, stage.stress_weight]
            weights = [old if n is None else n for old, n in zip(weights, new, strict=True)]
            if not any(weights):
                raise ConfigError(f"{path}: leaves every loss weight at 0", field=path)


@dataclass(kw_only=True)
class OptimConfig(Section):
    """Optimizer, learning-rate schedule, EMA and gradient clipping."""

    optimizer: Literal["adam", "adamw"] = setting("adam", "adam, or adamw (decoupled weight decay)")
    lr: float = setting(0.005, "initial learning rate", gt=0)
    weight_decay: float = setting(0.0, "L2 (adam) or decoupled (adamw) weight decay", ge=0)
    no_weight_decay: list[str] = setting(
        factory=list,
        doc="parts the weight decay spares: embedding, radial, interactions, products, "
        "readouts, layers.N (MACE spares [embedding, radial, readouts])",
    )
    amsgrad: bool = setting(True, "use the AMSGrad variant")
    scheduler: Literal["plateau", "cosine", "step", "none"] = setting(
        "plateau", "lr schedule: reduce on plateau, cosine decay to min_lr over the run, "
        "steps (x step_factor at each fraction in step_at), or constant"
    )
    step_at: list[float] = setting(
        factory=list, doc="scheduler step: fractions of the run at which the lr is "
        "multiplied by step_factor", ge=0, le=1,
    )
    step_factor: float = setting(0.1, "scheduler step: lr multiplier at each step_at", gt=0,
                                 lt=1)
    plateau_factor: float = setting(
        PLATEAU_FACTOR, "lr multiplier when validation stalls", gt=0, lt=1
    )
    plateau_patience: int = setting(
        PLATEAU_PATIENCE, "validation rounds without improvement", ge=0
    )
    min_lr: float = setting(0.0, "lower bound of the learning rate", ge=0)
    warmup: float = setting(
        0.0, "fraction of the run of linear lr warm-up, from lr/10 to lr, per step", ge=0, lt=1
    )
    warmup_epochs: int = setting(0, "epochs of linear lr warm-up (instead of warmup)", ge=0)
    ema_decay: float | None = setting(0.99, "EMA of the weights; null: no EMA", ge=0, lt=1)
    ema_start: float = setting(
        0.0, "fraction of the run before which the EMA follows the raw weights (averaging "
        "starts afresh there)", ge=0, lt=1
    )
    grad_clip: float | None = setting(10.0, "max gradient norm; null: no clipping", gt=0)

    def _cross_check(self, where: str) -> None:
        _check_parts(self.no_weight_decay, dotted(where, "no_weight_decay"))
        if self.warmup and self.warmup_epochs:
            path = dotted(where, "warmup_epochs")
            raise ConfigError(f"{path}: give the warm-up as {dotted(where, 'warmup')} "
                              "(fraction of the run) or in epochs, not both", field=path)
        if (self.scheduler == "step") != bool(self.step_at):
            path = dotted(where, "step_at")
            raise ConfigError(
                f"{path}: got {self.step_at}; a list of fractions is needed with, and only "
                f"with, {dotted(where, 'scheduler')}: step (scheduler: {self.scheduler})",
                field=path)
        if self.step_at != sorted(set(self.step_at)):
            path = dotted(where, "step_at")
            raise ConfigError(f"{path}: got {self.step_at}; fractions must be strictly "
                              "increasing", field=path)
        if self.ema_start and self.ema_decay is None:
            path = dotted(where, "ema_start")
            raise ConfigError(f"{path}: got {self.ema_start} but {dotted(where, 'ema_decay')} "
                              "is null (no EMA)", field=path)
        if self.min_lr > self.lr:
            path = dotted(where, "min_lr")
            raise ConfigError(
                f"{path}: got {self.min_lr}; must be <= {dotted(where, 'lr')} ({self.lr})",
                field=path,
            )


@dataclass(kw_only=True)
class TrainConfig(Section):
    """When to validate, checkpoint and stop."""

    max_epochs: int | None = setting(
        100, "length of the run in epochs; null: none (set max_steps or budget_minutes)", ge=1
    )
    max_steps: int | None = setting(None, "length of the run in optimiser steps; null: none",
                                    ge=1)
    budget_minutes: float | None = setting(
        None, "length of the run in minutes of training, counted over resumes (validation "
        "and checkpoints included, time for the last validation and the test set kept in "
        "hand); null: none. When several lengths are set the run ends at the first reached, "
        "and fractions (loss.stages[].at, optim.warmup, ...) are of that one", gt=0
    )
    max_time_minutes: float | None = setting(
        None, "wall-time limit of this process, minutes: checkpoint and stop (resume to "
        "continue; for a job's time limit); null: none", gt=0
    )
    early_stopping_patience: int | None = setting(
        None, "validation rounds without improvement before stopping", ge=1
    )
    valid_interval: int = setting(1, "epochs between validations", ge=1)
    best_metric: Literal[
        "energy_mae",
        "energy_rmse",
        "forces_mae",
        "forces_rmse",
        "stress_mae",
        "stress_rmse",
        "loss",
        "last",
    ] = setting(
        "loss",
        "validation metric that picks the best model; loss: the weighted loss of the "
        "current stage, so an energy-weighted last stage picks a model good at both; last: "
        "the latest validated model, for a fixed schedule (cosine) whose end is its point",
    )
    checkpoint_interval: int = setting(1, "epochs between checkpoints", ge=1)
    max_bad_steps: int = setting(10, "NaN/Inf losses tolerated before stopping", ge=1)

    _retired = {
        "fit_to_time_limit": "set train.budget_minutes (the run's length in minutes; give "
        "loss.stages as fractions, at: 0.6) instead of max_time_minutes with "
        "fit_to_time_limit: true",
    }

    def _cross_check(self, where: str) -> None:
        if self.max_epochs is None and self.max_steps is None and self.budget_minutes is None:
            path = dotted(where, "max_epochs")
            raise ConfigError(
                f"{path}: null, and so are {dotted(where, 'max_steps')} and "
                f"{dotted(where, 'budget_minutes')}; set at least one length of the run",
                field=path)


@dataclass(kw_only=True)
class FinetuneConfig(Section):
    """How a run that starts from model.init_from trains its pretrained weights."""

    freeze: list[str] = setting(
        factory=list,
        doc="parts kept fixed: embedding, radial, interactions, products, readouts, layers.N "
        "(rows of elements new to the model still train)",
    )
    reinit: list[str] = setting(
        factory=list, doc="parts started afresh (trained at the full learning rate); same names"
    )
    pretrained_lr_factor: float = setting(
        1.0, "learning rate of pretrained weights relative to the schedule's", gt=0, le=1
    )
    replay: list[str] | None = setting(
        None, "file(s) of the data the model was trained on, replayed against forgetting",
        one_or_many=True,
    )
    replay_fraction: float = setting(
        0.2, "fraction of each epoch's training frames drawn from replay", gt=0, lt=1
    )

    def _cross_check(self, where: str) -> None:
        for name in ("freeze", "reinit"):
            _check_parts(getattr(self, name), dotted(where, name))
        both = sorted(set(self.freeze) & set(self.reinit))
        if both:
            path = dotted(where, "reinit")
            raise ConfigError(
                f"{path}: {both} also in {dotted(where, 'freeze')}; a part started afresh "
                "must train",
                field=path,
            )


def _check_parts(parts: list[str], where: str) -> None:
    for i, part in enumerate(parts):
        if part in FREEZE_PARTS or re.fullmatch(r"layers\.\d+", part):
            continue
        raise not_one_of(f"{where}[{i}]", f"unknown part {part!r}", part, FREEZE_PARTS,
                          f"valid: {', '.join(FREEZE_PARTS)}, or layers.N for interaction "
                          "layer N")


@dataclass(kw_only=True)
class OutputConfig(Section):
    """Where and what to write."""

    run_dir: str = setting("runs/default", "run directory (checkpoints, logs, config copy)")
    tensorboard: bool = setting(True, "write TensorBoard logs")
    progress: bool = setting(True, "show a progress bar")
    keep_checkpoints: int = setting(2, "periodic checkpoints kept besides best/last", ge=1)


@dataclass(kw_only=True)
class Config(Section):
    """A whole training run. Only ``data.train`` is required."""

    seed: int = setting(0, "seed of every random number generator")
    device: str = setting(
        "auto",
        "where to run",
        pattern=r"auto|cpu|cuda(:\d+)?",
        allowed="'auto', 'cpu', 'cuda' or 'cuda:N'",
    )
    dtype: Literal["float32", "float64"] = setting(DTYPE, "model precision")
    tf32: bool = setting(False, "allow TF32 matmuls on Ampere+ GPUs")
    data: DataConfig = setting(doc="data section with at least 'train'")
    model: ModelConfig = setting(factory=ModelConfig, doc="architecture")
    loss: LossConfig = setting(factory=LossConfig, doc="loss terms and stages")
    optim: OptimConfig = setting(factory=OptimConfig, doc="optimizer and schedule")
    train: TrainConfig = setting(factory=TrainConfig, doc="training loop")
    finetune: FinetuneConfig = setting(
        factory=FinetuneConfig, doc="fine-tuning options (need model.init_from)"
    )
    output: OutputConfig = setting(factory=OutputConfig, doc="outputs")

    def _cross_check(self, where: str) -> None:
        self._check_finetune()
        keys = self.data.keys
        magnetic = [self.loss.magnetic_forces_weight]
        magnetic += [s.magnetic_forces_weight for s in self.loss.stages]
        if self.model.spin == "none" and any(magnetic):
            raise ConfigError(
                "loss.magnetic_forces_weight (or a stage's) > 0 but model.spin is 'none': "
                "only a spin model predicts -∂E/∂m; set model.spin: collinear",
                field="loss.magnetic_forces_weight",
            )
        if any(magnetic) and keys.magnetic_forces is None:
            raise ConfigError(
                "loss.magnetic_forces_weight > 0 but data.keys.magnetic_forces is null; name "
                "the per-atom array of -∂E/∂m",
                field="loss.magnetic_forces_weight",
            )
        check_charge_labels(self.loss, self.model.long_range.electrostatics, keys.charges)
        if self.loss.stress_weight > 0 and keys.stress is None and keys.virial is None:
            raise ConfigError(
                "loss.stress_weight > 0 but data.keys.stress and "
                "data.keys.virial are both null; set one of them",
                field="loss.stress_weight",
            )

    def _check_finetune(self) -> None:
        if self.model.init_from is not None:
            return
        f = self.finetune
        for name, is_set in (("freeze", bool(f.freeze)), ("reinit", bool(f.reinit)),
                             ("pretrained_lr_factor", f.pretrained_lr_factor != 1.0),
                             ("replay", f.replay is not None)):
            if is_set:
                raise ConfigError(
                    f"finetune.{name} is set but model.init_from is null; name the "
                    "checkpoint or run directory to fine-tune",
                    field=f"finetune.{name}",
                )
