"""The DP-GEN trust window and farthest-point sampling, on synthetic uncertainties."""

import itertools

import numpy as np
import pytest

from mlip_gnn.active_learning import (classify, farthest_point_sampling, select_candidates,
                                      select_random)
from mlip_gnn.active_learning.selection import ACCURATE, CANDIDATE, FAILED
from mlip_gnn.inference import MemberOutput
from mlip_gnn.uncertainty import CommitteeSpread


def test_classify_puts_each_score_on_its_side_of_the_thresholds():
    kinds = classify(np.array([0.01, 0.05, 0.1, 0.3, 0.31, 2.0]), lower=0.05, upper=0.3)
    assert kinds.tolist() == [ACCURATE, CANDIDATE, CANDIDATE, CANDIDATE, FAILED, FAILED]


def _committee_scores(true_sigma, rng, members=400, atoms=8):
    """Max per-atom committee force spread of frames whose members' forces scatter with a
    known standard deviation ``true_sigma`` per component (eV/Å) on one atom."""
    scores = []
    for sigma in true_sigma:
        mean = rng.normal(0.0, 1.0, (atoms, 3))
        spread = np.full((atoms, 1), 1e-3)
        spread[3] = sigma  # one atom carries the frame's uncertainty
        outputs = [MemberOutput(0.0, np.zeros(atoms), mean + spread * rng.standard_normal(
            (atoms, 3))) for _ in range(members)]
        scores.append(float(CommitteeSpread().estimate(outputs).forces.max()))
    return np.array(scores)


def test_candidates_are_the_frames_whose_known_spread_lies_in_the_window():
    rng = np.random.default_rng(0)
    # the committee's per-atom score is the norm over x, y, z: sqrt(3) sigma
    true_sigma = np.array([0.005, 0.02, 0.06, 0.1, 0.12, 0.5, 0.9, 0.03, 0.15])
    expected_score = np.sqrt(3) * true_sigma
    scores = _committee_scores(true_sigma, rng)
    np.testing.assert_allclose(scores, expected_score, rtol=0.08)
    lower, upper = 0.08, 0.5  # eV/Å, each at least 15 % from every expected score
    inside = np.flatnonzero((expected_score >= lower) & (expected_score <= upper))
    picked = select_candidates(scores, None, lower, upper, max_count=10)
    assert picked.tolist() == inside.tolist() == [2, 3, 4, 8]
    # at most N: the most uncertain ones when there are no descriptors
    top2 = select_candidates(scores, None, lower, upper, max_count=2)
    assert sorted(top2.tolist()) == [4, 8]


def test_farthest_point_sampling_takes_one_frame_per_cluster_first():
    rng = np.random.default_rng(1)
    centres = np.array([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0]])
    points = np.concatenate([c + 0.1 * rng.standard_normal((5, 2)) for c in centres])
    picked = farthest_point_sampling(points, 3, first=0)
    assert sorted(set(picked // 5)) == [0, 1, 2]
    assert len(set(picked.tolist())) == 3


def _slow_fps(points, count, first):
    chosen = [first]
    while len(chosen) < count:
        best = max((i for i in range(len(points)) if i not in chosen),
                   key=lambda i: (min(np.linalg.norm(points[i] - points[j]) for j in chosen),
                                  -i))
        chosen.append(best)
    return chosen


@pytest.mark.parametrize("seed, count", list(itertools.product(range(3), (1, 4, 9))))
def test_farthest_point_sampling_matches_its_definition(seed, count):
    points = np.random.default_rng(seed).normal(size=(12, 5))
    assert farthest_point_sampling(points, count, first=2).tolist() == \
        _slow_fps(points, count, 2)


def test_farthest_point_sampling_deduplicates_candidates():
    """Near-copies (one trajectory's neighbouring frames) are not all chosen."""
    scores = np.array([0.2, 0.21, 0.22, 0.23, 0.1, 0.01])
    descriptors = np.array([[0.0], [0.001], [0.002], [0.003], [5.0], [9.0]])
    picked = select_candidates(scores, descriptors, 0.05, 0.5, max_count=2)
    # the most uncertain (3), then the farthest candidate from it (4); 5 is accurate
    assert picked.tolist() == [3, 4]


def test_random_selection_is_distinct_and_bounded():
    rng = np.random.default_rng(0)
    picked = select_random(10, 4, rng)
    assert len(set(picked.tolist())) == 4 and picked.max() < 10
    assert select_random(3, 5, rng).tolist() == [0, 1, 2]
