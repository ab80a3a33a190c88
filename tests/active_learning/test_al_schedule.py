"""Exploration conditions per iteration, the hardest condition and accurate fractions."""

import math

import pytest
from ase import Atoms

from mlip_gnn.active_learning.explore import (SCORE_KEY, Condition, Trajectory,
                                              accurate_fractions, conditions_for, hardest)
from al_support import tiny_al_config


def _explore_cfg(tmp_path, schedule, steps=100):
    cfg = tiny_al_config(tmp_path, explore={"structures": "cu", "steps": steps,
                                            "schedule": schedule})
    return cfg.explore


def test_each_iteration_takes_its_stage_then_the_last_one(tmp_path):
    explore = _explore_cfg(tmp_path, [{"temperatures": [300]},
                                      {"temperatures": [300, 600], "steps": 50},
                                      {"temperatures": [1200], "pressures": [0.0, 2.0]}])
    assert conditions_for(explore, 0) == (0, [Condition(300.0, None, 100)])
    assert conditions_for(explore, 1) == (1, [Condition(300.0, None, 50),
                                              Condition(600.0, None, 50)])
    last = (2, [Condition(1200.0, 0.0, 100), Condition(1200.0, 2.0, 100)])
    assert conditions_for(explore, 2) == last
    assert conditions_for(explore, 7) == last


def test_hardest_is_the_hottest_then_the_highest_pressure():
    conditions = [Condition(900.0, 5.0, 10), Condition(1200.0, 0.0, 10),
                  Condition(1200.0, -3.0, 10), Condition(300.0, None, 10)]
    assert hardest(conditions) == Condition(1200.0, -3.0, 10)
    assert Condition(1200.0, None, 10).name == "1200K_NVT"
    assert Condition(300.0, 2.5, 10).name == "300K_2.5GPa"


def _frame(score, stopped=False):
    atoms = Atoms("Cu")
    atoms.info[SCORE_KEY] = score
    if stopped:
        atoms.info["al_stopped"] = True
    return atoms


def test_frames_a_stopped_trajectory_never_reached_count_as_not_accurate():
    hot, cold = Condition(900.0, None, 100), Condition(300.0, None, 100)
    runs = [Trajectory("a", cold, [_frame(0.01)] * 10, planned=10, stopped_at=None),
            Trajectory("b", hot, [_frame(0.01)] * 10, planned=10, stopped_at=None),
            # stopped at step 30 of 100: 2 accurate frames kept, then the failed one
            Trajectory("c", hot, [_frame(0.01), _frame(0.02), _frame(0.9, True)],
                       planned=10, stopped_at=30)]
    fractions = accurate_fractions(runs, lower=0.05)
    assert fractions["300K_NVT"] == 1.0
    assert fractions["900K_NVT"] == pytest.approx(12 / 20)


def test_an_empty_plan_gives_nan_not_a_division_error():
    runs = [Trajectory("a", Condition(300.0, None, 5), [], planned=0, stopped_at=None)]
    assert math.isnan(accurate_fractions(runs, 0.05)["300K_NVT"])
