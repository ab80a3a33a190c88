"""A structure search as an explorer of the active-learning loop (``explore.search``): each
round runs it with the round's committee beside the MD, its distinct minima join the
explored frames as the condition ``search`` and can be selected and labelled, the round is
only as accurate as the worse of the hardest MD condition and the search, a killed round's
search resumes from its trial log, and a bad search file fails before any training."""

import pytest
import yaml
from ase.io import read

from mlip_gnn.active_learning import ActiveLearning
from mlip_gnn.utils.schema import ConfigError
from al_support import CountingLabeller, fresh_trainer, tiny_al_config, untrained_train  # noqa: F401

SEARCH = {"composition": {"Cu": 4}, "mode": "cluster", "method": "random", "trials": 3,
          "constraints": {"min_distance": 2.0, "radius": 3.0},
          "relax": {"fmax": 0.1, "steps": 30}}
SMALL_MD = {"structures": "cu", "steps": 10, "interval": 5,
            "schedule": [{"temperatures": [300]}]}


def search_loop(tmp_path, search=SEARCH, **explore):
    path = tmp_path / "search.yaml"
    path.write_text(yaml.safe_dump(search))
    return tiny_al_config(tmp_path / "work", explore={**SMALL_MD, "search": str(path),
                                                      **explore},
                          select={"lower": 1e-6, "upper": 100.0, "max_candidates": 6},
                          stop={"max_iterations": 2})


def test_the_search_minima_join_the_exploration_and_are_labelled(tmp_path):
    labeller = CountingLabeller()
    summary = ActiveLearning(search_loop(tmp_path), labeller, untrained_train).run()[0]
    explore = tmp_path / "work" / "iter_000" / "explore"
    trials = (explore / "search" / "trials.jsonl").read_text().splitlines()
    assert len(trials) == 3
    minima = read(explore / "search.xyz", ":")
    assert 1 <= len(minima) <= 3 and all(len(m) == 4 for m in minima)
    assert all(m.info["al_trajectory"] == "search" and m.info["al_score"] > 0
               for m in minima)
    assert "search" in summary["accurate_fraction_by_condition"]
    # everything is a candidate at this lower threshold: the round is not accurate
    assert summary["accurate_fraction"] == 0.0
    added = read(tmp_path / "work" / "iter_000" / "added.xyz", ":")
    assert any(len(frame) == 4 for frame in added)  # a cluster minimum was labelled


def test_a_killed_round_reruns_nothing_of_its_finished_search(tmp_path, monkeypatch):
    cfg = search_loop(tmp_path)
    ActiveLearning(cfg, CountingLabeller(), untrained_train).run()
    explore = tmp_path / "work" / "iter_000" / "explore"
    before = (explore / "search" / "trials.jsonl").read_text()
    (explore / "summary.json").unlink()  # as if killed after the search, before the summary
    (tmp_path / "work" / "iter_000" / "summary.json").unlink()
    import mlip_gnn.search.drivers as drivers

    def no_new_trials(self, index):
        raise AssertionError(f"trial {index} run again")

    monkeypatch.setattr(drivers.Driver, "step", no_new_trials)
    ActiveLearning(cfg, CountingLabeller(), untrained_train).run()
    assert (explore / "search" / "trials.jsonl").read_text() == before


def test_search_trials_per_round_replace_the_files_own(tmp_path):
    ActiveLearning(search_loop(tmp_path, search_trials=2), CountingLabeller(),
                   untrained_train).run()
    trials = tmp_path / "work" / "iter_000" / "explore" / "search" / "trials.jsonl"
    assert len(trials.read_text().splitlines()) == 2


def test_a_bad_search_file_fails_before_any_training(tmp_path):
    cfg = search_loop(tmp_path, search={**SEARCH, "composition": {"Cu": 4}, "metod": "x"})
    with pytest.raises(ConfigError, match="metod"):
        ActiveLearning(cfg, CountingLabeller(), untrained_train)
    assert not untrained_train.calls
