import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import yaml

from mlip_gnn.config import (
    Config,
    ConfigError,
    DataConfig,
    ModelConfig,
    config_from_dict,
    config_hash,
    config_to_dict,
    load_config,
    save_config,
)

REPO = Path(__file__).resolve().parents[2]


def minimal(**sections):
    return {"data": {"train": "train.xyz"}, **sections}


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))
    return path


def error_of(d) -> str:
    with pytest.raises(ConfigError) as info:
        config_from_dict(d)
    return str(info.value)


FULL = """\
seed: 7
device: cuda:1
dtype: float64
tf32: true
data:
  train: [a.xyz, sub/b.xyz]
  valid: v.xyz
  test: null
  valid_fraction: 0.2
  split_seed: 3
  keys: {energy: free_energy, forces: F, stress: null, virial: vir, weight: w, config_type: ct}
  r_max: 4.5
  batch_size: 8
  valid_batch_size: 16
  e0s: {Si: -0.5, O: -1}
  num_workers: 2
model:
  num_layers: 3
  num_channels: 16
  max_ell: 3
  hidden_ell: 2
  correlation: 3
  num_bessel: 6
  envelope_p: 5
  radial_mlp: [32, 16]
  avg_num_neighbors: 12.5
  scale: 2
  shift: auto
  zbl: true
loss:
  kind: huber
  huber_delta: 0.05
  energy_weight: 2
  forces_weight: 20.0
  stress_weight: 0.5
  stages:
    - {epoch: 10, energy_weight: 100.0}
    - {epoch: 20, lr: 1.0e-4}
optim:
  optimizer: adamw
  lr: 1.0e-3
  weight_decay: 1.0e-5
  amsgrad: false
  scheduler: cosine
  plateau_factor: 0.5
  plateau_patience: 5
  min_lr: 1.0e-6
  warmup_epochs: 3
  ema_decay: null
  grad_clip: null
train:
  max_epochs: 50
  max_time_minutes: 90
  early_stopping_patience: 4
  valid_interval: 2
  best_metric: energy_mae
  checkpoint_interval: 5
  max_bad_steps: 3
output:
  run_dir: out/run1
  tensorboard: false
  progress: false
  keep_checkpoints: 4
"""


def test_minimal_config_gets_documented_defaults():
    cfg = config_from_dict(minimal())
    assert isinstance(cfg, Config) and isinstance(cfg.model, ModelConfig)
    assert cfg.data.train == ["train.xyz"]  # a single str becomes a one-element list
    assert cfg.data.valid is None and cfg.data.e0s == "least_squares"
    assert cfg.data.keys.energy == "energy" and cfg.data.keys.weight == "config_weight"
    assert (cfg.model.num_layers, cfg.model.max_ell, cfg.model.hidden_ell) == (2, 2, 1)
    assert cfg.model.radial_mlp == [64, 64] and cfg.model.avg_num_neighbors == "auto"
    assert (cfg.optim.lr, cfg.optim.ema_decay, cfg.train.best_metric) == (
        0.005,
        0.99,
        "loss",
    )
    assert cfg.output.run_dir == "runs/default" and cfg.loss.stages == []


def test_defaults_do_not_share_mutable_state():
    a, b = config_from_dict(minimal()), config_from_dict(minimal())
    a.model.radial_mlp.append(1)
    assert b.model.radial_mlp == [64, 64]


