"""The latent-charge electrostatics (model.long_range): the Coulomb sum against references
that share no code with it, and the model's physics with the term on (float64)."""

import math

import numpy as np
import pytest
import torch
from ase import Atoms
from ase.build import bulk
from ase.neighborlist import neighbor_list
from scipy.special import erf, erfc

import model_suite as suite
from mlip_gnn.export import export_potential
from mlip_gnn.nn.long_range import COULOMB_EV_ANGSTROM, LatentCoulomb
from model_support import (SPECIES, collate, evaluate, graph_of, make_model,
                           random_cluster, random_crystal)

LONG_RANGE = {"long_range": "latent", "lr_smearing": 1.2}


def lr_model(dtype="float64", **overrides):
    return make_model(dtype=dtype, **{**LONG_RANGE, **overrides})


def coulomb(kspace="ewald", smearing=1.0, **kwargs):
    return LatentCoulomb(1, smearing, kspace, **kwargs).to(torch.float64)


def gaussian_energy(term, charges, atoms):
    """E of the smeared charges through ``term`` (the periodic or open sum)."""
    q = torch.tensor(charges, dtype=torch.float64)
    pos = torch.tensor(atoms.positions)
    if atoms.pbc.all():
        return float(term.periodic_energies(q, pos, torch.tensor(atoms.cell[:])).sum())
    return float(term.open_energies(q, pos).sum())


def short_range_rest(charges, atoms, smearing, cutoff=40.0):
    """½ Σ k q_i q_j erfc(r/(√2σ))/r over every pair and image within ``cutoff``: what the
    smeared sum leaves out of the point-charge energy (numpy and scipy only)."""
    i, j, d = neighbor_list("ijd", atoms, cutoff)
    q = np.asarray(charges)
    return 0.5 * COULOMB_EV_ANGSTROM * float(np.sum(q[i] * q[j] * erfc(d / (math.sqrt(2)
                                                                               * smearing)) / d))


def point_charge_ewald(charges, atoms, alpha=0.35, kmax=12, rcut=30.0):
    """Point-charge Ewald energy (eV) written out from the textbook formula with its own
    splitting ``alpha`` (1/Å) and a plain loop over k-vectors: an independent reference."""
    q = np.asarray(charges, dtype=float)
    cell = atoms.cell[:]
    volume = abs(np.linalg.det(cell))
    i, j, d = neighbor_list("ijd", atoms, rcut)
    real = 0.5 * np.sum(q[i] * q[j] * erfc(alpha * d) / d)
    recip_cell = 2 * np.pi * np.linalg.inv(cell).T
    recip = 0.0
    rng = range(-kmax, kmax + 1)
    for n1 in rng:
        for n2 in rng:
            for n3 in rng:
                if n1 == n2 == n3 == 0:
                    continue
                k = n1 * recip_cell[0] + n2 * recip_cell[1] + n3 * recip_cell[2]
                k2 = k @ k
                structure = np.sum(q * np.exp(1j * atoms.positions @ k))
                recip += math.exp(-k2 / (4 * alpha ** 2)) / k2 * abs(structure) ** 2
    recip *= 2 * math.pi / volume
    self_term = -alpha / math.sqrt(math.pi) * np.sum(q ** 2)
    background = -math.pi * np.sum(q) ** 2 / (2 * volume * alpha ** 2)
    return COULOMB_EV_ANGSTROM * (real + recip + self_term + background)


def disordered_ionic_cell(seed=0):
    rng = np.random.default_rng(seed)
    atoms = bulk("NaCl", "rocksalt", a=5.64, cubic=True)
    atoms.set_cell(atoms.cell[:] @ (np.eye(3) + 0.05 * rng.standard_normal((3, 3))),
                   scale_atoms=True)
    atoms.positions += 0.2 * rng.standard_normal(atoms.positions.shape)
    charges = np.where(atoms.numbers == 11, 1.0, -1.0) + 0.1 * rng.standard_normal(len(atoms))
    return atoms, charges


