"""Exploration trajectories stop at the upper threshold; NPT runs at a pressure."""

import numpy as np
from ase.build import bulk
from ase.calculators.emt import EMT

from mlip_gnn.active_learning.explore import (SCORE_KEY, Condition, explore, load_exploration,
                                              run_trajectory)
from al_support import tiny_al_config


class GrowingSpread(EMT):
    """EMT whose 'uncertainty' grows by 0.01 eV/Å with every new set of positions."""

    def __init__(self):
        super().__init__()
        self.evaluations = 0

    def calculate(self, atoms=None, properties=("energy",), system_changes=None):
        super().calculate(atoms, properties, system_changes or ["positions"])
        self.evaluations += 1
        spread = 0.01 * self.evaluations
        self.results["forces_std"] = np.full(len(self.atoms), spread)
        self.results["max_forces_std"] = spread


def _explore_cfg(tmp_path, **kwargs):
    section = {"structures": "cu", "steps": 100, "interval": 10,
               "schedule": [{"temperatures": [300]}], **kwargs}
    return tiny_al_config(tmp_path, explore=section).explore


def test_a_trajectory_stops_at_the_first_step_above_the_upper_threshold(tmp_path):
    atoms = bulk("Cu", "fcc", a=3.6, cubic=True)
    # the score after step n is 0.01 (n + 1): first above 0.255 at step 25
    run = run_trajectory("t", atoms, GrowingSpread(), Condition(300.0, None, 100),
                         _explore_cfg(tmp_path), upper=0.255, seed=0)
    assert run.stopped_at == 25 and run.planned == 10
    assert [f.info["al_step"] for f in run.frames] == [10, 20, 25]
    np.testing.assert_allclose([f.info[SCORE_KEY] for f in run.frames], [0.11, 0.21, 0.26])
    assert run.frames[-1].info["al_stopped"] and "al_stopped" not in run.frames[0].info
    np.testing.assert_allclose(run.frames[0].arrays["forces_std"], 0.11)


def test_an_unstopped_trajectory_keeps_every_interval_and_reloads_the_same(tmp_path):
    atoms = bulk("Cu", "fcc", a=3.6, cubic=True)
    runs = explore(tmp_path / "x", {"cu": atoms}, GrowingSpread(),
                   [Condition(300.0, None, 30)], _explore_cfg(tmp_path), upper=10.0, seed=0)
    assert runs[0].stopped_at is None and len(runs[0].frames) == 3
    loaded = load_exploration(tmp_path / "x")
    assert [f.info[SCORE_KEY] for f in loaded[0].frames] == \
        [f.info[SCORE_KEY] for f in runs[0].frames]
    np.testing.assert_allclose(loaded[0].frames[2].positions, runs[0].frames[2].positions,
                               atol=1e-7)  # Å: extended XYZ keeps 8 decimals
    assert load_exploration(tmp_path / "missing") is None


def test_a_pressure_runs_npt_and_the_cell_follows(tmp_path):
    atoms = bulk("Cu", "fcc", a=3.6, cubic=True) * (2, 2, 2)
    cfg = _explore_cfg(tmp_path, strain=0.0, timestep_fs=2.0)
    volumes = {}
    for pressure in (0.0, 30.0):
        run = run_trajectory("p", atoms, GrowingSpread(), Condition(300.0, pressure, 60),
                             cfg, upper=10.0, seed=0)
        assert run.frames[-1].info["pressure_GPa"] == pressure
        volumes[pressure] = run.frames[-1].get_volume()
    assert volumes[30.0] < volumes[0.0] - 1.0  # Å³: 30 GPa squeezes the cell
