"""Reading collinear moments, and the spin-lattice reference against finite differences."""

import dataclasses

import ase.io
import numpy as np
import pytest
from ase.build import bulk
from ase.calculators.singlepoint import SinglePointCalculator

from mlip_gnn.data import DataError, KeyMap, SpeciesTable, graph_from_configuration, keys
from mlip_gnn.data import read_configurations
from mlip_gnn.data.spin_lattice import (SpinLatticeCalculator, cubic_cell, ordered_moments,
                                        pair_terms, SpinLatticeParameters)

SPIN_KEYS = KeyMap(magmoms="initial_magmoms", magnetic_forces="magnetic_forces")


def _frames(n=3, key="initial_magmoms", skip=None):
    frames = []
    for k in range(n):
        atoms = bulk("Fe", "bcc", 2.87, cubic=True)
        atoms.arrays.pop("initial_magmoms", None)  # ASE gives bulk Fe 2.3 μB
        atoms.positions += 0.01 * k
        atoms.calc = SinglePointCalculator(atoms, energy=-1.0 - k)
        if k != skip:
            atoms.arrays[key] = np.array([2.0 + k, -2.0])
        frames.append(atoms)
    return frames


@pytest.mark.parametrize("key", ["initial_magmoms", "magmoms", "mag"])
def test_reader_reads_moments_from_the_named_array(tmp_path, key):
    path = tmp_path / "fe.xyz"
    ase.io.write(path, _frames(key=key), format="extxyz")
    confs = read_configurations(path, dataclasses.replace(SPIN_KEYS, magmoms=key))
    for k, conf in enumerate(confs):
        np.testing.assert_array_equal(conf.magmoms, [2.0 + k, -2.0])
        assert conf.magnetic_forces is None
    graph = graph_from_configuration(confs[1], 4.0, SpeciesTable([26]))
    assert graph[keys.MAGMOMS].tolist() == [3.0, -2.0]
    assert graph[keys.MAGNETIC_FORCES_WEIGHT].tolist() == [0.0]


def test_a_frame_without_moments_is_refused_naming_file_frame_and_key(tmp_path):
    path = tmp_path / "fe.xyz"
    ase.io.write(path, _frames(skip=2), format="extxyz")
    with pytest.raises(DataError) as err:
        read_configurations(path, SPIN_KEYS)
    message = str(err.value)
    assert str(path) in message and "frame 2" in message and "initial_magmoms" in message


def test_non_collinear_moments_are_refused(tmp_path):
    frames = _frames(n=1)
    frames[0].arrays["initial_magmoms"] = np.ones((2, 3))
    path = tmp_path / "fe.xyz"
    ase.io.write(path, frames, format="extxyz")
    with pytest.raises(DataError, match=r"expected \(2,\): one value per atom"):
        read_configurations(path, SPIN_KEYS)


def test_without_a_moments_key_moments_are_not_read(tmp_path):
    path = tmp_path / "fe.xyz"
    ase.io.write(path, _frames(), format="extxyz")
    conf = read_configurations(path)[0]
    assert conf.magmoms is None
    graph = graph_from_configuration(conf, 4.0, SpeciesTable([26]))
    assert keys.MAGMOMS not in graph


def _reference_cell(seed=0):
    rng = np.random.default_rng(seed)
    atoms = cubic_cell("bcc", 2.8)
    atoms.set_initial_magnetic_moments(rng.uniform(1.0, 2.5, len(atoms))
                                       * rng.choice([-1.0, 1.0], len(atoms)))
    atoms.set_cell(atoms.cell[:] @ (np.eye(3) + 0.02 * rng.standard_normal((3, 3))),
                   scale_atoms=True)
    atoms.positions += 0.08 * rng.standard_normal(atoms.positions.shape)
    atoms.calc = SpinLatticeCalculator()
    return atoms


