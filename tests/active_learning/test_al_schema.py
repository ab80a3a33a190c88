"""AL.yaml: errors name the key; paths resolve; the shipped example validates."""

from pathlib import Path

import pytest

from mlip_gnn.active_learning import al_config_from_dict, load_al_config
from mlip_gnn.config import ConfigError, load_config
from al_support import tiny_al_dict

ROOT = Path(__file__).parents[2]
EXAMPLES = sorted((ROOT / "configs" / "active_learning").glob("*.yaml"))


def _error(tmp_path, **sections):
    with pytest.raises(ConfigError) as info:
        al_config_from_dict(tiny_al_dict(tmp_path, **sections))
    return info.value


def test_unknown_key_names_it_and_suggests_the_right_one(tmp_path):
    err = _error(tmp_path, select={"lower": 0.1, "uper": 0.3})
    assert err.field == "select.uper" and "did you mean 'upper'" in str(err)


def test_wrong_type_and_range_name_the_key(tmp_path):
    err = _error(tmp_path, select={"lower": "low", "upper": 0.3})
    assert err.field == "select.lower"
    err = _error(tmp_path, stop={"accurate_fraction": 1.5})
    assert err.field == "stop.accurate_fraction" and "<= 1" in str(err)
    err = _error(tmp_path, training={"config": "x.yaml", "committee": 0})
    assert err.field == "training.committee"


def test_upper_must_exceed_lower(tmp_path):
    err = _error(tmp_path, select={"lower": 0.3, "upper": 0.3})
    assert err.field == "select.upper" and "select.lower" in str(err)


def test_structure_names_must_be_defined(tmp_path):
    err = _error(tmp_path, explore={"structures": ["cu", "ni"],
                                    "schedule": [{"temperatures": [300]}]})
    assert err.field == "explore.structures" and "'ni'" in str(err) and "cu" in str(err)


def test_exactly_one_source_per_section(tmp_path):
    assert _error(tmp_path, initial={"file": "a.xyz", "structures": "cu"}).field == "initial"
    assert _error(tmp_path, label={}).field == "label"
    err = _error(tmp_path, label={"command": "dft {input} {output}"},
                 heldout={"generate": {"structure": "cu", "temperature": 900}})
    assert err.field == "heldout.generate" and "label.calculator" in str(err)


def test_free_form_kwargs_pass_through_unchanged(tmp_path):
    kwargs = {"kpts": {"density": 3.5}, "xc": "PBE", "spin": False}
    cfg = al_config_from_dict(tiny_al_dict(tmp_path, label={
        "calculator": "ase.calculators.emt:EMT", "kwargs": kwargs}))
    assert cfg.label.kwargs == kwargs
    err = _error(tmp_path, label={"calculator": "ase.calculators.emt:EMT", "kwargs": [1]})
    assert err.field == "label.kwargs"


def test_paths_are_relative_to_the_yaml_file(tmp_path, monkeypatch):
    folder = tmp_path / "project"
    folder.mkdir()
    raw = tiny_al_dict("runs/al", initial={"file": "data/seed.xyz"})
    raw["training"]["config"] = "train.yaml"
    import yaml

    (folder / "al.yaml").write_text(yaml.safe_dump(raw))
    monkeypatch.chdir(tmp_path)
    cfg = load_al_config(folder / "al.yaml")
    assert cfg.training.config == str(folder / "train.yaml")
    assert cfg.initial.file == [str(folder / "data" / "seed.xyz")]
    assert cfg.work_dir == str(tmp_path / "runs" / "al")


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_shipped_examples_validate_with_their_training_overrides(path):
    cfg = load_al_config(path)
    train_cfg = load_config(cfg.training.config,
                            cfg.training.overrides + cfg.training.warm_start_overrides)
    assert train_cfg.model.num_channels > 0
    assert cfg.heldout is not None


def test_there_is_a_shipped_example():
    assert [p.name for p in EXAMPLES] == ["cu_emt.yaml", "ethanol_pyscf.yaml",
                                          "ethanol_xtb.yaml"]