@pytest.mark.parametrize("kspace", ["ewald", "pme"])
def test_madelung_constant_of_rock_salt(kspace):
    """NaCl point charges: E/ion = -M k_e / (2 r0), M = 1.747564594633 (rock salt)."""
    atoms = bulk("NaCl", "rocksalt", a=5.64, cubic=True).repeat(2)
    q = np.where(atoms.numbers == 11, 1.0, -1.0)
    smearing = 1.0
    term = coulomb(kspace, smearing)
    energy = gaussian_energy(term, q, atoms) + short_range_rest(q, atoms, smearing)
    madelung = -len(atoms) * 1.747564594633182 * COULOMB_EV_ANGSTROM / (2 * 2.82)
    assert energy == pytest.approx(madelung, rel=1e-6)


@pytest.mark.parametrize("kspace", ["ewald", "pme"])
def test_charged_triclinic_cell_against_a_textbook_ewald(kspace):
    """A disordered, non-neutral triclinic cell: our smeared sum plus the erfc rest equals
    a point-charge Ewald sum with another splitting, to 1e-6 relative."""
    atoms, q = disordered_ionic_cell()
    q = q + 0.05  # a net charge: the neutralising background matters
    smearing = 1.0
    pme = {"wavelength": 0.12, "interpolation_nodes": 6} if kspace == "pme" else {}
    term = coulomb(kspace, smearing, **pme)
    energy = gaussian_energy(term, q, atoms) + short_range_rest(q, atoms, smearing)
    assert energy == pytest.approx(point_charge_ewald(q, atoms), rel=1e-6)


def test_open_sum_is_the_periodic_sum_of_a_molecule_in_a_large_box():
    """A neutral molecule in a cubic box of side L: the periodic (tin-foil) sum is the open
    one plus the images' dipole term -2π k_e |M|² / (3 L³), to 1e-6 relative."""
    atoms, q = disordered_ionic_cell(seed=1)
    q = q - q.mean()
    open_atoms = Atoms(atoms.numbers, atoms.positions - atoms.positions.mean(0))
    direct = gaussian_energy(coulomb(), q, open_atoms)
    dipole = (q[:, None] * open_atoms.positions).sum(0)
    for box in (40.0, 80.0):
        boxed = open_atoms.copy()
        boxed.set_cell(np.eye(3) * box)
        boxed.pbc = True
        boxed.positions += box / 2
        periodic = gaussian_energy(coulomb(), q, boxed)
        images = -2 * math.pi * COULOMB_EV_ANGSTROM * (dipole @ dipole) / (3 * box ** 3)
        assert periodic == pytest.approx(direct + images, rel=1e-6)
        if box == 40.0:  # the dipole term is resolved, not lost in the tolerance
            assert abs(images) > 5e-6 * abs(direct)


def test_total_charge_is_honoured_and_changes_the_energy():
    model = lr_model()
    atoms = random_cluster(seed=3)
    out = {}
    for charge in (0.0, 1.0, -2.0):
        atoms.info["charge"] = charge
        out[charge] = evaluate(model, atoms, stress=False)
        assert out[charge]["charges"].sum() == pytest.approx(charge, abs=1e-12)
    assert abs(out[1.0]["energy"][0] - out[0.0]["energy"][0]) > 1e-3


@pytest.mark.parametrize("check", ["check_rotation_reflection",
                                   "check_translation_permutation",
                                   "check_forces_and_stress_by_finite_differences",
                                   "check_batch_equals_frames"])
def test_model_suite_with_the_term_on(check):
    getattr(suite, check)(lr_model())


def test_the_term_is_not_trivial():
    """The electrostatic part is a sizable share of the energy, charges are not all equal."""
    model = lr_model()
    atoms = random_crystal(seed=7)
    out = evaluate(model, atoms)
    assert np.ptp(out["charges"]) > 1e-2
    local = make_model()
    local.load_state_dict({k: v for k, v in model.state_dict().items()
                           if not k.startswith("long_range.")})
    assert abs(out["energy"][0] - evaluate(local, atoms)["energy"][0]) > 1e-3


def test_float32_equals_float64():
    suite.check_same_as_float64(lr_model("float32"), lr_model())


