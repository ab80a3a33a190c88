"""A loss stage of the config (``loss.stages[]``): where it starts, as a fraction of the run
or an epoch, and what it changes."""

from dataclasses import dataclass

from mlip_gnn.utils.schema import ConfigError, Section, dotted, setting

__all__ = ["StageConfig", "check_stage_order"]


@dataclass(kw_only=True)
class StageConfig(Section):
    """From a point of the run on (``at``, a fraction of it, or ``epoch``), replace the
    given loss weights / learning rate / weight decay."""

    at: float | None = setting(
        None, "fraction of the run (of train.budget_minutes, max_steps or max_epochs, "
        "whichever ends it) at which the stage starts; checked before every optimiser step",
        ge=0, le=1,
    )
    epoch: int | None = setting(None, "0-based epoch at which the stage starts (instead of at)",
                                ge=1)
    energy_weight: float | None = setting(None, "null: unchanged", ge=0)
    forces_weight: float | None = setting(None, "null: unchanged", ge=0)
    stress_weight: float | None = setting(None, "null: unchanged", ge=0)
    magnetic_forces_weight: float | None = setting(None, "null: unchanged", ge=0)
    charges_weight: float | None = setting(None, "null: unchanged", ge=0)
    lr: float | None = setting(None, "learning rate; null: unchanged", gt=0)
    weight_decay: float | None = setting(
        None, "optimiser weight decay from here on (as optim.weight_decay; the parts in "
        "optim.no_weight_decay stay spared); null: unchanged", ge=0
    )

    @property
    def start(self) -> float:
        """Where the stage starts, in its own unit (fraction or epoch)."""
        return self.epoch if self.at is None else self.at

    def _cross_check(self, where: str) -> None:
        if (self.at is None) == (self.epoch is None):
            raise ConfigError(
                f"{where}: give exactly one of 'at' (fraction of the run, e.g. at: 0.6) and "
                f"'epoch'; got at={self.at!r}, epoch={self.epoch!r}",
                field=dotted(where, "at"),
            )



def check_stage_order(stage: StageConfig, previous: StageConfig | None, path: str) -> None:
    """Stages are all fractions or all epochs, and start one after another."""
    if previous is None:
        return
    unit = "at" if stage.at is not None else "epoch"
    if (previous.at is None) != (stage.at is None):
        raise ConfigError(
            f"{path}.{unit}: every stage must start by 'at' (fraction of the run) or every "
            "stage by 'epoch'; this one differs from the previous", field=f"{path}.{unit}")
    if stage.start <= previous.start:
        raise ConfigError(
            f"{path}.{unit}: got {stage.start}; stage starts must be strictly increasing "
            f"(previous: {previous.start})", field=f"{path}.{unit}")
