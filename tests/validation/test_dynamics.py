"""MSD, diffusion coefficient, RDF and the MD run behind them."""

import numpy as np
import pytest
from ase.build import bulk
from ase.calculators.emt import EMT

from mlip_gnn.validation.dynamics import (M2_PER_S_PER_A2_PER_PS, block_diffusion,
                                          diffusion_coefficient, mean_squared_displacement,
                                          radial_distribution, run_trajectory, unwrap)


def _random_walk(d_a2_per_ps=0.5, frames=801, atoms=100, dt_ps=0.01, seed=0):
    """Brownian walkers with a known D, wrapped into a 10 Å box, plus a uniform drift of
    the whole system that the analysis must remove."""
    rng = np.random.default_rng(seed)
    steps = rng.normal(scale=np.sqrt(2 * d_a2_per_ps * dt_ps), size=(frames - 1, atoms, 3))
    true = np.concatenate([np.zeros((1, atoms, 3)), np.cumsum(steps, axis=0)])
    true += rng.uniform(0, 10, size=(1, atoms, 3))
    drift = np.arange(frames)[:, None, None] * np.array([0.05, -0.02, 0.01])
    cell = 10.0 * np.eye(3)
    wrapped = (true + drift) % 10.0
    return np.arange(frames) * dt_ps, wrapped, true, cell


def test_unwrap_recovers_the_continuous_path():
    times, wrapped, true, cell = _random_walk(frames=200, atoms=20)
    drift = np.arange(200)[:, None, None] * np.array([0.05, -0.02, 0.01])
    unwrapped = unwrap(wrapped, cell)
    assert np.allclose(unwrapped - unwrapped[0], (true + drift) - (true + drift)[0],
                       atol=1e-9)


def test_diffusion_coefficient_of_a_known_random_walk():
    d_true = 0.5  # Å²/ps
    times, wrapped, _, cell = _random_walk(d_true)
    masses = np.ones(wrapped.shape[1])
    d, lags, msd, slope, _ = diffusion_coefficient(times, unwrap(wrapped, cell), masses)
    error = block_diffusion(times, unwrap(wrapped, cell), masses, blocks=5)
    expected = d_true * M2_PER_S_PER_A2_PER_PS
    assert d == pytest.approx(expected, rel=0.1)
    assert 0 < error < 0.1 * d
    assert abs(d - expected) < 3 * error
    # without removing the drift the MSD would grow like (v t)² and D would be far off
    assert msd[-1] < 6 * d_true * lags[-1] * 1.2


def test_msd_is_zero_for_a_rigid_translation():
    positions = np.zeros((10, 4, 3)) + np.arange(10)[:, None, None] * 0.3
    assert np.allclose(mean_squared_displacement(positions, np.ones(4), 5), 0.0)


def test_rdf_of_fcc_peaks_at_the_nearest_neighbour_distance():
    atoms = bulk("Cu", "fcc", a=3.6, cubic=True).repeat(3)
    r, g = radial_distribution(atoms.positions[None], atoms.cell[:], 6.0, bins=200)
    assert r[int(np.argmax(g))] == pytest.approx(3.6 / np.sqrt(2), abs=0.03)
    # 12 neighbours in the first shell: the integral of ρ g(r) 4πr² dr up to 3 Å
    rho = len(atoms) / atoms.get_volume()
    half = 0.5 * (r[1] - r[0])
    shells = 4 / 3 * np.pi * ((r + half) ** 3 - (r - half) ** 3)
    first = r < 3.0
    assert np.sum(rho * g[first] * shells[first]) == pytest.approx(12, rel=1e-9)


def test_nve_production_conserves_energy_with_emt():
    from mlip_gnn.validation.spec import DynamicsSettings

    settings = DynamicsSettings(timestep_fs=1.0, equilibration="langevin",
                                equilibration_steps=20, production_steps=40, interval=5)
    atoms = bulk("Cu", "fcc", a=3.59, cubic=True).repeat(2)
    traj = run_trajectory(atoms, EMT(), 300.0, settings)
    assert traj["positions"].shape == (9, 32, 3)
    assert np.ptp(traj["total_energy"]) < 2e-3  # eV over 40 fs at 300 K
    assert traj["temperature"].mean() > 50


@pytest.mark.slow
def test_liquid_emt_copper_diffuses():
    from validation_support import cu_system

    from mlip_gnn.validation import parse_system, run_validation

    system = cu_system(properties=["dynamics"], temperatures=[1800],
                       settings={"dynamics": {"min_atoms": 100, "melt_K": 3000,
                                              "timestep_fs": 2.0,
                                              "melt_steps": 300, "equilibration_steps": 300,
                                              "production_steps": 1000, "interval": 5}})
    result = run_validation(parse_system(system), [EMT()], ["EMT"], EMT())
    by_name = {e.name: e for e in result.entries}
    d = by_name["diffusion_coefficient_1800K"].model
    assert 1e-9 < d < 1e-8  # liquid metal: a few 1e-9 m²/s
    assert 2.2 < by_name["rdf_first_peak_1800K"].model < 2.7
    assert abs(by_name["nve_energy_drift_1800K"].model) < 1.0  # meV/atom/ps
    assert by_name["diffusion_coefficient_1800K"].error == 0.0
