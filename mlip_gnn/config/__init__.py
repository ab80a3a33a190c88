"""YAML → validated, typed configuration (stdlib + PyYAML only).

>>> cfg = config_from_dict({"data": {"train": "train.xyz"}})
>>> cfg.data.train, cfg.model.num_layers
(['train.xyz'], 2)
"""

from mlip_gnn.utils.schema import ConfigError
from .loader import (config_from_dict, config_hash, config_to_dict, load_config,
                     read_yaml_mapping, save_config)
from ._data import DataConfig, KeysConfig
from ._long_range import LONG_RANGE_ARGUMENTS, LongRangeConfig
from .schema import (
    Config,
    FinetuneConfig,
    FREEZE_PARTS,
    LossConfig,
    ModelConfig,
    OptimConfig,
    OutputConfig,
    StageConfig,
    TrainConfig,
)

__all__ = [
    "Config",
    "ConfigError",
    "DataConfig",
    "FinetuneConfig",
    "FREEZE_PARTS",
    "KeysConfig",
    "LONG_RANGE_ARGUMENTS",
    "LongRangeConfig",
    "LossConfig",
    "ModelConfig",
    "OptimConfig",
    "OutputConfig",
    "StageConfig",
    "TrainConfig",
    "config_from_dict",
    "config_hash",
    "config_to_dict",
    "load_config",
    "read_yaml_mapping",
    "save_config",
]
