"""Random structures, the three drivers on small EMT cases, fingerprints and dedup."""

import numpy as np
import pytest
from ase.calculators.emt import EMT
from ase.cluster import Icosahedron, Octahedron
from ase.build import bulk
from search_support import cu_cluster

from mlip_gnn.search import (DRIVERS, distinct_minima, fingerprint, fingerprint_distance,
                             random_bulk, random_cluster, search_config_from_dict, spacegroup)
from mlip_gnn.search.relax import collapsed
from mlip_gnn.search.structures import SearchError


def run(cfg, calc=None):
    driver = DRIVERS[cfg.method](cfg, calc or EMT())
    driver.resume([])
    for i in range(cfg.trials):
        driver.step(i)
    return driver.records


def test_random_cluster_respects_sphere_and_distance():
    rng = np.random.default_rng(0)
    atoms = random_cluster(["Cu"] * 13, 4.0, 2.0, rng)
    dist = atoms.get_all_distances()[np.triu_indices(13, 1)]
    assert dist.min() >= 2.0
    centre = atoms.positions.mean(axis=0)
    assert np.linalg.norm(atoms.positions - centre, axis=1).max() <= 2 * 4.0
    assert not atoms.pbc.any()


def test_random_bulk_respects_volume_and_distance():
    rng = np.random.default_rng(1)
    for _ in range(5):
        atoms = random_bulk(["Cu"] * 4, [10.0, 14.0], 2.0, rng)
        assert 40.0 <= atoms.get_volume() <= 56.0
        dist = atoms.get_all_distances(mic=True)[np.triu_indices(4, 1)]
        assert dist.min() >= 2.0 - 1e-9


def test_placement_that_cannot_work_is_a_clear_error():
    with pytest.raises(SearchError, match="could not place atom.*constraints.min_distance"):
        random_cluster(["Cu"] * 8, 1.5, 2.0, np.random.default_rng(0), max_attempts=50)


def test_random_search_relaxes_each_trial():
    records = run(cu_cluster(method="random", trials=3))
    assert [r.index for r in records] == [0, 1, 2]
    for r in records:
        atoms = r.atoms()
        atoms.calc = EMT()
        assert r.valid and r.converged and r.relax_steps > 0
        assert atoms.get_potential_energy() == pytest.approx(r.energy, abs=1e-9)
        assert np.abs(atoms.get_forces()).max() < 0.05
    # trials are independent random starts: different structures
    assert not np.allclose(records[0].positions, records[1].positions)


def test_basin_hopping_is_a_metropolis_chain():
    # at 1 mK an uphill move is never accepted: the current energy never rises
    records = run(cu_cluster(n=7, trials=6, basin_hopping={"temperature_K": 0.001}))
    current = [records[r.current].energy for r in records]
    assert all(b <= a + 1e-12 for a, b in zip(current, current[1:]))
    for r in records[1:]:
        assert r.accepted == (r.energy <= current[r.index - 1])
        assert r.current == (r.index if r.accepted else records[r.index - 1].current)


def test_minima_hopping_adapts_temperature_and_threshold():
    cfg = cu_cluster(method="minima_hopping", trials=4,
                     minima_hopping={"temperature_K": 2000.0, "mdmin": 1})
    records = run(cfg)
    mh = cfg.minima_hopping
    assert records[0].state == {"temperature_K": 2000.0, "ediff": mh.ediff}
    for before, r in zip(records, records[1:]):
        assert r.md_steps > 0
        ratio = r.state["temperature_K"] / before.state["temperature_K"]
        assert ratio == pytest.approx(mh.beta_same) or ratio == pytest.approx(mh.beta_new)
        factor = r.state["ediff"] / before.state["ediff"]
        assert factor in (pytest.approx(1.0), pytest.approx(mh.alpha_accept),
                          pytest.approx(mh.alpha_reject))


def test_bulk_random_search_relaxes_the_cell():
    cfg = search_config_from_dict({"composition": {"Cu": 2}, "mode": "bulk",
                                   "method": "random", "trials": 2, "seed": 0,
                                   "constraints": {"volume_per_atom": [11.0, 14.0]},
                                   "relax": {"fmax": 0.01, "steps": 400}})
    for r in run(cfg):
        atoms = r.atoms()
        atoms.calc = EMT()
        assert r.converged and atoms.pbc.all()
        assert np.abs(atoms.get_stress()).max() * atoms.get_volume() < 0.05  # eV
    fcc = bulk("Cu", "fcc", a=3.6)
    assert spacegroup(fcc) == "Fm-3m (225)"


def test_bulk_basin_hopping_strains_the_cell():
    cfg = search_config_from_dict({"composition": {"Cu": 2}, "mode": "bulk", "trials": 3,
                                   "constraints": {"volume_per_atom": [11.0, 14.0]},
                                   "basin_hopping": {"step_size": 0.3, "cell_strain": 0.1},
                                   "relax": {"fmax": 0.02, "steps": 300}})
    records = run(cfg)
    assert all(r.valid and r.pbc == [True] * 3 for r in records)
    cells = [np.array(r.cell) for r in records]
    assert not np.allclose(cells[0], cells[1])


def test_optimizer_names_match_the_schema():
    from typing import get_args, get_type_hints

    from mlip_gnn.search.relax import OPTIMIZERS
    from mlip_gnn.search.schema import RelaxConfig

    assert set(get_args(get_type_hints(RelaxConfig)["optimizer"])) == set(OPTIMIZERS)


def test_fingerprint_is_invariant_and_separates_minima():
    ico = Icosahedron("Cu", 2)
    moved = ico.copy()
    moved.rotate(37, (1, 2, 3))
    moved.translate((1.0, -2.0, 0.5))
    moved = moved[np.random.default_rng(0).permutation(13)]
    assert fingerprint_distance(fingerprint(ico), fingerprint(moved)) < 1e-9
    cubocta = Octahedron("Cu", 3, cutoff=1)  # 13-atom cuboctahedron
    assert len(cubocta) == 13
    assert fingerprint_distance(fingerprint(ico), fingerprint(cubocta)) > 0.2
    # bulk: the cell choice does not matter
    prim, conv = bulk("Cu", "fcc", a=3.6), bulk("Cu", "fcc", a=3.6, cubic=True)
    assert fingerprint_distance(fingerprint(prim), fingerprint(conv * (2, 1, 1))) < 1e-9
    assert fingerprint_distance(fingerprint(prim), fingerprint(bulk("Cu", "bcc", a=2.87))) > 0.2


def test_dedup_groups_repeats_and_keeps_the_lowest():
    records = run(cu_cluster(n=4, method="random", trials=5))
    # Cu4 under EMT has few minima: five random starts must meet some twice
    minima = distinct_minima(records, cu_cluster(n=4))
    assert sum(m.times_found for m in minima) == 5
    assert len(minima) < 5
    energies = [m.record.energy for m in minima]
    assert energies == sorted(energies)
    for m in minima:
        assert m.record.energy == min(records[i].energy for i in m.trials)
        assert m.spacegroup == "none" and m.volume > 0 and not m.flagged


def test_collapsed_atoms_are_found():
    atoms = Icosahedron("Cu", 2)
    assert collapsed(atoms) is None
    atoms.positions[1] = atoms.positions[0] + (0.5, 0, 0)
    assert collapsed(atoms) == pytest.approx(0.5)