def test_full_config_round_trips_through_save_and_load(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    cfg = load_config(write(tmp_path / "cfg" / "full.yaml", FULL))
    assert cfg.model.scale == 2.0 and isinstance(cfg.model.scale, float)  # int -> float
    assert cfg.data.e0s == {"Si": -0.5, "O": -1.0}
    assert cfg.loss.stages[1].lr == 1.0e-4 and cfg.optim.ema_decay is None

    saved = tmp_path / "elsewhere" / "config.yaml"
    saved.parent.mkdir()
    save_config(cfg, saved)
    again = load_config(saved)
    assert config_to_dict(again) == config_to_dict(cfg)
    assert config_hash(again) == config_hash(cfg)
    assert os.listdir(saved.parent) == ["config.yaml"]  # no temp file left behind

    again.train.max_epochs += 1
    assert config_hash(again) != config_hash(cfg)
    assert len(config_hash(cfg)) == 16


def test_config_to_dict_is_plain_yaml():
    d = config_to_dict(config_from_dict(minimal(loss={"stages": [{"epoch": 2}]})))
    assert yaml.safe_load(yaml.safe_dump(d)) == d
    assert d["loss"]["stages"] == [
        {
            "at": None,
            "epoch": 2,
            "energy_weight": None,
            "forces_weight": None,
            "stress_weight": None,
            "magnetic_forces_weight": None,
            "charges_weight": None,
            "lr": None,
            "weight_decay": None,
        }
    ]


def test_save_refuses_an_invalid_config(tmp_path):
    cfg = config_from_dict(minimal())
    cfg.model.max_ell = 9
    with pytest.raises(ConfigError, match=r"model\.max_ell"):
        save_config(cfg, tmp_path / "c.yaml")
    assert list(tmp_path.iterdir()) == []


def test_unknown_top_level_key_suggests_nearest():
    msg = error_of(minimal(sead=1))
    assert "unknown key 'sead'; did you mean 'seed'?" in msg and "valid keys:" in msg


def test_unknown_nested_key_suggests_nearest():
    msg = error_of(minimal(model={"num_layer": 3}))
    assert "unknown key 'model.num_layer'; did you mean 'num_layers'? valid keys: " in msg
    assert "max_ell" in msg
    assert "unknown key 'data.keys.energi'" in error_of(
        {"data": {"train": "a", "keys": {"energi": "E"}}}
    )


def test_unknown_key_in_override_suggests_nearest(tmp_path):
    path = write(tmp_path / "c.yaml", "data: {train: a.xyz}\n")
    with pytest.raises(ConfigError) as info:
        load_config(path, ["model.num_layer=3"])
    msg = str(info.value)
    assert "override 'model.num_layer=3'" in msg
    assert "unknown key 'model.num_layer'; did you mean 'num_layers'?" in msg


@pytest.mark.parametrize(
    "sections, field, shown, expected",
    [
        ({"model": {"num_layers": "2"}}, "model.num_layers", "'2'", "int"),
        ({"seed": True}, "seed", "True", "int"),  # bool is not an int
        ({"model": {"num_channels": 3.0}}, "model.num_channels", "3.0", "int"),
        ({"tf32": "yes"}, "tf32", "'yes'", "bool"),
        ({"model": {"radial_mlp": [32, "x"]}}, "model.radial_mlp[1]", "'x'", "int"),
        ({"data": {"train": 5}}, "data.train", "5", "str or list of str"),
        ({"optim": {"lr": "fast"}}, "optim.lr", "'fast'", "float"),
        ({"model": [1]}, "model", "[1]", "mapping"),
    ],
)
def test_wrong_type_is_an_error_naming_field_value_and_type(sections, field, shown, expected):
    d = {**minimal(), **sections}
    msg = error_of(d)
    assert f"{field}: got" in msg and shown in msg and expected in msg


def test_exponent_without_dot_is_a_float(tmp_path):
    """YAML 1.1 reads 1e-3 as a string; for a float field it can only mean the number."""
    path = tmp_path / "c.yaml"
    path.write_text("data: {train: a.xyz}\noptim: {lr: 1e-3}\n")
    assert load_config(path).optim.lr == 1e-3


def test_int_is_accepted_for_float_fields():
    cfg = config_from_dict(minimal(optim={"lr": 1}, model={"avg_num_neighbors": 10}))
    assert type(cfg.optim.lr) is float and type(cfg.model.avg_num_neighbors) is float


@pytest.mark.parametrize(
    "sections, field, rule",
    [
        ({"model": {"max_ell": 7}}, "model.max_ell", "got 7; must be >= 0 and <= 4"),
        ({"model": {"radial_mlp": [32, 0]}}, "model.radial_mlp[1]", "must be >= 1"),
        ({"data": {"train": "a", "valid_fraction": 1}}, "data.valid_fraction", "< 1"),
        ({"data": {"train": "a", "r_max": 0}}, "data.r_max", "must be > 0"),
        ({"optim": {"ema_decay": 1.0}}, "optim.ema_decay", "must be >= 0 and < 1"),
        ({"model": {"scale": -1}}, "model.scale", "must be > 0"),
        ({"optim": {"lr": float("nan")}}, "optim.lr", "finite"),
        ({"device": "gpu"}, "device", "'cuda:N'"),
        ({"loss": {"energy_weight": 0, "forces_weight": 0}}, "loss", "at least one"),
    ],
)
def test_out_of_range_is_an_error_naming_field_and_rule(sections, field, rule):
    msg = error_of({**minimal(), **sections})
    assert f"{field}:" in msg and rule in msg


def test_valid_device_strings_are_accepted():
    for device in ("auto", "cpu", "cuda", "cuda:3"):
        assert config_from_dict(minimal(device=device)).device == device


def test_bad_choice_lists_the_allowed_ones():
    msg = error_of(minimal(loss={"kind": "l1"}))
    assert "loss.kind" in msg and "'l1'" in msg and "one of 'mse', 'huber'" in msg
    msg = error_of(minimal(train={"best_metric": "force_rmse"}))
    assert "'stress_mae'" in msg and "did you mean 'forces_rmse'?" in msg


def test_hidden_ell_above_max_ell_names_both_fields():
    msg = error_of(minimal(model={"max_ell": 1, "hidden_ell": 2}))
    assert "model.hidden_ell" in msg and "model.max_ell" in msg


def test_e0s_mapping_keys_must_be_elements():
    msg = error_of({"data": {"train": "a", "e0s": {"Si": -1.0, "Xx": 0.5}}})
    assert "data.e0s" in msg and "'Xx'" in msg and "element symbol" in msg
    assert "did you mean 'Si'" in error_of({"data": {"train": "a", "e0s": {"si": 1.0}}})
    assert "data.e0s.O" in error_of({"data": {"train": "a", "e0s": {"O": "low"}}})
    cfg = config_from_dict({"data": {"train": "a", "e0s": "isolated"}})
    assert cfg.data.e0s == "isolated"


def test_stage_epochs_must_increase():
    stages = [{"epoch": 5, "lr": 1.0e-3}, {"epoch": 5}]
    msg = error_of(minimal(loss={"stages": stages}))
    assert "loss.stages[1].epoch" in msg and "strictly increasing" in msg
    assert "loss.stages[0].epoch" in error_of(minimal(loss={"stages": [{"epoch": 0}]}))


def test_missing_data_train_is_an_error():
    assert "missing required key 'data.train'" in error_of({"data": {"valid": "v.xyz"}})
    assert "missing required key 'data'" in error_of({})


def test_malformed_yaml_names_file_and_line(tmp_path):
    path = write(tmp_path / "bad.yaml", "data:\n  train: a.xyz\n  valid: [b.xyz\nseed: 1\n")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    msg = str(info.value)
    assert str(path) in msg and "line 4" in msg


def test_missing_file_is_named(tmp_path):
    with pytest.raises(ConfigError, match="not found.*nope.yaml"):
        load_config(tmp_path / "nope.yaml")


def test_top_level_must_be_a_mapping(tmp_path):
    with pytest.raises(ConfigError, match="top level must be a mapping"):
        load_config(write(tmp_path / "list.yaml", "- a\n- b\n"))


def test_overrides_parse_yaml_values(tmp_path):
    path = write(tmp_path / "c.yaml", "data: {train: a.xyz, valid: v.xyz}\n")
    cfg = load_config(
        path,
        [
            "train.max_epochs=5",
            "model.radial_mlp=[32,32]",
            "data.valid=null",
            "data.keys.energy=free_energy",
            "seed=3",
        ],
    )
    assert cfg.train.max_epochs == 5 and cfg.model.radial_mlp == [32, 32]
    assert cfg.data.valid is None and cfg.data.keys.energy == "free_energy"
    assert cfg.seed == 3


def test_bad_override_value_names_the_override(tmp_path):
    path = write(tmp_path / "c.yaml", "data: {train: a.xyz}\n")
    with pytest.raises(ConfigError, match=r"override 'train.max_epochs=abc'.*train.max_epochs"):
        load_config(path, ["train.max_epochs=abc"])
    with pytest.raises(ConfigError, match="KEY=VALUE"):
        load_config(path, ["train.max_epochs"])


def test_relative_paths(tmp_path, monkeypatch):
    path = write(
        tmp_path / "cfgdir" / "c.yaml",
        "data: {train: train.xyz, valid: [../v.xyz], test: /abs/t.xyz}\n"
        "output: {run_dir: runs/x}\n",
    )
    workdir = tmp_path / "work"
    workdir.mkdir()
    monkeypatch.chdir(workdir)
    cfg = load_config(path)
    assert cfg.data.train == [str(tmp_path / "cfgdir" / "train.xyz")]
    assert cfg.data.valid == [str(tmp_path / "v.xyz")]
    assert cfg.data.test == ["/abs/t.xyz"]
    assert cfg.output.run_dir == str(workdir / "runs" / "x")  # cwd, not the config dir
    # A path given on the command line is relative to where the command runs.
    cfg = load_config(path, ["data.train=cli.xyz"])
    assert cfg.data.train == [str(workdir / "cli.xyz")]
    assert cfg.data.valid == [str(tmp_path / "v.xyz")]


def test_empty_section_means_defaults():
    assert config_from_dict({**minimal(), "model": None}).model == ModelConfig()


def test_config_layer_does_not_import_torch():
    code = "import sys, mlip_gnn.config; print('torch' in sys.modules)"
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "False"


def test_sections_are_exported():
    import mlip_gnn.config as config

    assert "DataConfig" in config.__all__ and config.DataConfig is DataConfig


def test_a_retired_key_in_an_override_says_what_replaced_it(tmp_path):
    path = write(tmp_path / "c.yaml", "data: {train: a.xyz}\n")
    with pytest.raises(ConfigError, match="train.fit_to_time_limit was removed: set "
                                          "train.budget_minutes"):
        load_config(path, ["train.fit_to_time_limit=true"])
