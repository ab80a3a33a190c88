"""The active-learning YAML (``AL.yaml``): one keyword-only dataclass per section.

Validated by the same machinery as the training config (:mod:`mlip_gnn.config`): unknown
keys, wrong types and values out of range are :class:`~mlip_gnn.config.ConfigError` naming
the dotted key. Two mappings are free-form because they are handed on unchanged:
``label.kwargs`` (keyword arguments of an ASE calculator) and ``select.estimator_options``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from mlip_gnn.config import ConfigError, read_yaml_mapping
from mlip_gnn.utils.schema import Section, build, dotted, setting

__all__ = ["ALConfig", "BulkConfig", "StructureConfig", "InitialConfig", "TrainingConfig",
           "ScheduleStage", "ExploreConfig", "SelectConfig", "LabelConfig", "StopConfig",
           "HeldoutConfig", "HeldoutMDConfig", "load_al_config", "al_config_from_dict"]

#: free-form mappings: (section, key) taken out before validation and put back after
_FREE_FORM = (("label", "kwargs"), ("select", "estimator_options"))


def _exactly_one(section: Section, where: str, first: str, second: str) -> None:
    """A section that takes one of two alternative keys: exactly one must be given."""
    if (getattr(section, first) is None) == (getattr(section, second) is None):
        raise ConfigError(f"{where}: give exactly one of {first!r} and {second!r}", field=where)


@dataclass(kw_only=True)
class BulkConfig(Section):
    """Keyword arguments of ``ase.build.bulk``."""

    name: str = setting(doc="chemical formula, e.g. 'Cu'")
    crystalstructure: str | None = setting(None, "fcc, bcc, hcp, diamond, ...; null: ASE's")
    a: float | None = setting(None, "lattice constant, Å; null: ASE's", gt=0)
    c: float | None = setting(None, "lattice constant c, Å (hcp ...)", gt=0)
    cubic: bool = setting(False, "cubic cell")
    orthorhombic: bool = setting(False, "orthorhombic cell")


@dataclass(kw_only=True)
class StructureConfig(Section):
    """A named starting structure: read from a file or built by ``ase.build.bulk``."""

    file: str | None = setting(None, "structure file, any format ASE reads (relative to AL.yaml)")
    index: int = setting(0, "frame of file")
    bulk: BulkConfig | None = setting(None, "ase.build.bulk arguments")
    repeat: list[int] = setting(factory=lambda: [1, 1, 1], doc="supercell repeats", ge=1)

    def _cross_check(self, where: str) -> None:
        _exactly_one(self, where, "file", "bulk")
        if len(self.repeat) != 3:
            path = dotted(where, "repeat")
            raise ConfigError(f"{path}: got {self.repeat}; must be 3 integers", field=path)


@dataclass(kw_only=True)
class InitialConfig(Section):
    """The first training set: labelled files, or seed structures labelled on the spot."""

    file: list[str] | None = setting(None, "labelled frames (energy, forces)", one_or_many=True)
    structures: list[str] | None = setting(
        None, "names in 'structures': rattled, strained copies are labelled", one_or_many=True)
    frames: int = setting(10, "frames made from the seed structures", ge=2)
    rattle: float = setting(0.05, "std of random displacements, Å", ge=0)
    strain: float = setting(0.02, "largest symmetric strain component", ge=0, lt=0.5)

    def _cross_check(self, where: str) -> None:
        _exactly_one(self, where, "file", "structures")


@dataclass(kw_only=True)
class TrainingConfig(Section):
    """How each iteration's models are trained: a training config plus overrides."""

    config: str = setting(doc="training YAML (relative to AL.yaml); data paths, seed and "
                          "output.run_dir are set by the loop")
    overrides: list[str] = setting(factory=list, doc="'section.key=value' applied to config")
    committee: int = setting(3, "models per iteration, seeds seed, seed+1, ...", ge=1)
    warm_start: bool = setting(True, "start each retraining from the previous iteration's "
                               "model of the same seed (model.init_from)")
    warm_start_overrides: list[str] = setting(
        factory=list, doc="extra overrides of warm-started retraining, e.g. "
        "'train.max_epochs=10'")


@dataclass(kw_only=True)
class ScheduleStage(Section):
    """Conditions of one iteration's exploration."""

    temperatures: list[float] = setting(doc="thermostat targets, K", gt=0)
    pressures: list[float] | None = setting(None, "NPT pressures, GPa; null: constant volume "
                                            "(Langevin)")
    steps: int | None = setting(None, "MD steps; null: explore.steps", ge=1)

    def _cross_check(self, where: str) -> None:
        if not self.temperatures:
            path = dotted(where, "temperatures")
            raise ConfigError(f"{path}: give at least one temperature", field=path)
        if self.pressures is not None and not self.pressures:
            path = dotted(where, "pressures")
            raise ConfigError(f"{path}: empty; give pressures or null", field=path)


