"""SEARCH.yaml: defaults, unknown keys and elements, impossible constraints."""

import pytest

from mlip_gnn.search import load_search_config, search_config_from_dict
from mlip_gnn.utils.schema import ConfigError


def config(**changes):
    return search_config_from_dict({"composition": {"Cu": 13}, **changes})


def test_defaults_follow_from_the_composition():
    cfg = config()
    assert cfg.symbols == ["Cu"] * 13
    assert cfg.min_distance == pytest.approx(0.7 * 2 * 1.32)
    low, high = cfg.volume_range
    assert 0 < low < high
    # the default sphere holds 13 atoms at the high volume per atom
    assert 4 / 3 * 3.14159265 * cfg.radius ** 3 == pytest.approx(13 * high, rel=1e-6)


def test_unknown_key_suggests_the_nearest():
    with pytest.raises(ConfigError, match="unknown key 'trails'.*did you mean 'trials'"):
        config(trails=3)
    with pytest.raises(ConfigError, match="basin_hopping.stepsize.*'step_size'"):
        config(basin_hopping={"stepsize": 1.0})


def test_unknown_element_names_the_key():
    with pytest.raises(ConfigError, match=r"composition\.Cuu: unknown element 'Cuu'.*'Cu'"):
        search_config_from_dict({"composition": {"Cuu": 13}})
    with pytest.raises(ConfigError, match=r"composition\.Xx: unknown element"):
        search_config_from_dict({"composition": {"Xx": 2}})


@pytest.mark.parametrize("changes", [
    {"mode": "cluster", "constraints": {"min_distance": 3.0, "radius": 2.0}},
    {"mode": "bulk", "constraints": {"min_distance": 3.0, "volume_per_atom": [5.0, 6.0]}},
])
def test_impossible_min_distance_is_refused(changes):
    with pytest.raises(ConfigError, match=r"constraints\.min_distance: got 3 Å; 13 atoms.*"
                       r"do not fit.*densest packing") as info:
        config(**changes)
    assert info.value.field == "constraints.min_distance"


def test_possible_constraints_pass():
    cfg = config(constraints={"min_distance": 2.0, "radius": 4.0})
    assert cfg.radius == 4.0 and cfg.min_distance == 2.0


@pytest.mark.parametrize("changes, field", [
    ({"constraints": {"volume_per_atom": [14.0, 12.0]}}, "constraints.volume_per_atom"),
    ({"trials": 0}, "trials"),
    ({"method": "genetic"}, "method"),
    ({"composition": {"Cu": 0}}, "composition.Cu"),
    ({"composition": {}}, "composition"),
])
def test_bad_values_name_the_field(changes, field):
    with pytest.raises(ConfigError) as info:
        config(**changes)
    assert info.value.field == field


def test_yaml_file_models_relative_to_it(tmp_path):
    (tmp_path / "sub").mkdir()
    path = tmp_path / "sub" / "search.yaml"
    path.write_text("composition: {Cu: 4}\nmodels: [../m.pt, /abs/n.pt]\n")
    cfg = load_search_config(path)
    assert cfg.models == [str(tmp_path / "m.pt"), "/abs/n.pt"]
    with pytest.raises(ConfigError, match="does not exist"):
        load_search_config(tmp_path / "missing.yaml")
