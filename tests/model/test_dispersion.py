"""The D3(BJ) dispersion baseline (model.long_range.dispersion: d3bj): against tad-dftd3's
own evaluation, periodic images, and the model's physics with the baseline on (float64)."""

import numpy as np
import pytest
import torch
from ase import Atoms
from ase.build import bulk, molecule

import model_suite as suite
from mlip_gnn.export import export_potential
from mlip_gnn.nn.dispersion import BOHR, HARTREE, D3Dispersion
from model_support import evaluate, make_model, random_cluster, random_crystal

tad_dftd3 = pytest.importorskip("tad_dftd3")


def d3_energy(atoms, functional="pbe"):
    """Our per-atom D3 energies (eV) of ``atoms`` (open or fully periodic)."""
    numbers = sorted(set(atoms.numbers))
    term = D3Dispersion(numbers, functional).to(torch.float64)
    species = torch.tensor([numbers.index(z) for z in atoms.numbers])
    return term(species, torch.tensor(atoms.positions), torch.tensor(atoms.cell[:]),
                bool(atoms.pbc.all())).numpy()


def tad_energy(atoms, functional="pbe"):
    """tad-dftd3's two-body D3(BJ) energies (eV) of an open structure."""
    from tad_dftd3.param.functional import get_functional_params

    params = get_functional_params(functional, "bj", dtype=torch.float64)
    params.pop("s9", None)  # two-body only, as ours
    energy = tad_dftd3.dftd3(torch.tensor(atoms.numbers),
                             torch.tensor(atoms.positions) / BOHR, params)
    return energy.numpy() * HARTREE


@pytest.mark.parametrize("name,functional", [("CH3CH2OH", "pbe"), ("C6H6", "b3lyp"),
                                             ("H2O", "r2scan")])
def test_molecules_equal_tad_dftd3(name, functional):
    atoms = molecule(name)
    ours = d3_energy(atoms, functional)
    np.testing.assert_allclose(ours, tad_energy(atoms, functional), rtol=1e-10, atol=1e-14)
    assert ours.sum() < -1e-3


def test_a_dimer_beyond_the_message_passing_range_still_attracts():
    a = molecule("C6H6")
    b = molecule("C6H6")
    b.positions += [0.0, 0.0, 12.0]
    pair = a + b
    interaction = d3_energy(pair).sum() - d3_energy(a).sum() - d3_energy(b).sum()
    reference = tad_energy(pair).sum() - tad_energy(a).sum() - tad_energy(b).sum()
    assert interaction == pytest.approx(reference, rel=1e-10)
    assert interaction < -1e-4


def test_periodic_sum_of_a_molecule_in_a_large_box_is_the_open_one():
    atoms = molecule("CH3CH2OH")
    boxed = atoms.copy()
    boxed.set_cell(np.eye(3) * 70.0)  # beyond the 60-bohr (31.8 Å) cutoff of every image
    boxed.pbc = True
    boxed.positions += 35.0
    np.testing.assert_allclose(d3_energy(boxed), d3_energy(atoms), rtol=1e-12)


def test_periodic_supercell_is_extensive():
    cell = bulk("NaCl", "rocksalt", a=5.64)
    cell.rattle(0.1, seed=0)
    big = cell.repeat((2, 1, 3))
    np.testing.assert_allclose(d3_energy(big).sum(), 6 * d3_energy(cell).sum(), rtol=1e-10)
    assert d3_energy(cell).sum() < -0.1


@pytest.mark.parametrize("check", ["check_rotation_reflection",
                                   "check_translation_permutation",
                                   "check_forces_and_stress_by_finite_differences",
                                   "check_batch_equals_frames"])
def test_model_suite_with_dispersion(check):
    getattr(suite, check)(make_model(dispersion="d3bj"))


def test_the_baseline_adds_d3_to_the_same_network(tmp_path):
    model = make_model(dispersion="d3bj")
    local = make_model()
    local.load_state_dict({k: v for k, v in model.state_dict().items()
                           if not k.startswith("dispersion.")})
    for atoms in (random_crystal(seed=3), random_cluster(seed=3)):
        with_d3 = evaluate(model, atoms, stress=False)["energy"][0]
        without = evaluate(local, atoms, stress=False)["energy"][0]
        assert with_d3 - without == pytest.approx(d3_energy(atoms).sum(), rel=1e-10)
    path = tmp_path / "d3.pt"
    export_potential(model, path)
    suite.check_exported_equals_eager(model, torch.jit.load(str(path)))


def test_unknown_functional_is_refused():
    with pytest.raises(ValueError, match="no D3.*nonsense"):
        make_model(dispersion="d3bj", d3_functional="nonsense")


def test_mixed_boundaries_are_refused():
    atoms = random_crystal(seed=2)
    atoms.pbc = [True, False, True]
    with pytest.raises(ValueError, match="all three directions or in none"):
        evaluate(make_model(dispersion="d3bj"), atoms)


def test_open_single_atom_has_no_dispersion():
    assert d3_energy(Atoms("Cu", positions=[[0, 0, 0]])).tolist() == [0.0]
