"""Graphs, batching offsets, species tables and dataset statistics."""

import numpy as np
import pytest
import torch
from ase import Atoms
from ase.build import bulk

from mlip_gnn.data import (Configuration, SpeciesTable, UnknownSpeciesError,
                           average_num_neighbours, collate, configuration_from_atoms, force_rms,
                           graph_from_configuration, keys, reference_energies)


def graph(atoms, r_max=3.0):
    conf = configuration_from_atoms(atoms)
    return graph_from_configuration(conf, r_max, SpeciesTable([13, 29]))


def test_collate_offsets_only_index_fields():
    a = graph(bulk("Cu", "fcc", a=3.6, cubic=True))
    b = graph(Atoms("AlCu", positions=[[0, 0, 0], [2.0, 0, 0]]))
    batch = collate([a, b])
    assert batch[keys.EDGE_INDEX].shape[1] == a[keys.EDGE_INDEX].shape[1] + 2
    np.testing.assert_array_equal(batch[keys.EDGE_INDEX][:, -2:], [[4, 5], [5, 4]])
    np.testing.assert_array_equal(batch[keys.BATCH], [0, 0, 0, 0, 1, 1])
    np.testing.assert_array_equal(batch[keys.PTR], [0, 4, 6])
    np.testing.assert_array_equal(batch[keys.SPECIES], [1, 1, 1, 1, 0, 1])
    assert batch[keys.CELL].shape == (2, 3, 3)
    # shifts are per edge and must not be offset
    assert torch.equal(batch[keys.EDGE_CELL_SHIFT][: a[keys.EDGE_CELL_SHIFT].shape[0]],
                       a[keys.EDGE_CELL_SHIFT])


def test_unknown_species_is_a_clear_error():
    with pytest.raises(UnknownSpeciesError, match=r"\['O'\] not known .* \['Al', 'Cu'\]"):
        graph(Atoms("CuO", positions=[[0, 0, 0], [1.8, 0, 0]]))


def conf(numbers, energy, forces=None):
    n = len(numbers)
    return Configuration(atomic_numbers=np.array(numbers), positions=np.zeros((n, 3)),
                         cell=np.zeros((3, 3)), pbc=np.zeros(3, bool), energy=energy,
                         forces=forces)


def test_least_squares_reference_energies_recover_exact_values():
    e0 = {13: -1.25, 29: -3.5}
    configs = [conf(z, sum(e0[k] for k in z)) for z in ([13, 29], [29, 29, 29], [13, 13, 29])]
    fitted = reference_energies(configs, SpeciesTable([13, 29]), "least_squares")
    assert fitted == pytest.approx(e0, abs=1e-12)


def test_isolated_and_given_reference_energies():
    configs = [conf([29], -0.7), conf([13], -0.2), conf([13, 29], -5.0)]
    table = SpeciesTable([13, 29])
    assert reference_energies(configs, table, "isolated") == {13: -0.2, 29: -0.7}
    assert reference_energies(configs, table, {13: 1.0, 29: 2.0}) == {13: 1.0, 29: 2.0}
    with pytest.raises(ValueError, match="no isolated-atom frame .* \\[13\\]"):
        reference_energies(configs[::2], table, "isolated")


def test_force_rms_and_average_neighbours():
    configs = [conf([29, 29], -1.0, np.array([[3.0, 0, 0], [0, 0, -3.0]]))]
    assert force_rms(configs) == pytest.approx(np.sqrt(18 / 6))
    fcc = graph(bulk("Cu", "fcc", a=3.6), r_max=3.0)  # 12 nearest neighbours at 2.55 Å
    assert average_num_neighbours([fcc]) == 12.0


def test_isolated_atom_in_a_periodic_box_counts_when_labelled():
    boxed = conf([29], -0.7)
    boxed.pbc[:] = True
    boxed.cell = 20.0 * np.eye(3)
    table = SpeciesTable([29])
    with pytest.raises(ValueError, match="no isolated-atom frame"):
        reference_energies([boxed], table, "isolated")
    boxed.config_type = "isolated_atom"
    assert reference_energies([boxed], table, "isolated") == {29: -0.7}
