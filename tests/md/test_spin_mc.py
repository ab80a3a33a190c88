"""Metropolis moves of collinear moments (flips and size changes)."""

import numpy as np
import pytest
from ase import Atoms, units
from ase.calculators.calculator import Calculator, all_changes
from ase.md.verlet import VelocityVerlet

from mlip_gnn.calculators import MLIPCalculator
from mlip_gnn.data.spin_lattice import (SpinLatticeCalculator, SpinLatticeParameters,
                                        cubic_cell, ordered_moments)
from mlip_gnn.md import SpinMCError, SpinMCSettings, spin_monte_carlo
from spin_support import magnetic_crystal, spin_model


def _cell(order="afm"):
    atoms = cubic_cell("bcc", 2.87)
    atoms.set_initial_magnetic_moments(ordered_moments(atoms, order, 2.2))
    atoms.calc = SpinLatticeCalculator()
    return atoms


def test_at_zero_temperature_only_downhill_moves_are_taken():
    atoms = _cell("fm")
    m = atoms.get_initial_magnetic_moments()
    m[[0, 5]] *= -1  # two reversed moments in a ferromagnet
    atoms.set_initial_magnetic_moments(m)
    start = atoms.get_potential_energy()
    result = spin_monte_carlo(atoms, SpinMCSettings(temperature_K=0.0, sweeps=8, seed=1))
    assert np.all(np.diff(result.energies) <= 0.0) and result.energies[0] < start
    m = atoms.get_initial_magnetic_moments()
    assert np.all(m > 0)  # J1 < 0: the reversed moments turned back
    assert atoms.get_potential_energy() == pytest.approx(result.energies[-1], abs=1e-12)


def test_at_very_high_temperature_nearly_every_move_is_accepted():
    atoms = _cell("fm")
    result = spin_monte_carlo(atoms, SpinMCSettings(temperature_K=1e9, sweeps=3))
    assert result.flip_acceptance > 0.95 and result.size_acceptance > 0.95


class _Landau(Calculator):
    """a m² + b m⁴ of every atom, nothing else (no neighbour list: fast)."""

    implemented_properties = ["energy"]

    def __init__(self, p):
        super().__init__()
        self.p = p

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        m = self.atoms.get_initial_magnetic_moments()
        self.results = {"energy": float(np.sum(self.p.a * m**2 + self.p.b * m**4))}


def test_sizes_follow_the_boltzmann_distribution_of_the_landau_term():
    """An isolated atom feels only a m² + b m⁴: the sampled <|m|> must be the Boltzmann
    average over |m| > 0 (uniform measure: the size move is symmetric in |m|)."""
    p = SpinLatticeParameters()
    atoms = Atoms("Fe", positions=[[0.0, 0.0, 0.0]], magmoms=[2.0], pbc=False)
    atoms.calc = _Landau(p)
    kT = 0.3  # eV
    settings = SpinMCSettings(temperature_K=kT / units.kB, sweeps=6000, size_step=0.8,
                              flip_probability=0.2, seed=3)
    sizes = []
    spin_monte_carlo(atoms, settings,
                     lambda: sizes.append(abs(atoms.get_initial_magnetic_moments()[0])))
    m = np.linspace(0.0, 6.0, 6001)
    weight = np.exp(-(p.a * m**2 + p.b * m**4) / kT)
    expected = np.sum(m * weight) / np.sum(weight)
    assert np.mean(sizes[500:]) == pytest.approx(expected, abs=0.04)


def test_lattice_moves_alternate_with_moment_moves():
    atoms = _cell("fm")
    atoms.rattle(0.05, seed=0)
    dyn = VelocityVerlet(atoms, timestep=1.0)
    calls = []

    def md():
        calls.append(1)
        dyn.run(2)

    result = spin_monte_carlo(atoms, SpinMCSettings(temperature_K=100.0, sweeps=3), md)
    assert len(calls) == 3 and len(result.energies) == 3
    assert result.energies[-1] == pytest.approx(atoms.get_potential_energy(), abs=1e-12)


def test_works_through_the_spin_model_calculator():
    atoms, m = magnetic_crystal()
    atoms.set_initial_magnetic_moments(m)
    atoms.calc = MLIPCalculator(spin_model())
    result = spin_monte_carlo(atoms, SpinMCSettings(temperature_K=0.0, sweeps=2))
    assert np.all(np.diff(result.energies) <= 0.0)
    assert atoms.get_potential_energy() == pytest.approx(result.energies[-1], rel=1e-12)


@pytest.mark.parametrize("bad", [{"temperature_K": -1.0}, {"sweeps": 0},
                                 {"flip_probability": 1.5}, {"size_step": -0.1}])
def test_bad_settings_are_refused(bad):
    with pytest.raises(SpinMCError, match=next(iter(bad))):
        spin_monte_carlo(_cell(), SpinMCSettings(**bad))
