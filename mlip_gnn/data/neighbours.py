"""Neighbour lists with periodic images, built by vesin (C++, any cell, mixed PBC)."""

from __future__ import annotations

from typing import Tuple

import numpy as np

from mlip_gnn.data.errors import DataError

__all__ = ["neighbour_list"]


def neighbour_list(positions: np.ndarray, cell: np.ndarray, pbc: np.ndarray, r_max: float,
                   min_distance: float = 0.1, source: str = "<memory>"
                   ) -> Tuple[np.ndarray, np.ndarray]:
    """All ordered pairs (i, j) with |r_j - r_i + S·cell| < r_max, self-pairs excluded.

    Args:
        positions: [n, 3] Å.  cell: [3, 3] Å, rows are lattice vectors.  pbc: [3] bool.
        min_distance: pairs closer than this (Å) are reported as overlapping atoms.

    Returns:
        edge_index [2, e] int64 (sender i, receiver j) and cell shifts S [e, 3] float64.
        Correct for cells smaller than 2·r_max (several images of one atom are kept).
    """
    from vesin import NeighborList

    positions = np.ascontiguousarray(positions, dtype=np.float64)
    pbc = np.asarray(pbc, dtype=bool)
    box = np.where(pbc[:, None], np.asarray(cell, dtype=np.float64), 0.0)
    if len(positions) < 2 and not pbc.any():
        return np.zeros((2, 0), dtype=np.int64), np.zeros((0, 3), dtype=np.float64)
    calc = NeighborList(cutoff=float(r_max), full_list=True)
    i, j, shifts, d = calc.compute(points=positions, box=box, periodic=pbc.tolist(),
                                   quantities="ijSd")
    if d.size and d.min() < min_distance:
        k = int(np.argmin(d))
        raise DataError(f"{source}: atoms {i[k]} and {j[k]} are {d[k]:.3g} Å apart "
                        f"(closer than {min_distance} Å): overlapping atoms")
    edge_index = np.stack([i, j]).astype(np.int64)
    return edge_index, shifts.astype(np.float64)
