"""Models stored before ``init_scheme`` existed load with their own scheme and give the same
numbers; specs written now store the scheme."""

import json
from pathlib import Path

import torch
from ase.io import read

from mlip_gnn.data import configuration_from_atoms, graph_from_configuration
from mlip_gnn.modelio import ModelSpec, build_from_spec, load_checkpoint, model_from_checkpoint

FIXTURES = Path(__file__).parents[1] / "fixtures"
#: written by tests/fixtures/make_legacy_init.py with mlip_gnn 7dcbe11 (no init_scheme)
LEGACY = FIXTURES / "legacy_init_best.pt"


def _outputs(model, spec):
    atoms = read(FIXTURES / "legacy_init_frame.xyz")
    graph = graph_from_configuration(configuration_from_atoms(atoms), spec.r_max,
                                     spec.species_table(), torch.float64)
    out = model(graph, compute_forces=True, compute_stress=True)
    return {name: out[name].detach() for name in ("energy", "forces", "stress")}


def test_a_checkpoint_without_the_key_gives_its_recorded_numbers_bit_for_bit():
    assert "init_scheme" not in load_checkpoint(LEGACY)["model_spec"]["architecture"]
    model, spec, _ = model_from_checkpoint(LEGACY)
    assert spec.architecture["init_scheme"] == "legacy"
    reference = json.loads((FIXTURES / "legacy_init_reference.json").read_text())
    for name, value in _outputs(model, spec).items():
        assert torch.equal(value, torch.tensor(reference[name], dtype=torch.float64)), name


def test_the_same_weights_under_the_new_default_give_other_numbers():
    """What the test above guards against: read as a new model, the old one would change."""
    model, spec, _ = model_from_checkpoint(LEGACY)
    stable = spec.replace(architecture={**spec.architecture, "init_scheme": "stable"})
    rebuilt = build_from_spec(stable)
    rebuilt.load_state_dict(model.state_dict())
    a, b = _outputs(model, spec), _outputs(rebuilt.eval(), stable)
    assert not torch.allclose(a["energy"], b["energy"], rtol=1e-3)


def test_a_spec_written_now_stores_the_scheme_and_reads_back_unchanged():
    new = ModelSpec([29], 4.0, "float64", {}, {"num_channels": 4})
    assert new.to_dict()["architecture"]["init_scheme"] == "stable"
    kwargs = {"species": [29], "r_max": 4.0, "dtype": "float64", "num_channels": 4}
    assert ModelSpec.from_builder_kwargs(kwargs) == new  # the model these kwargs build now
    assert ModelSpec.from_dict(new.to_dict()) == new
    legacy = new.replace(architecture={"num_channels": 4, "init_scheme": "legacy"})
    assert ModelSpec.from_dict(legacy.to_dict()) == legacy


def test_a_spec_without_architecture_stays_without():
    """An unknown architecture (a module that came without a spec) is not made up."""
    empty = ModelSpec([29], 4.0, "float64")
    assert empty.architecture == {}
    assert ModelSpec.from_dict(empty.to_dict()).architecture == {}