@dataclass(kw_only=True)
class ExploreConfig(Section):
    """MD with the current models from several structures under a schedule of conditions."""

    structures: list[str] = setting(doc="names in 'structures' to start from", one_or_many=True)
    schedule: list[ScheduleStage] = setting(
        doc="conditions per iteration: entry i for iteration i, the last for the rest")
    steps: int = setting(500, "MD steps per trajectory", ge=1)
    timestep_fs: float = setting(2.0, "time step, fs", gt=0)
    interval: int = setting(10, "steps between frames kept for selection", ge=1)
    friction_per_fs: float = setting(0.01, "Langevin friction, 1/fs", gt=0)
    strain: float = setting(0.0, "largest random symmetric strain of each start; 0: none",
                            ge=0, lt=0.5)
    trajectories: int = setting(1, "trajectories per structure and condition", ge=1)
    search: str | None = setting(
        None, "a structure-search YAML (as for mlip-gnn search; relative to AL.yaml) run "
        "beside the MD every round with the round's committee: its distinct minima join the "
        "explored frames as the condition 'search'; null: MD only")
    search_trials: int | None = setting(
        None, "local relaxations of that search per round; null: the search file's trials",
        ge=1)

    def _cross_check(self, where: str) -> None:
        if not self.schedule:
            path = dotted(where, "schedule")
            raise ConfigError(f"{path}: give at least one stage", field=path)


@dataclass(kw_only=True)
class SelectConfig(Section):
    """DP-GEN scheme on the largest per-atom force uncertainty of a frame (eV/Å)."""

    estimator: str = setting("committee", "uncertainty estimator: a registered name or "
                             "'module:factory'")
    strategy: Literal["uncertainty", "random"] = setting(
        "uncertainty", "uncertainty: between the thresholds, farthest-point sampled; random: "
        "uniform over the explored frames (a baseline)")
    lower: float = setting(doc="below: accurate, eV/Å", gt=0)
    upper: float = setting(doc="above: unphysical, discarded; MD stops there, eV/Å", gt=0)
    max_candidates: int = setting(10, "frames labelled per iteration", ge=1)
    features: Literal["node_features", "readout_hidden"] = setting(
        "node_features", "per-atom features (last layer) whose per-frame mean is the "
        "descriptor of farthest-point sampling")
    estimator_options: dict[str, Any] = setting(
        factory=dict, doc="keyword arguments of the estimator's factory (free-form)")

    def _cross_check(self, where: str) -> None:
        if self.upper <= self.lower:
            path = dotted(where, "upper")
            raise ConfigError(f"{path}: got {self.upper}; must be > {dotted(where, 'lower')} "
                              f"({self.lower})", field=path)


@dataclass(kw_only=True)
class LabelConfig(Section):
    """The reference method: an ASE calculator, or a command."""

    calculator: str | None = setting(None, "import path of an ASE calculator class, e.g. "
                                     "'ase.calculators.emt:EMT'")
    command: str | None = setting(
        None, "shell command run in a fresh folder per structure; {input} (extended XYZ to "
        "read) and {output} (extended XYZ to write, with energy and forces) are filled in")
    timeout_s: float | None = setting(None, "command time limit, s; null: none", gt=0)
    kwargs: dict[str, Any] = setting(factory=dict, doc="keyword arguments of the calculator "
                                     "(free-form)")

    def _cross_check(self, where: str) -> None:
        _exactly_one(self, where, "calculator", "command")


@dataclass(kw_only=True)
class StopConfig(Section):
    """When the loop ends (whichever comes first)."""

    accurate_fraction: float = setting(
        0.95, "fraction of accurate frames at the hardest condition of the last schedule "
        "stage", gt=0, le=1)
    max_iterations: int = setting(10, "iterations (each trains, explores, labels)", ge=1)
    max_labels: int | None = setting(None, "labelled frames in all, initial included", ge=1)


@dataclass(kw_only=True)
class HeldoutMDConfig(Section):
    """A held-out set made by MD with the reference calculator."""

    structure: str = setting(doc="name in 'structures'")
    temperature: float = setting(doc="Langevin target, K", gt=0)
    frames: int = setting(20, "frames kept", ge=1)
    equilibration_steps: int = setting(200, "steps before the first frame", ge=0)
    interval: int = setting(20, "steps between frames", ge=1)
    timestep_fs: float = setting(2.0, "time step, fs", gt=0)