def test_choice_of_periodic_image_and_supercell():
    """Wrapping atoms into the cell changes nothing; a neutral 2×1×1 supercell has twice the
    energy and the same forces (the charges are the network's, so neutrality is imposed
    by the total charge 0)."""
    model = lr_model()
    atoms = random_crystal(seed=8)
    ref = evaluate(model, atoms)
    moved = atoms.copy()
    moved.positions += moved.cell[:].T @ np.array([1.0, -2.0, 3.0])  # whole cell vectors
    moved.positions[0] += moved.cell[1]
    out = evaluate(model, moved)
    np.testing.assert_allclose(out["energy"], ref["energy"], rtol=1e-12)
    np.testing.assert_allclose(out["forces"], ref["forces"], atol=1e-10)
    big = evaluate(model, atoms.repeat((2, 1, 1)))
    np.testing.assert_allclose(big["energy"], 2 * ref["energy"], rtol=1e-9)
    np.testing.assert_allclose(big["forces"][:len(atoms)], ref["forces"], atol=1e-9)
    np.testing.assert_allclose(big["stress"], ref["stress"], atol=1e-10)


def test_beyond_the_cutoff_the_energy_follows_coulombs_law():
    """Two clusters moved apart far beyond num_layers × r_max: their local energies and
    charges stay as they were, and the energy changes by exactly the change of the
    clusters' cross Coulomb sum Σ_{i∈A, j∈B} k_e q_i q_j erf(r_ij/(√2σ))/r_ij."""
    model = lr_model()
    a = random_cluster(n=4, seed=11)
    runs = []
    for distance in (25.0, 50.0):
        b = random_cluster(n=4, seed=12)
        b.positions += [distance, 0, 0]
        out = evaluate(model, a + b, stress=False)
        q = out["charges"]
        r = np.linalg.norm(a.positions[:, None] - b.positions[None], axis=-1)
        cross = COULOMB_EV_ANGSTROM * np.sum(
            q[:4, None] * q[None, 4:] * erf(r / (math.sqrt(2) * 1.2)) / r)
        runs.append((out["energy"][0], cross, q))
    (e1, c1, q1), (e2, c2, q2) = runs
    np.testing.assert_allclose(q1, q2, atol=1e-12)  # the charges are local
    assert abs(q1[:4].sum()) > 1e-3  # the clusters carry net charges
    assert e2 - e1 == pytest.approx(c2 - c1, rel=1e-9, abs=1e-12)
    assert abs(c2 - c1) > 1e-5  # 1e7 times the tolerance the change is checked to


def test_mixed_boundaries_are_refused():
    atoms = random_crystal(seed=9)
    atoms.pbc = [True, True, False]
    with pytest.raises(ValueError, match="all three directions or in none"):
        evaluate(lr_model(), atoms)


def test_exported_equals_eager_and_refuses_the_pair_path(tmp_path):
    model = lr_model()
    path = tmp_path / "lr.pt"
    export_potential(model, path)
    loaded = torch.jit.load(str(path))
    suite.check_exported_equals_eager(model, loaded)
    atoms = random_cluster(seed=4)
    atoms.info["charge"] = 1.0
    ref = evaluate(model, atoms, stress=False)
    inputs = suite._deployed_inputs(atoms)
    out = loaded(*inputs, False, None, torch.tensor(1.0, dtype=torch.float64))
    np.testing.assert_allclose(out["energy"].numpy(), ref["energy"][0], rtol=1e-12)
    np.testing.assert_allclose(out["charges"].numpy(), ref["charges"], atol=1e-12)
    with pytest.raises(Exception, match="long-range term"):  # needs positions and cell
        loaded.pair_forward(torch.zeros(0, 3, dtype=torch.float64), torch.tensor([13]),
                            torch.zeros(2, 0, dtype=torch.long))


def test_off_by_default_changes_nothing():
    """The builder's default has no long-range module and the same weights as before."""
    model = make_model()
    assert model.long_range is None
    assert not any(name.startswith("long_range") for name in model.state_dict())
    assert collate is not None and SPECIES  # the helpers this module imports exist
    graph = graph_of(random_cluster())
    assert "charges" not in model(graph, compute_forces=False)


