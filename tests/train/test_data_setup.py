"""Dataset statistics that become the model's builder arguments."""

import dataclasses
import numpy as np
import pytest

from mlip_gnn.config import config_from_dict
from mlip_gnn.data import GraphDataset, SpeciesTable, read_configurations
from mlip_gnn.data.synthetic import write_cu_emt_dataset
from mlip_gnn.model import build_model
from mlip_gnn.train.model_spec import base_spec, complete_spec
from mlip_gnn.train.splits import train_statistics


@pytest.fixture(scope="module")
def emt(tmp_path_factory):
    path = write_cu_emt_dataset(tmp_path_factory.mktemp("d") / "cu.xyz", n_frames=12, seed=4)
    return read_configurations(path)


def kwargs_for(configs, e0s):
    cfg = config_from_dict({"data": {"train": "x.xyz", "e0s": e0s, "r_max": 4.0}})
    species = SpeciesTable.from_configurations(configs)
    stats = train_statistics(configs, GraphDataset(configs, 4.0, species), 4.0)
    return complete_spec(base_spec(cfg, species), cfg, stats).builder_kwargs()


def test_isolated_reference_energies_keep_the_isolated_atom_exact(emt):
    isolated = next(c for c in emt if c.config_type == "isolated_atom")
    kwargs = kwargs_for(emt, "isolated")
    assert kwargs["e0s"] == {29: pytest.approx(isolated.energy)}
    assert kwargs["shift"] == 0.0
    model = build_model(**{**kwargs, "dtype": "float64"})
    graph = GraphDataset([isolated], 4.0, SpeciesTable([29])).graphs[0]
    energy = float(model(graph)["energy"][0].detach())
    assert energy == pytest.approx(isolated.energy, abs=1e-12)


def test_least_squares_shift_is_the_mean_residual(emt):
    kwargs = kwargs_for(emt, "least_squares")
    e0 = kwargs["e0s"][29]
    residual = np.mean([(c.energy - e0 * c.num_atoms) / c.num_atoms for c in emt])
    assert kwargs["shift"] == pytest.approx(residual, abs=1e-12)
    rms = np.sqrt(np.mean(np.concatenate([c.forces.ravel() for c in emt]) ** 2))
    assert kwargs["scale"] == pytest.approx(rms)


def test_split_keeps_isolated_atoms_and_every_element_in_train(emt):
    from mlip_gnn.train.splits import split_train_valid

    numbers = emt[3].atomic_numbers.copy()
    numbers[0] = 13  # the only Al atom of the data set
    configs = [*emt[:3], dataclasses.replace(emt[3], atomic_numbers=numbers), *emt[4:]]
    for seed in range(20):
        train, valid = split_train_valid(configs, 0.5, seed)
        assert len(train) + len(valid) == len(configs) and valid
        assert all(c.num_atoms > 1 for c in valid)
        assert any(13 in c.atomic_numbers for c in train)
