"""The model spec: one plain-value description of a model, round trips and checks."""

import pytest
import torch
from model_support import R_MAX, SPECIES, make_model

from mlip_gnn.modelio import ModelSpec, ModelSpecError, build_from_spec

ARCHITECTURE = dict(avg_num_neighbors=8.0, scale=1.3, shift=0.0, num_layers=2, num_channels=8,
                    max_ell=2, hidden_ell=1, correlation=2, num_bessel=6, envelope_p=6,
                    radial_mlp=[16], zbl=False, seed=0)


def spec(**changes):
    base = ModelSpec([29, 13], R_MAX, "float64", {13: -1.5, 29: -2.5}, ARCHITECTURE)
    return base.replace(**changes)


def test_round_trips_through_plain_values_and_builder_kwargs():
    s = spec()
    assert s.species == (13, 29) and s.torch_dtype == torch.float64
    assert ModelSpec.from_dict(s.to_dict()) == s
    assert ModelSpec.from_builder_kwargs(s.builder_kwargs()) == s
    assert s.species_table().atomic_numbers == SPECIES


def test_builds_the_model_it_describes():
    a, b = build_from_spec(spec()), make_model()
    assert [p.shape for p in a.parameters()] == [p.shape for p in b.parameters()]
    assert a.r_max == R_MAX and a.e0.dtype == torch.float64
    assert a.e0.tolist() == [-1.5, -2.5]


def test_new_architecture_keys_pass_through_to_the_builder():
    seen = {}
    build_from_spec(spec(architecture={"a_new_knob": 3}), lambda **kw: seen.update(kw))
    assert seen["a_new_knob"] == 3 and seen["r_max"] == R_MAX and seen["dtype"] == "float64"


@pytest.mark.parametrize("changes,match", [
    (dict(species=[]), "at least one atomic number"),
    (dict(r_max=0.0), "r_max 0.0 must be a positive"),
    (dict(r_max=float("nan")), "r_max nan"),
    (dict(dtype="float16"), "dtype 'float16'; choose one of"),
    (dict(architecture={"r_max": 4.0}), r"\['r_max'\] are spec fields"),
])
def test_malformed_spec_is_a_clear_error(changes, match):
    with pytest.raises(ModelSpecError, match=match):
        spec(**changes)


def test_from_dict_names_missing_and_unknown_fields():
    with pytest.raises(ModelSpecError, match=r"missing \['r_max'\]"):
        ModelSpec.from_dict({"species": [1], "dtype": "float32"})
    with pytest.raises(ModelSpecError, match=r"unknown field\(s\) \['cutoff'\]"):
        ModelSpec.from_dict({"species": [1], "r_max": 4.0, "dtype": "float32", "cutoff": 1})


def test_differences_name_each_changed_field():
    old = spec()
    new = old.replace(r_max=3.0, dtype="float32",
                      architecture={**ARCHITECTURE, "num_layers": 3})
    assert old.differences(new) == ["architecture.num_layers: 2 -> 3",
                                    "dtype: 'float64' -> 'float32'", "r_max: 4.0 -> 3.0"]
    assert old.differences(old) == []
