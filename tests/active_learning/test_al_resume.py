"""A killed loop resumes where it stopped, labels nothing twice and ends as an unbroken
run does; a structure the reference cannot label is reported and skipped."""

import json

import numpy as np
import pytest
from ase.io import read

from mlip_gnn.active_learning import ActiveLearning, LabelError
from al_support import CountingLabeller, fresh_trainer, tiny_al_config, untrained_train  # noqa: F401

_SMALL = dict(explore={"structures": "cu", "steps": 10, "interval": 5, "trajectories": 2,
                       "schedule": [{"temperatures": [300]}]})
_TIMES = ("train_s", "explore_s", "label_s")


def _log(work_dir):
    lines = (work_dir / "al_log.jsonl").read_text().splitlines()
    return [{k: v for k, v in json.loads(line).items() if k not in _TIMES} for line in lines]


def _positions(path):
    return np.array([f.positions for f in read(path, ":")])


def test_killed_twice_the_loop_resumes_labels_nothing_twice_and_matches_an_unbroken_run(
        tmp_path):
    unbroken = CountingLabeller()
    ActiveLearning(tiny_al_config(tmp_path / "a", **_SMALL), unbroken,
                   untrained_train).run()
    # 4 seed frames, then 3 candidates in iteration 0; the last iteration labels nothing
    assert len(unbroken.ids) == 7 == len(set(unbroken.ids))

    cfg = tiny_al_config(tmp_path / "b", **_SMALL)
    first = CountingLabeller(kill_on=6)  # killed while labelling the 2nd candidate
    with pytest.raises(KeyboardInterrupt):
        ActiveLearning(cfg, first, untrained_train).run()
    assert first.ids == ["initial_00000", "initial_00001", "initial_00002",
                         "initial_00003", "iter000_00000"]
    assert not (tmp_path / "b" / "iter_000" / "summary.json").exists()

    untrained_train.calls.clear()
    untrained_train.kill_on = 2  # killed again, training iteration 1's second model
    second = CountingLabeller()
    with pytest.raises(KeyboardInterrupt):
        ActiveLearning(cfg, second, untrained_train).run()
    assert second.ids == ["iter000_00001", "iter000_00002"]
    assert [c.seed for c in untrained_train.calls] == [0, 1]  # iteration 0 not retrained

    untrained_train.calls.clear()
    untrained_train.kill_on = None
    third = CountingLabeller()
    ActiveLearning(cfg, third, untrained_train).run()
    assert third.ids == []
    assert [c.seed for c in untrained_train.calls] == [1]  # only the unfinished model

    labelled = first.ids + second.ids
    assert sorted(labelled) == sorted(unbroken.ids) and len(set(labelled)) == 7
    assert _log(tmp_path / "b") == _log(tmp_path / "a")
    for name in ("initial.xyz", "iter_000/added.xyz", "iter_001/train.xyz"):
        np.testing.assert_array_equal(_positions(tmp_path / "b" / name),
                                      _positions(tmp_path / "a" / name))


class RefusesOne(CountingLabeller):
    def label(self, atoms, folder):
        if atoms.info["al_id"] == "iter000_00001":
            raise LabelError("SCF did not converge")
        return super().label(atoms, folder)


def test_a_structure_the_reference_cannot_label_is_reported_and_skipped(tmp_path):
    cfg = tiny_al_config(tmp_path, **_SMALL)
    summaries = ActiveLearning(cfg, RefusesOne(), untrained_train).run()
    first = summaries[0]
    assert first["selected"] == 3 and first["labelled"] == 2
    assert first["label_failures"] == ["iter000_00001: SCF did not converge"]
    added = read(tmp_path / "iter_000" / "added.xyz", ":")
    assert [a.info["al_id"] for a in added] == ["iter000_00000", "iter000_00002"]
    assert summaries[1]["labels"] == 4 + 2
    assert "SCF did not converge" in (tmp_path / "al.log").read_text()
    # and running the finished loop again labels nothing, not even the failed one
    again = CountingLabeller()
    ActiveLearning(cfg, again, untrained_train).run()
    assert again.ids == []


def test_each_iteration_leaves_its_files_and_a_log_line(tmp_path):
    cfg = tiny_al_config(tmp_path, **_SMALL)
    cfg.heldout = None
    summaries = ActiveLearning(cfg, CountingLabeller(), untrained_train).run()
    assert [s["iteration"] for s in summaries] == [0, 1] == [s["iteration"] for s in
                                                           _log(tmp_path)]
    for i in range(len(summaries)):
        it = tmp_path / f"iter_{i:03d}"
        for name in ("train.xyz", "models/member_0/best.pt", "models/member_1/best.pt",
                     "explore/summary.json", "summary.json", "progress.png"):
            assert (it / name).is_file(), name
        frames = read(it / "explore" / "300K_NVT_cu_0.xyz", ":")
        assert len(frames) == 2 and all(f.info["al_score"] > 0 for f in frames)
    assert summaries[0]["stop"] is None and summaries[1]["stop"] == "max_iterations"
    assert summaries[0]["labels_total"] == summaries[1]["labels"] == 7
    assert (tmp_path / "al_progress.png").is_file()


def test_an_initial_file_is_the_first_training_set_and_must_be_labelled(tmp_path):
    from ase.build import bulk
    from ase.io import write

    from mlip_gnn.data import DataError

    frames = []
    for i in range(3):
        atoms = bulk("Cu", "fcc", a=3.6, cubic=True) * (1, 1, 2)
        atoms.rattle(0.05, seed=i)
        frames.append(CountingLabeller().label(atoms, tmp_path))
    write(tmp_path / "seed.xyz", frames)
    cfg = tiny_al_config(tmp_path / "w", initial={"file": str(tmp_path / "seed.xyz")},
                         stop={"max_iterations": 1}, **_SMALL)
    labeller = CountingLabeller()
    summaries = ActiveLearning(cfg, labeller, untrained_train).run()
    assert labeller.ids == [] and summaries[0]["labels"] == 3
    np.testing.assert_allclose(_positions(tmp_path / "w" / "iter_000" / "train.xyz"),
                               [f.positions for f in frames], atol=1e-7)

    write(tmp_path / "bare.xyz", [bulk("Cu", "fcc", a=3.6)])
    cfg = tiny_al_config(tmp_path / "v", initial={"file": str(tmp_path / "bare.xyz")})
    with pytest.raises(DataError, match="bare.xyz.*missing energy"):
        ActiveLearning(cfg, CountingLabeller(), untrained_train).run()


def test_a_finished_loop_given_more_rounds_goes_on_from_its_last_round(tmp_path):
    cfg = tiny_al_config(tmp_path, stop={"max_iterations": 1}, **_SMALL)
    first = CountingLabeller()
    summaries = ActiveLearning(cfg, first, untrained_train).run()
    assert summaries[0]["stop"] == "max_iterations" and summaries[0]["labelled"] == 0
    untrained_train.calls.clear()
    cfg = tiny_al_config(tmp_path, stop={"max_iterations": 2}, **_SMALL)
    more = CountingLabeller()
    summaries = ActiveLearning(cfg, more, untrained_train).run()
    assert [s["stop"] for s in summaries] == [None, "max_iterations"]
    assert more.ids == ["iter000_00000", "iter000_00001", "iter000_00002"]
    assert [c.seed for c in untrained_train.calls] == [0, 1]  # iteration 1 only
    assert _log(tmp_path)[1]["labels"] == 4 + 3
