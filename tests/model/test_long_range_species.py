"""The latent charges of atoms with no neighbour within the cutoff: with
``lr_species`` (the default) the charge heads see the species embedding, so two different
elements far apart get charges of their own elements; without it (models stored before
the setting) their features are zero and so are their charges, whatever the element."""

import numpy as np
import pytest
import torch
from ase import Atoms

import model_suite as suite
from mlip_gnn.export import export_potential
from mlip_gnn.modelio import ModelSpec
from model_support import evaluate, make_model, model_kwargs


def separated_pair(distance=20.0):
    """Al and Cu further apart than the cutoff: neither has a neighbour."""
    return Atoms("AlCu", positions=[[0.0, 0.0, 0.0], [distance, 0.0, 0.0]])


def charges(model, atoms, total=0.0):
    atoms.info["charge"] = total
    return evaluate(model, atoms, stress=False)["charges"]


def test_separated_atoms_of_two_elements_get_charges_of_their_own():
    model = make_model(long_range="latent")
    q = charges(model, separated_pair())
    assert float(q.sum()) == pytest.approx(0.0, abs=1e-12)
    assert abs(float(q[0] - q[1])) > 1e-3  # Al and Cu differ
    # the charges of an isolated atom do not depend on where the other one is
    np.testing.assert_allclose(q, charges(model, separated_pair(35.0)), rtol=0, atol=1e-12)


def test_without_species_features_separated_atoms_cannot_tell_their_elements_apart():
    model = make_model(long_range="latent", lr_species=False)
    np.testing.assert_allclose(charges(model, separated_pair()), 0.0, rtol=0, atol=1e-12)


def test_stored_models_from_before_the_setting_rebuild_without_it():
    kwargs = model_kwargs(long_range="latent")
    stored = ModelSpec.from_builder_kwargs(kwargs).to_dict()
    assert stored["architecture"]["lr_species"] is True  # written explicitly now
    del stored["architecture"]["lr_species"]  # a spec stored before the setting
    assert ModelSpec.from_dict(stored).architecture["lr_species"] is False


def test_the_export_keeps_the_species_features(tmp_path):
    model = make_model(long_range="latent")
    export_potential(model, tmp_path / "m.pt")
    loaded = torch.jit.load(str(tmp_path / "m.pt"))
    atoms = separated_pair()
    eager = charges(model, atoms)
    out = loaded(*suite._deployed_inputs(atoms), False, None,
                 torch.tensor(0.0, dtype=torch.float64))
    np.testing.assert_allclose(out["charges"].numpy(), eager, rtol=0, atol=1e-12)
