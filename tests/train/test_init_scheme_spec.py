"""A run stored before ``model.init_scheme`` existed was built ``legacy``: resuming or
fine-tuning it with a config that leaves the key at its new default is refused by name,
and pinning ``legacy`` is accepted."""

from mlip_gnn.config import config_from_dict
from mlip_gnn.data import SpeciesTable
from mlip_gnn.modelio import ModelSpec
from mlip_gnn.train.model_spec import model_architecture, spec_changes


def _stored_before_the_key(cfg):
    architecture = model_architecture(cfg)
    del architecture["init_scheme"]
    architecture.update(avg_num_neighbors=10.0, scale=1.0, shift=0.0)
    return ModelSpec.from_dict({"species": [3], "r_max": cfg.data.r_max, "dtype": cfg.dtype,
                                "architecture": architecture})


def test_the_new_default_is_a_change_and_pinning_legacy_is_not():
    cfg = config_from_dict({"data": {"train": "li.xyz"}})
    stored = _stored_before_the_key(cfg)
    assert spec_changes(stored, cfg, SpeciesTable([3])) == [
        "model.init_scheme: 'legacy' -> 'stable'"]
    pinned = config_from_dict({"data": {"train": "li.xyz"}, "model": {"init_scheme": "legacy"}})
    assert spec_changes(stored, pinned, SpeciesTable([3])) == []
