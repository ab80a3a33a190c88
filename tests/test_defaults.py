"""One default per value: the config, the model builder and the lr schedule agree."""

import inspect

from mlip_gnn import defaults
from mlip_gnn.config import config_from_dict
from mlip_gnn.model import build_model
from mlip_gnn.train.model_spec import model_architecture
from mlip_gnn.train.schedule import LRSchedule


def test_config_and_builder_share_the_architecture_defaults():
    cfg = config_from_dict({"data": {"train": "x.xyz"}})
    # the config's model section as builder keywords (model.long_range's fields flattened)
    from_config = model_architecture(cfg)
    builder = {name: p.default for name, p in inspect.signature(build_model).parameters.items()}
    for name, value in defaults.ARCHITECTURE.items():
        expected = list(value) if isinstance(value, tuple) else value
        assert from_config[name] == expected, name
        if name != "radial_mlp":  # the builder's None stands for the default widths
            assert builder[name] == value, name
    assert cfg.data.r_max == builder["r_max"] == defaults.R_MAX
    assert cfg.dtype == builder["dtype"] == defaults.DTYPE


def test_builder_default_radial_mlp_is_the_config_default():
    a = build_model(species=[29], num_channels=4, seed=0)
    b = build_model(species=[29], num_channels=4, seed=0,
                    radial_mlp=config_from_dict({"data": {"train": "x"}}).model.radial_mlp)
    assert [p.shape for p in a.parameters()] == [p.shape for p in b.parameters()]


def test_config_and_schedule_share_the_plateau_defaults():
    optim = config_from_dict({"data": {"train": "x.xyz"}}).optim
    params = inspect.signature(LRSchedule).parameters
    assert optim.plateau_factor == params["plateau_factor"].default == defaults.PLATEAU_FACTOR
    assert optim.plateau_patience == params["plateau_patience"].default \
        == defaults.PLATEAU_PATIENCE
