"""The ``data`` section of the training config and the label names it reads
(``data.keys``)."""

from dataclasses import dataclass
from typing import Literal

from mlip_gnn.defaults import R_MAX
from mlip_gnn.utils.schema import ConfigError, Section, dotted, not_one_of, setting

from ._elements import ELEMENT_SYMBOLS

__all__ = ["DataConfig", "KeysConfig"]


@dataclass(kw_only=True)
class KeysConfig(Section):
    """Names of the labels in the data files; null means: do not read that label."""

    energy: str | None = setting("energy", "total energy, eV")
    forces: str | None = setting("forces", "per-atom forces, eV/Å")
    stress: str | None = setting("stress", "stress, eV/Å³, ASE sign (positive = tensile)")
    virial: str | None = setting("virial", "virial, eV (used when stress is absent)")
    weight: str | None = setting("config_weight", "per-frame weight in the loss, unitless")
    config_type: str | None = setting("config_type", "frame label for per-type metrics")
    magmoms: str = setting(
        "initial_magmoms", "per-atom collinear magnetic moments, μB (read only with "
        "model.spin: collinear; e.g. initial_magmoms or magmoms)"
    )
    magnetic_forces: str | None = setting(
        "magnetic_forces", "per-atom -∂E/∂m labels, eV/μB (constrained-moment DFT; read only "
        "with model.spin: collinear)"
    )
    charge: str | None = setting(
        "charge", "total charge of a frame in atoms.info, e (absent: neutral; used by "
        "model.long_range)"
    )
    charges: str | None = setting(
        None, "per-atom charge labels, e (e.g. xtb_charges, Hirshfeld charges), fitted by "
        "loss.charges_weight (read only with model.long_range.electrostatics: latent; frames "
        "without them are left out of that term); null: not read"
    )


@dataclass(kw_only=True)
class DataConfig(Section):
    """Where the data is and how it is batched."""

    train: list[str] = setting(
        doc="training file(s), any format ASE reads, or dataset dir(s) made by mlip-gnn "
        "preprocess",
        one_or_many=True,
    )
    train_weights: list[float] | None = setting(
        None,
        "share of each train entry in an epoch (same order and length as train; an epoch "
        "keeps the total frame count); null: every frame once per epoch",
        gt=0,
    )
    type_weights: dict[str, float] | None = setting(
        None,
        "sampling rate per config_type, relative to the types not listed (1): a frame of "
        "a type with rate 4 is drawn 4 times as often (an epoch keeps the total frame "
        "count); null: every frame once per epoch",
    )
    valid: list[str] | None = setting(
        None, "validation file(s); null: split off train", one_or_many=True
    )
    test: list[str] | None = setting(
        None, "test file(s), evaluated after training", one_or_many=True
    )
    valid_fraction: float = setting(
        0.1, "fraction of train held out when valid is null", gt=0, lt=1
    )
    split_seed: int | None = setting(None, "seed of the train/valid split; null: top-level seed")
    keys: KeysConfig = setting(factory=KeysConfig, doc="label names in the files")
    r_max: float = setting(R_MAX, "cutoff radius, Å", gt=0)
    batch_by: Literal["structures", "atoms", "edges"] = setting(
        "structures", "unit of batch_size and valid_batch_size"
    )
    batch_size: int = setting(
        4, "training batch, summed over processes, in batch_by units (frames, atoms or "
        "edges; a frame larger than the budget is a batch of its own)", ge=1
    )
    valid_batch_size: int | None = setting(
        None, "validation batch in batch_by units; null: batch_size", ge=1
    )
    e0s: Literal["least_squares", "isolated"] | dict[str, float] = setting(
        "least_squares",
        "reference atomic energies: least squares fit on train, isolated-atom frames in "
        "train, or a mapping element symbol -> eV",
    )
    num_workers: int = setting(0, "DataLoader worker processes; 0: load in the main process", ge=0)

    def _cross_check(self, where: str) -> None:
        for name in ("train", "valid", "test"):
            files = getattr(self, name)
            if files is not None and (not files or "" in files):
                raise ConfigError(
                    f"{dotted(where, name)}: got {files!r}; must name at least "
                    "one file and no empty path",
                    field=dotted(where, name),
                )
        if self.train_weights is not None and len(self.train_weights) != len(self.train):
            path = dotted(where, "train_weights")
            raise ConfigError(
                f"{path}: got {len(self.train_weights)} weight(s) for "
                f"{len(self.train)} train entr{'y' if len(self.train) == 1 else 'ies'}; "
                "give one weight per entry of train, in the same order",
                field=path,
            )
        if self.type_weights is not None:
            path = dotted(where, "type_weights")
            if self.train_weights is not None:
                raise ConfigError(
                    f"{path}: cannot be combined with {dotted(where, 'train_weights')}; "
                    "weight either the train entries or the config types",
                    field=path,
                )
            bad = {name: w for name, w in self.type_weights.items() if not w > 0}
            if bad:
                raise ConfigError(f"{path}: rates must be > 0, got {bad}", field=path)
        if isinstance(self.e0s, dict):
            for symbol in self.e0s:
                if symbol not in ELEMENT_SYMBOLS:
                    raise not_one_of(dotted(where, "e0s"), f"key {symbol!r} is not an element "
                                      "symbol", symbol, ELEMENT_SYMBOLS,
                                      "keys must be symbols such as 'H', 'Si'")
