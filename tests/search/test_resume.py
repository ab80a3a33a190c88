"""A killed search resumes: no trial lost or repeated, and the result of an
uninterrupted run; a rerun with other settings is refused."""

import json

import numpy as np
import pytest
from ase.calculators.emt import EMT
from search_support import cu_cluster

from mlip_gnn.search import TRIALS_FILE, SearchError, run_search


class Killed(Exception):
    pass


class DiesAfter(EMT):
    """EMT that raises after ``calls`` energy evaluations (a killed process)."""

    def __init__(self, calls):
        super().__init__()
        self.left = calls

    def calculate(self, *args, **kwargs):
        self.left -= 1
        if self.left < 0:
            raise Killed
        super().calculate(*args, **kwargs)


def trial_lines(out):
    return [json.loads(line) for line in (out / TRIALS_FILE).read_text().splitlines()]


@pytest.mark.parametrize("method", ["basin_hopping", "minima_hopping", "random"])
def test_killed_search_resumes_to_the_uninterrupted_result(tmp_path, method):
    cfg = cu_cluster(method=method, trials=5)
    whole = run_search(cfg, EMT(), tmp_path / "whole", plots=False)
    with pytest.raises(Killed):  # dies inside a later trial
        run_search(cfg, DiesAfter(300), tmp_path / "killed", plots=False)
    done = len(trial_lines(tmp_path / "killed"))
    assert 0 < done < 5
    resumed = run_search(cfg, EMT(), tmp_path / "killed", plots=False)
    assert resumed.new_trials == 5 - done
    assert [r.index for r in resumed.records] == list(range(5))
    for a, b in zip(whole.records, resumed.records):
        assert a.energy == b.energy and a.accepted == b.accepted and a.current == b.current
        np.testing.assert_array_equal(a.positions, b.positions)
        assert a.state == b.state
    assert [m.trials for m in whole.minima] == [m.trials for m in resumed.minima]


def test_cut_off_line_is_redone_and_a_larger_budget_extends(tmp_path):
    cfg = cu_cluster(trials=3)
    run_search(cfg, EMT(), tmp_path, plots=False)
    path = tmp_path / TRIALS_FILE
    before = trial_lines(tmp_path)
    lines = path.read_text().splitlines(keepends=True)
    path.write_text("".join(lines[:2]) + lines[2][: len(lines[2]) // 2])  # killed mid-write
    again = run_search(cfg, EMT(), tmp_path, plots=False)
    assert again.new_trials == 1
    after = trial_lines(tmp_path)
    for record in before + after:
        record.pop("wall_s")
    assert after == before  # the redone trial is the same trial
    more = run_search(cu_cluster(trials=5), EMT(), tmp_path, plots=False)
    assert more.new_trials == 2 and len(trial_lines(tmp_path)) == 5


def test_rerun_with_other_settings_is_refused(tmp_path):
    run_search(cu_cluster(trials=1), EMT(), tmp_path, plots=False)
    with pytest.raises(SearchError, match=r"other settings \(basin_hopping, seed differ"):
        run_search(cu_cluster(trials=2, seed=4, basin_hopping={"step_size": 0.5}), EMT(),
                   tmp_path, plots=False)
    assert len(trial_lines(tmp_path)) == 1  # nothing lost


def test_damaged_log_is_an_error(tmp_path):
    run_search(cu_cluster(trials=2), EMT(), tmp_path, plots=False)
    lines = (tmp_path / TRIALS_FILE).read_text().splitlines(keepends=True)
    (tmp_path / TRIALS_FILE).write_text(lines[1] + lines[0])
    with pytest.raises(SearchError, match="line 1 is trial 1, expected 0"):
        run_search(cu_cluster(trials=3), EMT(), tmp_path, plots=False)
