"""pair_style mlip_gnn with a long-range model (latent charges, Coulomb sum over every atom)
on one rank equals the ASE calculator on the same export to 1e-10 relative (float64):
a triclinic periodic cell and an open cluster with a total charge; several ranks and
per-atom virials are refused with errors that say so."""

import numpy as np
import pytest
from lammps_support import requires_plugin, run_lammps, data_file, single_point
from model_support import make_model
from test_pair_style import al_cu, assert_close, reference

from mlip_gnn.export import export_potential

pytestmark = requires_plugin
RTOL = 1e-10


@pytest.fixture(scope="module")
def lr_file(tmp_path_factory):
    model = make_model(long_range="latent", lr_smearing=1.2)
    return export_potential(model, tmp_path_factory.mktemp("lr") / "lr.pt")


def cluster():
    atoms = al_cu(seed=4)
    atoms.pbc = False
    atoms.positions -= atoms.positions.mean(0) - 20.0  # inside a 40 Å box
    atoms.set_cell(np.diag([40.0, 40.0, 40.0]))
    return atoms


def test_periodic_cell_equals_ase(tmp_path, lr_file):
    atoms = al_cu(seed=3)
    lmp = single_point(tmp_path, lr_file, atoms, ["Al", "Cu"], atom_virials=False)
    ref = reference(lr_file, atoms)
    assert_close(lmp["energy"], ref["energy"], RTOL, "energy")
    assert_close(lmp["energies"], ref["energies"], RTOL, "per-atom energies")
    assert_close(lmp["forces"], ref["forces"], RTOL, "forces")
    assert_close(lmp["stress"], ref["stress"], RTOL, "virial stress")


def test_open_cluster_with_a_charge_equals_ase(tmp_path, lr_file):
    atoms = cluster()
    lmp = single_point(tmp_path, lr_file, atoms, ["Al", "Cu"], boundary="f f f",
                       pair_style="mlip_gnn charge 1.0", atom_virials=False)
    atoms.info["charge"] = 1.0
    ref = reference(lr_file, atoms)
    assert_close(lmp["energy"], ref["energy"], RTOL, "energy")
    assert_close(lmp["forces"], ref["forces"], RTOL, "forces")
    neutral = reference(lr_file, cluster())
    assert abs(neutral["energy"] - ref["energy"]) > 1e-3  # the charge keyword reached it


def _error_of(tmp_path, lr_file, atoms, np_ranks=None, boundary="p p p", extra=""):
    (tmp_path / "data.lmp").write_text(data_file(atoms, ["Al", "Cu"]))
    done = run_lammps(tmp_path, f"""
units metal
atom_style atomic
boundary {boundary}
read_data data.lmp
pair_style mlip_gnn
pair_coeff * * {lr_file} Al Cu
{extra}
run 0
""", np_ranks=np_ranks, check=False)
    assert done.returncode != 0
    return " ".join((done.stdout + done.stderr).split())


def test_several_ranks_are_refused(tmp_path, lr_file):
    text = _error_of(tmp_path, lr_file, al_cu(seed=3), np_ranks=2)
    assert "one MPI rank" in text, text[-2000:]


def test_per_atom_virials_are_refused(tmp_path, lr_file):
    text = _error_of(tmp_path, lr_file, al_cu(seed=3),
                     extra="compute s all stress/atom NULL virial\n"
                           "compute r all reduce sum c_s[1]\nthermo_style custom step c_r")
    assert "per-atom virials" in text, text[-2000:]


def test_mixed_boundaries_are_refused(tmp_path, lr_file):
    text = _error_of(tmp_path, lr_file, cluster(), boundary="p p f")
    assert "periodic in all three directions or in none" in text, text[-2000:]


@pytest.fixture(scope="module")
def d3_file(tmp_path_factory):
    pytest.importorskip("tad_dftd3")
    model = make_model(dispersion="d3bj", long_range="latent")
    return export_potential(model, tmp_path_factory.mktemp("d3") / "d3.pt")


@pytest.mark.parametrize("periodic", [True, False], ids=["periodic", "open"])
def test_dispersion_and_charges_equal_ase(tmp_path, d3_file, periodic):
    atoms = al_cu(seed=5) if periodic else cluster()
    lmp = single_point(tmp_path, d3_file, atoms, ["Al", "Cu"], atom_virials=False,
                       boundary="p p p" if periodic else "f f f")
    ref = reference(d3_file, atoms)
    assert_close(lmp["energy"], ref["energy"], RTOL, "energy")
    assert_close(lmp["forces"], ref["forces"], RTOL, "forces")
    if periodic:
        assert_close(lmp["stress"], ref["stress"], RTOL, "virial stress")