@pytest.mark.parametrize("periodic", [True, False])
def test_ghost_atom_path_of_one_domain_equals_the_model(periodic):
    """The LAMMPS scheme on one rank: local atoms plus ghost copies out to num_layers × r_max
    through pair_forward with the local positions and the cell: energy, forces (pair
    forces folded onto owners plus the direct ones), virial and charges as the model's."""
    from mlip_gnn.data.neighbours import neighbour_list
    from mlip_gnn.export import deploy

    model = lr_model()
    deployed, _ = deploy(model, "cpu")
    atoms = random_crystal(seed=6) if periodic else random_cluster(seed=6)
    atoms.info["charge"] = 0.0 if periodic else 1.0
    ref = evaluate(model, atoms, stress=periodic)
    if periodic:
        positions, numbers, owners = suite.ghost_atoms(atoms, 2 * model.r_max)
        cell = torch.tensor(atoms.cell[:])
    else:
        positions, numbers = atoms.positions, atoms.numbers
        owners = np.arange(len(atoms))
        cell = torch.zeros(3, 3, dtype=torch.float64)
    edges, _ = neighbour_list(positions, np.zeros((3, 3)), np.zeros(3, bool), model.r_max)
    edge_index = torch.tensor(edges)
    pos = torch.tensor(positions)
    vectors = pos[edge_index[1]] - pos[edge_index[0]]
    n = len(atoms)
    out = deployed.pair_forward(vectors, torch.tensor(numbers), edge_index, n, pos[:n], cell,
                                torch.tensor(atoms.info["charge"], dtype=torch.float64))
    g = out["edge_forces"].detach()
    forces = torch.zeros(len(positions), 3, dtype=torch.float64)
    forces = forces.index_add(0, edge_index[0], g).index_add(0, edge_index[1], -g)
    folded = np.zeros((n, 3))
    np.add.at(folded, owners, forces.numpy())
    folded += out["forces"].detach().numpy()
    np.testing.assert_allclose(out["energy"].item(), ref["energy"][0], rtol=1e-12)
    np.testing.assert_allclose(folded, ref["forces"], atol=1e-10)
    np.testing.assert_allclose(out["charges"].numpy(), ref["charges"], atol=1e-12)
    if periodic:
        np.testing.assert_allclose(out["virial"].detach().numpy(),
                                   -ref["stress"][0] * atoms.get_volume(), atol=1e-9)
    with pytest.raises(RuntimeError, match="positions and the cell"):
        deployed.pair_forward(vectors, torch.tensor(numbers), edge_index, n)


def test_the_missing_charge_goes_where_the_softness_puts_it():
    """With q̃ = 0, a frame's charge is shared in proportion to the learnt softness: an atom
    the network makes soft takes nearly all of it, and even softness spreads it evenly."""
    term = coulomb()
    features = torch.tensor([[1.0], [-1.0], [-1.0]], dtype=torch.float64)
    batch = torch.zeros(3, dtype=torch.long)
    with torch.no_grad():
        term.charge_head[-1].weight.zero_()
        term.charge_head[-1].bias.zero_()
        term.softness_head[-1].weight.zero_()
        term.softness_head[-1].bias.zero_()
        even = term.charges(features, batch, torch.tensor([1.0], dtype=torch.float64))
        np.testing.assert_allclose(even.numpy(), [1 / 3] * 3, rtol=1e-12)
        # softness ≈ softplus(30 f): large for the first atom, ~e^-30 for the others
        term.softness_head[0].weight.fill_(1.0)
        term.softness_head[0].bias.zero_()
        term.softness_head[-1].weight.fill_(30.0 / 16)
        soft = term.charges(features, batch, torch.tensor([1.0], dtype=torch.float64))
    assert soft.sum().item() == pytest.approx(1.0, abs=1e-12)
    assert soft[0].item() > 0.99 and abs(soft[1].item()) < 0.01
