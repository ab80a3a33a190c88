"""The calculator reads a spin model's moments from ``Atoms``."""

import numpy as np
import pytest

from mlip_gnn.calculators import MLIPCalculator
from mlip_gnn.data import keys
from mlip_gnn.export import export_potential
from spin_support import graph, magnetic_crystal, spin_model


@pytest.fixture(scope="module")
def model_and_file(tmp_path_factory):
    model = spin_model()
    return model, export_potential(model, tmp_path_factory.mktemp("spin-calc") / "s.pt")


@pytest.mark.parametrize("source", ["file", "module"])
def test_calculator_reads_initial_magnetic_moments(model_and_file, source):
    model, path = model_and_file
    atoms, m = magnetic_crystal(2)
    atoms.set_initial_magnetic_moments(m)
    atoms.calc = MLIPCalculator(path if source == "file" else model)
    direct = model(graph(atoms, m), compute_forces=True, compute_stress=True)
    assert atoms.get_potential_energy() == pytest.approx(direct[keys.TOTAL_ENERGY].item(),
                                                         rel=1e-12)
    np.testing.assert_allclose(atoms.get_forces(), direct[keys.FORCES].detach().numpy(),
                               atol=1e-12)
    np.testing.assert_allclose(atoms.calc.get_property("magnetic_forces", atoms),
                               direct[keys.MAGNETIC_FORCES].detach().numpy(), atol=1e-12)


def test_changing_the_moments_is_a_new_calculation(model_and_file):
    model, path = model_and_file
    atoms, m = magnetic_crystal(2)
    atoms.set_initial_magnetic_moments(np.abs(m))
    atoms.calc = MLIPCalculator(path)
    ferro = atoms.get_potential_energy()
    mixed = np.abs(m) * np.where(np.arange(len(m)) % 2 == 0, 1.0, -1.0)
    atoms.set_initial_magnetic_moments(mixed)
    expected = model(graph(atoms, mixed))[keys.TOTAL_ENERGY].item()
    assert atoms.get_potential_energy() == pytest.approx(expected, rel=1e-12)
    assert abs(expected - ferro) > 1e-4
    atoms.set_initial_magnetic_moments(-mixed)  # time reversal
    assert atoms.get_potential_energy() == pytest.approx(expected, abs=1e-12)


def test_non_collinear_moments_are_refused(model_and_file):
    _, path = model_and_file
    atoms, m = magnetic_crystal()
    del atoms.arrays["initial_magmoms"]
    atoms.set_initial_magnetic_moments(np.outer(m, [0.0, 0.0, 1.0]))
    atoms.calc = MLIPCalculator(path)
    with pytest.raises(Exception, match="collinear"):
        atoms.get_potential_energy()
