"""The EMT Cu quickstart data set: determinism, file round trip, labels, coverage."""

import numpy as np
import pytest
from ase.calculators.emt import EMT
from ase.io import read

from mlip_gnn.data.synthetic import (dataset_summary, generate_cu_emt_dataset,
                                     write_cu_emt_dataset)

SMALL = {"n_frames": 16, "seed": 7, "md_temperatures": (300, 2000)}


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    path = tmp_path_factory.mktemp("synthetic") / "nested" / "dir" / "cu_emt.xyz"
    return write_cu_emt_dataset(path, **SMALL)


@pytest.fixture(scope="module")
def frames(written):
    return read(written, ":")


def _forces(frames, config_type):
    return np.concatenate([f.get_forces().ravel() for f in frames
                           if f.info["config_type"] == config_type])


def _perpendicular_widths(cell):
    """Distances between opposite faces of the cell, Å."""
    a, b, c = cell
    volume = abs(np.linalg.det(cell))
    return volume / np.linalg.norm([np.cross(b, c), np.cross(c, a), np.cross(a, b)], axis=1)


def test_deterministic_for_seed():
    kwargs = {"n_frames": 8, "md_temperatures": (300,)}
    first = generate_cu_emt_dataset(seed=3, **kwargs)
    again = generate_cu_emt_dataset(seed=3, **kwargs)
    other = generate_cu_emt_dataset(seed=4, **kwargs)
    assert [f.info["config_type"] for f in first] == [f.info["config_type"] for f in again]
    for f, g in zip(first, again, strict=True):
        np.testing.assert_array_equal(f.positions, g.positions)
        np.testing.assert_array_equal(f.cell.array, g.cell.array)
        np.testing.assert_array_equal(f.get_forces(), g.get_forces())
        assert f.get_potential_energy() == g.get_potential_energy()
    assert any(not np.array_equal(f.positions, g.positions)
               for f, g in zip(first, other, strict=True))


def test_file_reads_back_with_labels(written, frames):
    assert [p.name for p in written.parent.iterdir()] == ["cu_emt.xyz"]  # no temp left
    assert len(frames) == SMALL["n_frames"]
    for atoms in frames:
        assert "config_type" in atoms.info
        results = atoms.calc.results
        assert {"energy", "forces"} <= results.keys()
        assert results["forces"].shape == (len(atoms), 3)
        assert ("stress" in results) == bool(atoms.pbc.any())


def test_labels_equal_fresh_emt(frames):
    kinds = ["strained_bulk", "surface", "md_2000K", "isolated_atom"]
    for kind in kinds:
        atoms = next(f for f in frames if f.info["config_type"] == kind)
        fresh = atoms.copy()
        fresh.calc = EMT()
        np.testing.assert_allclose(atoms.get_potential_energy(),
                                   fresh.get_potential_energy(), rtol=0, atol=1e-8)
        np.testing.assert_allclose(atoms.get_forces(), fresh.get_forces(), rtol=0, atol=1e-8)
        if atoms.pbc.any():
            np.testing.assert_allclose(atoms.get_stress(), fresh.get_stress(),
                                       rtol=0, atol=1e-8)


def test_covers_every_kind_and_small_cells(frames):
    kinds = {f.info["config_type"] for f in frames}
    assert kinds == {"strained_bulk", "vacancy", "surface", "md_300K", "md_2000K",
                     "isolated_atom"}
    widths = [_perpendicular_widths(f.cell.array).min() for f in frames if f.pbc.all()]
    assert min(widths) < 10.0  # below 2 * r_max for r_max = 5 Å
    assert any(f.pbc.any() and not f.pbc.all() for f in frames)  # a (T, T, F) slab


def test_isolated_atom(frames):
    (atom,) = [f for f in frames if f.info["config_type"] == "isolated_atom"]
    assert len(atom) == 1
    assert not atom.pbc.any()
    assert "stress" not in atom.calc.results
    np.testing.assert_allclose(atom.get_forces(), 0.0, atol=1e-12)


def test_hot_md_has_larger_forces_than_strained_bulk(frames):
    hot = _forces(frames, "md_2000K")
    strained = _forces(frames, "strained_bulk")
    assert np.sqrt(np.mean(hot**2)) > np.sqrt(np.mean(strained**2))
    summary = dataset_summary(frames)
    assert summary["n_frames"] == len(frames)
    assert summary["force_rms"] > 0.1


@pytest.mark.parametrize("kwargs", [{"n_frames": 5}, {"md_temperatures": ()},
                                    {"md_temperatures": (300, -5)}])
def test_bad_arguments_raise(kwargs):
    with pytest.raises(ValueError, match="n_frames|md_temperatures"):
        generate_cu_emt_dataset(**kwargs)