def test_reference_forces_stress_and_magnetic_forces_match_finite_differences():
    atoms = _reference_cell()
    forces = atoms.get_forces()
    magnetic = atoms.calc.results["magnetic_forces"].copy()
    h = 1e-5

    def energy(a):
        a.calc = SpinLatticeCalculator()
        return a.get_potential_energy()

    for i, c in [(0, 0), (4, 1), (9, 2)]:
        plus, minus = atoms.copy(), atoms.copy()
        plus.positions[i, c] += h
        minus.positions[i, c] -= h
        assert forces[i, c] == pytest.approx(-(energy(plus) - energy(minus)) / (2 * h),
                                             abs=1e-7)
    m = atoms.get_initial_magnetic_moments()
    for i in (0, 7):
        plus, minus = atoms.copy(), atoms.copy()
        plus.set_initial_magnetic_moments(m + h * (np.arange(len(m)) == i))
        minus.set_initial_magnetic_moments(m - h * (np.arange(len(m)) == i))
        assert magnetic[i] == pytest.approx(-(energy(plus) - energy(minus)) / (2 * h),
                                            abs=1e-7)
    # σ = (1/V) ∂E/∂ε: strain the cell and the atoms with it
    stress = atoms.get_stress(voigt=False)
    volume = atoms.get_volume()
    for a, b in [(0, 0), (1, 2), (2, 0)]:
        eps = np.zeros((3, 3))
        eps[a, b] = eps[b, a] = h / 2 if a != b else h
        plus, minus = atoms.copy(), atoms.copy()
        plus.set_cell(atoms.cell[:] @ (np.eye(3) + eps), scale_atoms=True)
        minus.set_cell(atoms.cell[:] @ (np.eye(3) - eps), scale_atoms=True)
        derivative = (energy(plus) - energy(minus)) / (2 * h)
        expected = derivative / volume  # ε_ab = ε_ba = h/2 off the diagonal
        assert stress[a, b] == pytest.approx(expected, abs=1e-7)


def test_reference_is_even_under_flipping_every_moment():
    atoms = _reference_cell(1)
    energy, forces = atoms.get_potential_energy(), atoms.get_forces()
    atoms.set_initial_magnetic_moments(-atoms.get_initial_magnetic_moments())
    assert atoms.get_potential_energy() == pytest.approx(energy, abs=1e-12)
    np.testing.assert_allclose(atoms.get_forces(), forces, atol=1e-12)


def test_reference_pair_terms_match_their_formula_and_vanish_at_the_cutoff():
    p = SpinLatticeParameters()
    r = np.array([2.5, p.r0, 3.0])
    phi, _, j, _ = pair_terms(r, p)
    np.testing.assert_allclose(phi, p.D * ((1 - np.exp(-p.alpha * (r - p.r0))) ** 2 - 1))
    np.testing.assert_allclose(j, p.j1 + p.j2 * (r - p.r0))
    at_cut = pair_terms(np.array([p.r_c, p.r_c + 0.1]), p)
    assert all(np.allclose(t, 0.0) for t in at_cut)


def test_ordered_moments_are_b2_and_l10():
    bcc = cubic_cell("bcc", 2.87)
    m = ordered_moments(bcc, "afm", 2.0)
    # B2: every nearest neighbour (√3 a/2) antiparallel
    d = bcc.get_all_distances(mic=True)
    nearest = np.isclose(d, np.sqrt(3) / 2 * 2.87)
    assert np.all(np.outer(m, m)[nearest] < 0)
    fcc = cubic_cell("fcc", 3.8)
    m = ordered_moments(fcc, "afm", 2.0)
    d = fcc.get_all_distances(mic=True)
    nearest = np.isclose(d, 3.8 / np.sqrt(2))
    # L1₀: 4 of 12 nearest neighbours parallel
    assert all(np.sum((np.outer(m, m) > 0) & nearest, axis=1) == 4)
    assert np.all(ordered_moments(fcc, "fm", 2.0) == 2.0)
