"""Neighbour lists against ASE's reference implementation."""

import numpy as np
import pytest
from ase import Atoms
from ase.build import bulk
from ase.neighborlist import neighbor_list as ase_neighbor_list

from mlip_gnn.data import DataError, neighbour_list


def pairs(i, j, shifts):
    return sorted(zip(i.tolist(), j.tolist(), map(tuple, np.asarray(shifts).astype(int).tolist())))


CASES = {
    "primitive_fcc_small_cell": lambda: bulk("Cu", "fcc", a=3.6),  # far below 2·r_max
    "triclinic": lambda: Atoms("Cu2", positions=[[0, 0, 0], [1.1, 0.9, 1.3]],
                               cell=[[3.0, 0.0, 0.0], [1.4, 2.9, 0.0], [0.7, 1.1, 3.3]],
                               pbc=True),
    "slab_mixed_pbc": lambda: Atoms("Cu3", positions=[[0, 0, 0], [1.5, 1.2, 1.0],
                                                      [0.3, 2.0, 2.4]],
                                    cell=[4.0, 4.5, 20.0], pbc=[True, True, False]),
    "wire_one_periodic": lambda: Atoms("Cu2", positions=[[0, 0, 0], [1.0, 1.0, 1.2]],
                                       cell=[10.0, 10.0, 2.6], pbc=[False, False, True]),
    "molecule": lambda: Atoms("Cu4", positions=[[0, 0, 0], [2.4, 0, 0], [0, 2.5, 0],
                                                [7.0, 7.0, 7.0]], pbc=False),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_matches_ase(name):
    atoms = CASES[name]()
    atoms.rattle(0.05, seed=3)
    r_max = 5.0
    edge_index, shifts = neighbour_list(atoms.positions, atoms.cell[:], atoms.pbc, r_max)
    i, j, s = ase_neighbor_list("ijS", atoms, r_max)
    assert pairs(edge_index[0], edge_index[1], shifts) == pairs(i, j, s)
    vectors = (atoms.positions[edge_index[1]] - atoms.positions[edge_index[0]]
               + shifts @ atoms.cell[:])
    assert np.linalg.norm(vectors, axis=1).max() < r_max


def test_isolated_atom_has_no_edges():
    edge_index, shifts = neighbour_list(np.zeros((1, 3)), np.zeros((3, 3)),
                                        np.array([False] * 3), 5.0)
    assert edge_index.shape == (2, 0) and shifts.shape == (0, 3)


def test_overlapping_atoms_are_reported():
    with pytest.raises(DataError, match="atoms 0 and 1 are .* apart"):
        neighbour_list(np.array([[0.0, 0, 0], [0.01, 0, 0]]), np.zeros((3, 3)),
                       np.array([False] * 3), 5.0, source="x.xyz, frame 2")