@dataclass(kw_only=True)
class HeldoutConfig(Section):
    """Labelled frames the models never train on: their errors are logged per iteration."""

    file: list[str] | None = setting(None, "labelled frames", one_or_many=True)
    generate: HeldoutMDConfig | None = setting(None, "make them by MD with label.calculator")

    def _cross_check(self, where: str) -> None:
        _exactly_one(self, where, "file", "generate")


@dataclass(kw_only=True)
class ALConfig(Section):
    """A whole active-learning run."""

    seed: int = setting(0, "seed of structures, MD and selection (training: its own seed)")
    work_dir: str = setting("runs/active_learning", "where iterations, logs and plots go")
    device: str = setting("auto", "device of exploration and evaluation (auto: CUDA "
                          "when available)", pattern=r"auto|cpu|cuda(:\d+)?",
                          allowed="'auto', 'cpu', 'cuda' or 'cuda:N'")
    structures: dict[str, StructureConfig] = setting(factory=dict, doc="named structures")
    initial: InitialConfig = setting(doc="first training set")
    training: TrainingConfig = setting(doc="model training")
    explore: ExploreConfig = setting(doc="exploration MD")
    select: SelectConfig = setting(doc="candidate selection")
    label: LabelConfig = setting(doc="reference labelling")
    stop: StopConfig = setting(factory=StopConfig, doc="when to stop")
    heldout: HeldoutConfig | None = setting(None, "held-out set for the error log")

    def _cross_check(self, where: str) -> None:
        names = list(self.structures)
        uses = [("initial.structures", self.initial.structures or []),
                ("explore.structures", self.explore.structures)]
        if self.heldout is not None and self.heldout.generate is not None:
            uses.append(("heldout.generate.structure", [self.heldout.generate.structure]))
            if self.label.calculator is None:
                raise ConfigError("heldout.generate needs label.calculator (MD with the "
                                  "reference); give heldout.file instead",
                                  field="heldout.generate")
        for path, used in uses:
            for name in used:
                if name not in self.structures:
                    raise ConfigError(f"{path}: {name!r} is not in 'structures' (defined: "
                                      f"{', '.join(names) or 'none'})", field=path)


def _take_free_form(raw: dict[str, Any], source: str) -> dict[tuple, dict[str, Any]]:
    taken = {}
    for section, key in _FREE_FORM:
        block = raw.get(section)
        if not isinstance(block, dict) or key not in block:
            continue
        value = block.pop(key)
        path = f"{section}.{key}"
        if value is None:
            value = {}
        if not isinstance(value, Mapping) or not all(isinstance(k, str) for k in value):
            raise ConfigError(f"{path}: got {value!r}; expected a mapping of names to values",
                              field=path, source=source)
        taken[section, key] = dict(value)
    return taken


def al_config_from_dict(raw: Mapping[str, Any], source: str = "<dict>",
                        base_dir: str | os.PathLike | None = None) -> ALConfig:
    """Validate a plain dict into an :class:`ALConfig`. Relative file paths in it are made
    absolute against ``base_dir`` (default: the working directory), ``work_dir`` against
    the working directory."""
    raw = {k: (dict(v) if isinstance(v, Mapping) else v) for k, v in raw.items()}
    free = _take_free_form(raw, source)
    try:
        cfg = build(ALConfig, raw)
    except ConfigError as err:
        raise ConfigError(err.message, field=err.field, source=source) from None
    for (section, key), value in free.items():
        setattr(getattr(cfg, section), key, value)
    _absolute_paths(cfg, Path(base_dir) if base_dir is not None else Path.cwd())
    return cfg


def load_al_config(path: str | os.PathLike) -> ALConfig:
    """Read and validate an AL.yaml; paths in it are relative to its folder."""
    path = Path(path)
    raw = read_yaml_mapping(path, "active-learning config")
    return al_config_from_dict(raw, str(path), path.resolve().parent)


def _absolute_paths(cfg: ALConfig, base: Path) -> None:
    def absolute(p: str) -> str:
        return os.path.normpath(base / os.path.expanduser(p))

    cfg.training.config = absolute(cfg.training.config)
    for structure in cfg.structures.values():
        if structure.file is not None:
            structure.file = absolute(structure.file)
    if cfg.initial.file is not None:
        cfg.initial.file = [absolute(p) for p in cfg.initial.file]
    if cfg.heldout is not None and cfg.heldout.file is not None:
        cfg.heldout.file = [absolute(p) for p in cfg.heldout.file]
    if cfg.explore.search is not None:
        cfg.explore.search = absolute(cfg.explore.search)
    cfg.work_dir = os.path.normpath(Path.cwd() / os.path.expanduser(cfg.work_dir))
