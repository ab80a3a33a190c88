"""Which explored frames to label: the DP-GEN trust window and farthest-point sampling.

A frame's score is the largest per-atom force uncertainty (eV/Å). Below ``lower`` the
model is accurate there; between ``lower`` and ``upper`` it is a candidate; above
``upper`` the frame is taken as unphysical and discarded (Zhang et al., Comput. Phys.
Commun. 253, 107206 (2020), DP-GEN). Candidates are thinned by farthest-point sampling in
descriptor space, so that near-copies from one trajectory are not all labelled.
"""

from __future__ import annotations


import numpy as np

__all__ = ["ACCURATE", "CANDIDATE", "FAILED", "classify", "farthest_point_sampling",
           "select_candidates", "select_random"]

ACCURATE, CANDIDATE, FAILED = 0, 1, 2


def classify(scores: np.ndarray, lower: float, upper: float) -> np.ndarray:
    """[k] scores (eV/Å) → [k] ACCURATE (< lower), CANDIDATE (lower ≤ s ≤ upper) or
    FAILED (> upper)."""
    scores = np.asarray(scores, dtype=np.float64)
    kinds = np.full(scores.shape, CANDIDATE, dtype=np.int64)
    kinds[scores < lower] = ACCURATE
    kinds[scores > upper] = FAILED
    return kinds


def farthest_point_sampling(points: np.ndarray, count: int, first: int = 0) -> np.ndarray:
    """Indices of ``count`` rows of ``points`` [k, d], greedily each the farthest
    (Euclidean) from those already taken, starting with row ``first``. All rows when
    ``count >= k``; ties go to the lower index."""
    points = np.asarray(points, dtype=np.float64)
    k = len(points)
    if count >= k:
        return np.arange(k)
    if count <= 0:
        return np.zeros(0, dtype=np.int64)
    chosen = [first]
    distance = np.linalg.norm(points - points[first], axis=1)  # [k] to the nearest chosen
    for _ in range(count - 1):
        nxt = int(np.argmax(distance))
        chosen.append(nxt)
        distance = np.minimum(distance, np.linalg.norm(points - points[nxt], axis=1))
    return np.array(chosen, dtype=np.int64)


def select_candidates(scores: np.ndarray, descriptors: np.ndarray | None, lower: float,
                      upper: float, max_count: int) -> np.ndarray:
    """Indices (into ``scores``) of at most ``max_count`` candidates: frames with
    ``lower <= score <= upper``, thinned by farthest-point sampling of their
    ``descriptors`` [k, d] (rows for every frame; None: keep the most uncertain),
    starting from the most uncertain candidate."""
    scores = np.asarray(scores, dtype=np.float64)
    pool = np.flatnonzero(classify(scores, lower, upper) == CANDIDATE)
    if len(pool) <= max_count:
        return pool
    by_score = pool[np.argsort(-scores[pool], kind="stable")]
    if descriptors is None:
        return np.sort(by_score[:max_count])
    picked = farthest_point_sampling(np.asarray(descriptors)[by_score], max_count, first=0)
    return np.sort(by_score[picked])


def select_random(num_frames: int, max_count: int, rng: np.random.Generator) -> np.ndarray:
    """At most ``max_count`` distinct indices of ``num_frames`` frames, uniformly at random
    (the baseline without uncertainty)."""
    return np.sort(rng.choice(num_frames, size=min(max_count, num_frames), replace=False))
