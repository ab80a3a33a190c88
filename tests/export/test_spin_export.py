"""Export of a spin model: the TorchScript file equals the eager model with moments, and
a spin-free export is called as before (without moments)."""

import numpy as np
import pytest
import torch

from mlip_gnn.data import keys
from mlip_gnn.export import deploy, export_potential, load_model
from mlip_gnn.inference import Predictor
from spin_support import graph, magnetic_crystal, spin_model


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    model = spin_model()
    path = export_potential(model, tmp_path_factory.mktemp("spin-export") / "spin.pt")
    return model, path


def _inputs(atoms, moments):
    g = graph(atoms, moments)
    numbers = torch.tensor(atoms.numbers)
    return (g[keys.POSITIONS], numbers, g[keys.EDGE_INDEX], g[keys.EDGE_CELL_SHIFT],
            g[keys.CELL][0], True, g[keys.MAGMOMS])


@pytest.mark.parametrize("seed", [0, 3])
def test_exported_equals_eager_with_moments(exported, seed):
    model, path = exported
    scripted, meta = load_model(path)
    assert scripted.spin == "collinear"
    atoms, m = magnetic_crystal(seed)
    args = _inputs(atoms, m)
    eager = deploy(model)[0](*args)
    out = scripted(*args)
    direct = model(graph(atoms, m), compute_forces=True, compute_stress=True)
    for key in (keys.TOTAL_ENERGY, keys.FORCES, keys.STRESS, keys.MAGNETIC_FORCES):
        torch.testing.assert_close(out[key], eager[key], rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(out[keys.MAGNETIC_FORCES], direct[keys.MAGNETIC_FORCES],
                               rtol=1e-12, atol=1e-12)
    flipped = scripted(*args[:6], -args[6])
    torch.testing.assert_close(flipped[keys.TOTAL_ENERGY], out[keys.TOTAL_ENERGY],
                               rtol=0, atol=1e-12)


def test_exported_spin_model_without_moments_says_what_it_needs(exported):
    _, path = exported
    scripted, _ = load_model(path)
    atoms, m = magnetic_crystal()
    with pytest.raises(Exception, match="magnetic moments"):
        scripted(*_inputs(atoms, m)[:6])


def test_predictor_passes_moments_and_returns_magnetic_forces(exported):
    model, path = exported
    atoms, m = magnetic_crystal(1)
    from mlip_gnn.data import configuration_from_atoms

    conf = configuration_from_atoms(atoms)
    conf.magmoms = m
    result = Predictor(path).predict(conf).results()
    direct = model(graph(atoms, m), compute_forces=True)
    np.testing.assert_allclose(result["magnetic_forces"],
                               direct[keys.MAGNETIC_FORCES].detach().numpy(), atol=1e-12)
    conf.magmoms = None
    with pytest.raises(Exception, match="magnetic moments"):
        Predictor(path).predict(conf)


def test_spin_free_export_is_called_without_moments(tmp_path):
    model = spin_model(spin="none")
    path = export_potential(model, tmp_path / "plain.pt")
    atoms, m = magnetic_crystal()
    from mlip_gnn.data import configuration_from_atoms

    conf = configuration_from_atoms(atoms)
    conf.magmoms = m  # ignored by a spin-free model
    result = Predictor(path).predict(conf).results()
    assert "magnetic_forces" not in result
    direct = model(graph(atoms, None), compute_forces=True)
    assert result["energy"] == pytest.approx(direct[keys.TOTAL_ENERGY].item(), rel=1e-12)



class _SixArguments(torch.nn.Module):
    """The interface of an export that predates moments: forward without them, and no
    ``spin`` attribute."""

    def __init__(self, deployed):
        super().__init__()
        self.inner = deployed
        self.atomic_numbers = deployed.atomic_numbers
        self.symbols = deployed.symbols
        self.r_max = deployed.r_max
        self.model_dtype = deployed.model_dtype
        self.metadata_json = deployed.metadata_json

    def forward(self, positions: torch.Tensor, atomic_numbers: torch.Tensor,
                edge_index: torch.Tensor, cell_shifts: torch.Tensor, cell: torch.Tensor,
                compute_stress: bool = True):
        return self.inner(positions, atomic_numbers, edge_index, cell_shifts, cell,
                          compute_stress)


def test_an_export_without_the_moments_argument_is_still_called_as_before():
    from e3nn.util.jit import script

    from mlip_gnn.data import configuration_from_atoms

    model = spin_model(spin="none")
    old = script(_SixArguments(deploy(model)[0]), in_place=False)
    assert not hasattr(old, "spin")
    atoms, m = magnetic_crystal()
    conf = configuration_from_atoms(atoms)
    conf.magmoms = m
    result = Predictor(old).predict(conf).results()
    direct = model(graph(atoms, None), compute_forces=True)
    assert result["energy"] == pytest.approx(direct[keys.TOTAL_ENERGY].item(), rel=1e-12)
