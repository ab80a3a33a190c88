"""ASE calculator: parity with the model, finite differences, caching, committee, errors,
and a cell relaxation that recovers the model's own lattice constant."""

import numpy as np
import pytest
import torch
from ase.build import bulk
from ase.calculators.calculator import PropertyNotImplementedError
from ase.stress import full_3x3_to_voigt_6_stress
from model_support import graph_of, make_model, random_cluster, random_crystal

from mlip_gnn.calculators import MLIPCalculator
from mlip_gnn.data import DataError, UnknownSpeciesError


@pytest.fixture(scope="module")
def model():
    return make_model(zbl=True)


def test_calculator_equals_direct_model_call(model):
    atoms = random_crystal(seed=11, repeat=(2, 1, 1))
    atoms.calc = MLIPCalculator(model)
    ref = model(graph_of(atoms), compute_forces=True, compute_stress=True)
    np.testing.assert_allclose(atoms.get_potential_energy(), ref["energy"].item(), rtol=1e-13)
    np.testing.assert_allclose(atoms.get_forces(), ref["forces"].detach().numpy(), atol=1e-12)
    np.testing.assert_allclose(atoms.get_potential_energies(),
                               ref["atomic_energies"].detach().numpy(), atol=1e-12)
    np.testing.assert_allclose(atoms.get_stress(),
                               full_3x3_to_voigt_6_stress(ref["stress"][0].detach().numpy()),
                               atol=1e-12)
    assert atoms.calc.results["free_energy"] == atoms.get_potential_energy()


def test_forces_and_stress_match_finite_differences(model):
    atoms = random_crystal(seed=12)
    atoms.calc = MLIPCalculator(model)
    from ase.calculators.fd import calculate_numerical_forces, calculate_numerical_stress

    forces, stress = atoms.get_forces(), atoms.get_stress()
    # central differences with h = 1e-5: the truncation error scales with the values
    np.testing.assert_allclose(calculate_numerical_forces(atoms, eps=1e-5), forces,
                               atol=1e-7 * np.abs(forces).max())
    np.testing.assert_allclose(calculate_numerical_stress(atoms, eps=1e-5), stress,
                               atol=1e-7 * np.abs(stress).max())
    assert np.abs(forces).max() > 1e-2 and np.abs(stress).max() > 1e-3


def test_results_are_cached_until_atoms_change(model, monkeypatch):
    atoms = random_crystal(seed=13)
    calc = MLIPCalculator(model)
    atoms.calc = calc
    calls = []
    predict = calc.committee.predict
    monkeypatch.setattr(calc.committee, "predict", lambda conf: calls.append(1) or predict(conf))
    atoms.get_potential_energy()
    atoms.get_forces()
    atoms.get_stress()
    assert len(calls) == 1
    atoms.positions[0, 0] += 0.01
    atoms.get_forces()
    assert len(calls) == 2


def test_committee_mean_and_spread_by_hand():
    models = [make_model(seed=0), make_model(seed=3)]
    atoms = random_crystal(seed=14)
    atoms.calc = MLIPCalculator(models)
    refs = [m(graph_of(atoms), compute_forces=True, compute_stress=True) for m in models]
    e = np.array([r["energy"].item() for r in refs])
    f = np.stack([r["forces"].detach().numpy() for r in refs])  # [2, n, 3]
    s = np.stack([r["stress"][0].detach().numpy() for r in refs])
    np.testing.assert_allclose(atoms.get_potential_energy(), e.mean(), rtol=1e-13)
    np.testing.assert_allclose(atoms.get_forces(), f.mean(0), atol=1e-12)
    np.testing.assert_allclose(atoms.get_stress(), full_3x3_to_voigt_6_stress(s.mean(0)),
                               atol=1e-12)
    res = atoms.calc.results
    np.testing.assert_allclose(res["energy_std"], abs(e[0] - e[1]) / 2, rtol=1e-12)
    # per atom: norm over x, y, z of the per-component (population) std
    forces_std = np.sqrt((((f[0] - f[1]) / 2) ** 2).sum(-1))
    np.testing.assert_allclose(res["forces_std"], forces_std, atol=1e-12)
    np.testing.assert_allclose(res["max_forces_std"], forces_std.max(), atol=1e-12)


