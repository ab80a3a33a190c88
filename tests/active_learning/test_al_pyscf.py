"""Kohn–Sham DFT (PySCF) as the active-learning reference through
``mlip_gnn.active_learning.references.PySCFCalculator``: the shipped label section labels a
molecule with forces that are the derivative of its energy, open-shell molecules take the
unrestricted path, and an unconverged SCF or a periodic cell is a LabelError (reported,
never learnt). Skipped where PySCF is not installed (``pip install 'mlip_gnn[pyscf]'``)."""

from pathlib import Path

import numpy as np
import pytest
from ase import Atoms
from ase.build import molecule

from mlip_gnn.active_learning import CalculatorLabeller, LabelError, load_al_config
from al_support import force_by_differences

pytest.importorskip("pyscf")

CONFIG = Path(__file__).parents[2] / "configs" / "active_learning" / "ethanol_pyscf.yaml"


def shipped_labeller(**extra):
    cfg = load_al_config(CONFIG)
    return CalculatorLabeller(cfg.label.calculator, {**cfg.label.kwargs, **extra})


def test_the_shipped_label_section_gives_forces_that_are_the_energy_derivative(tmp_path):
    water = molecule("H2O")
    water.positions += np.random.default_rng(0).normal(0.0, 0.03, water.positions.shape)
    labeller = shipped_labeller()
    frame = labeller.label(water, tmp_path)
    forces = frame.get_forces()
    assert forces.shape == (3, 3) and np.isfinite(frame.get_potential_energy())
    np.testing.assert_allclose(forces.sum(axis=0), 0.0, atol=1e-3)  # no net force
    # with the grid response in the gradient, forces are the energy's derivative
    by_differences = force_by_differences(labeller, water, tmp_path, 1, 0, 1e-3)
    assert by_differences == pytest.approx(forces[1, 0], abs=2e-3)


def test_an_open_shell_molecule_is_labelled_unrestricted(tmp_path):
    radical = Atoms("OH", positions=[[0, 0, 0], [0.97, 0, 0]])
    frame = shipped_labeller(spin=1, basis="sto-3g").label(radical, tmp_path)
    closed = shipped_labeller(basis="sto-3g")
    with pytest.raises(LabelError):  # 9 electrons cannot be closed-shell
        closed.label(radical, tmp_path)
    assert np.isfinite(frame.get_potential_energy())


@pytest.mark.parametrize("atoms, extra, match", [
    (molecule("H2O"), {"max_cycle": 1}, "not converged"),
    (Atoms("H2", positions=[[0, 0, 0], [0.74, 0, 0]], cell=[5, 5, 5], pbc=True), {},
     "molecules only"),
])
def test_what_pyscf_cannot_label_is_a_label_error(atoms, extra, match, tmp_path):
    with pytest.raises(LabelError, match=match):
        shipped_labeller(**extra).label(atoms, tmp_path)