def test_cluster_has_no_stress(model):
    atoms = random_cluster(seed=15)
    atoms.calc = MLIPCalculator(model)
    assert np.isfinite(atoms.get_forces()).all()
    with pytest.raises(PropertyNotImplementedError):
        atoms.get_stress()


@pytest.mark.parametrize("change,error,match", [
    (lambda a: a.numbers.__setitem__(0, 26), UnknownSpeciesError, r"\['Fe'\] not known"),
    (lambda a: a.positions.__setitem__((1, 0), np.nan), DataError, "'positions'.*NaN"),
    (lambda a: a.positions.__setitem__(1, a.positions[0] + 0.01), DataError, "overlapping"),
    (lambda a: a.set_cell(np.diag([3.0, 3.0, 0.0])), DataError, "zero volume"),
])
def test_bad_structures_raise_typed_errors(model, change, error, match):
    atoms = random_crystal(seed=16)
    change(atoms)
    atoms.calc = MLIPCalculator(model)
    with pytest.raises(error, match=match):
        atoms.get_potential_energy()


def _energy_per_atom(calc, a):
    atoms = bulk("Cu", "fcc", a=a)
    atoms.calc = calc
    return atoms.get_potential_energy()


def test_cell_relaxation_recovers_model_lattice_constant():
    from ase.filters import FrechetCellFilter
    from ase.optimize import BFGS

    # this random model (radial constant of init_scheme legacy) binds near 4.8 Å
    calc = MLIPCalculator(make_model(seed=0, init_scheme="legacy"))
    grid = np.linspace(4.2, 5.2, 11)
    energies = [_energy_per_atom(calc, a) for a in grid]
    k = int(np.argmin(energies))
    assert 0 < k < len(grid) - 1, "the model's E(a) must have an interior minimum"
    fine = np.linspace(grid[k - 1], grid[k + 1], 41)
    a0 = fine[np.argmin([_energy_per_atom(calc, a) for a in fine])]  # ±0.0025 Å

    atoms = bulk("Cu", "fcc", a=a0 * 1.04, cubic=True)
    atoms.set_cell(atoms.cell[:] @ np.array([[1.0, 0.02, 0.0], [0.0, 0.98, 0.0],
                                             [0.0, 0.0, 1.01]]), scale_atoms=True)
    atoms.calc = calc
    opt = BFGS(FrechetCellFilter(atoms), logfile=None)
    assert opt.run(fmax=1e-4, steps=200)
    lengths = atoms.cell.cellpar()[:3]
    np.testing.assert_allclose(lengths, a0, atol=5e-3)
    np.testing.assert_allclose(atoms.cell.cellpar()[3:], 90.0, atol=0.05)
    assert np.abs(atoms.get_stress()).max() < 1e-4


@pytest.mark.slow
def test_float32_export_through_calculator(tmp_path):
    from mlip_gnn.export import export_potential

    model = make_model()
    path = export_potential(model, tmp_path / "m32.pt", dtype="float32")
    atoms = random_crystal(seed=17)
    atoms.calc = MLIPCalculator(str(path))
    ref = model(graph_of(atoms), compute_forces=True)
    assert atoms.get_forces().dtype == np.float64
    forces = ref["forces"].detach().numpy()
    # float32 round-off (6e-8 per operation) accumulates over ~10³ terms per force
    # (pair terms, channels, paths) that largely cancel: 1e-5 of the largest force
    np.testing.assert_allclose(atoms.get_forces(), forces, atol=1e-5 * np.abs(forces).max())
    assert isinstance(atoms.calc.committee.models[0], torch.jit.ScriptModule)
