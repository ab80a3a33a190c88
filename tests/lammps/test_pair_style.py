"""pair_style mlip_gnn in LAMMPS against the ASE calculator on the same exported file.

Step-0 energy, per-atom energies and forces, and the virial pressure agree to 1e-10
(relative, float64) for bulk, slab and two-element structures; several MPI ranks agree
with one; NVE conserves energy; NPT runs; bad input stops LAMMPS with an error that says
what to do. The slow tests run in CI (.ci/run) beside the default suite.
"""

import importlib.util
from pathlib import Path

import numpy as np
import pytest
import torch
from ase import Atoms
from e3nn.util.jit import script
from ase.build import bulk, fcc100
from lammps_support import data_file, requires_plugin, run_lammps, single_point
from model_support import make_model

from mlip_gnn.calculators import MLIPCalculator
from mlip_gnn.export import DeployedPotential, export_potential
from mlip_gnn.model import build_model

pytestmark = requires_plugin
RTOL = 1e-10


@pytest.fixture(scope="module")
def model_file(tmp_path_factory):
    """A 2-layer Al/Cu model with random weights and ZBL, exported in float64."""
    return export_potential(make_model(zbl=True), tmp_path_factory.mktemp("m") / "model.pt")


def sheared(atoms, tilt=(0.3, 0.2, -0.25), rattle=0.05, seed=0):
    """``atoms`` in a triclinic cell of LAMMPS form (tilts xy, xz, yz in Å), rattled."""
    a, b, c = np.diag(atoms.cell[:])
    cell = np.array([[a, 0, 0], [tilt[0], b, 0], [tilt[1], tilt[2], c]])
    atoms = atoms.copy()
    atoms.set_cell(cell, scale_atoms=True)
    atoms.positions += rattle * np.random.default_rng(seed).standard_normal((len(atoms), 3))
    return atoms


def cu_bulk():
    return sheared(bulk("Cu", "fcc", a=3.61, cubic=True).repeat(2))


def cu_slab(pbc=True):
    slab = fcc100("Cu", size=(3, 3, 4), a=3.61, vacuum=6.0, orthogonal=True)
    slab.positions += 0.05 * np.random.default_rng(1).standard_normal((len(slab), 3))
    slab.pbc = pbc  # with vacuum > r_max, periodic in z = a slab, and ASE gives a stress
    return slab


def al_cu(repeat=2, seed=2):
    atoms = bulk("Cu", "fcc", a=3.7, cubic=True).repeat(repeat)
    atoms.numbers[np.random.default_rng(seed).random(len(atoms)) < 0.4] = 13
    return sheared(atoms, seed=seed)


def reference(model, atoms):
    atoms = atoms.copy()
    atoms.calc = MLIPCalculator(model)
    out = {"energy": atoms.get_potential_energy(), "forces": atoms.get_forces(),
           "energies": atoms.get_potential_energies()}
    if atoms.pbc.all():
        out["stress"] = atoms.get_stress(voigt=False)
    return out


def assert_close(actual, expected, rtol=RTOL, what=""):
    scale = np.max(np.abs(expected))
    np.testing.assert_allclose(actual, expected, rtol=rtol, atol=rtol * scale, err_msg=what)


def assert_matches(lmp, ref, rtol=RTOL):
    assert_close(lmp["energy"], ref["energy"], rtol, "energy")
    assert_close(lmp["energies"], ref["energies"], rtol, "per-atom energies")
    assert_close(lmp["forces"], ref["forces"], rtol, "forces")
    assert_close(lmp["stress"], ref["stress"], rtol, "virial stress")
    # per-atom virials (compute stress/atom) add up to the global virial
    assert_close(lmp["atom_stress"], lmp["stress"], 1e-10, "sum of per-atom virials")


@pytest.mark.parametrize("structure,symbols", [(cu_bulk, ["Cu"]), (cu_slab, ["Cu"]),
                                               (al_cu, ["Al", "Cu"])],
                         ids=["fcc-Cu-triclinic", "slab", "Al-Cu"])
def test_step_zero_equals_ase(tmp_path, model_file, structure, symbols):
    atoms = structure()
    lmp = single_point(tmp_path, model_file, atoms, symbols)
    assert_matches(lmp, reference(model_file, atoms))


def test_analytic_pair_potential_equals_its_closed_form(tmp_path):
    """A Morse pair potential exported through the same path (one layer), against its
    closed form with ASE's neighbour list: a reference that owes nothing to our code."""
    analytic = _load_test_module(Path(__file__).parents[1] / "export" /
                                 "test_export_analytic.py")
    path = export_potential(analytic.MorsePair(), tmp_path / "morse.pt")
    atoms = al_cu(seed=6)
    lmp = single_point(tmp_path / "run", path, atoms, ["Al", "Cu"])
    energy, energies, forces, stress = analytic.closed_form(atoms)
    assert_matches(lmp, {"energy": energy, "energies": energies, "forces": forces,
                         "stress": stress})
    assert "1 layers" in lmp["log"] and np.abs(forces).max() > 1e-2


def _load_test_module(path):
    spec = importlib.util.spec_from_file_location(f"lammps_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
def test_nonperiodic_boundary_equals_periodic_with_vacuum(tmp_path, model_file):
    """``boundary p p f`` (no images in z) gives the slab of the periodic cell with vacuum."""
    ref = reference(model_file, cu_slab(pbc=(True, True, False)))
    lmp = single_point(tmp_path, model_file, cu_slab(), ["Cu"], boundary="p p f")
    ref["stress"] = reference(model_file, cu_slab())["stress"]  # same edges, same volume
    assert_matches(lmp, ref)


@pytest.mark.slow
def test_type_order_follows_pair_coeff(tmp_path, model_file):
    """Types map to elements in pair_coeff's order, not the model's (Cu as type 1)."""
    atoms = al_cu(seed=3)
    lmp = single_point(tmp_path, model_file, atoms, ["Cu", "Al"])
    assert_matches(lmp, reference(model_file, atoms))


@pytest.mark.slow
def test_float32_export(tmp_path, model_file):
    path = export_potential(make_model(zbl=True), tmp_path / "model32.pt", dtype="float32")
    atoms = al_cu(seed=4)
    lmp = single_point(tmp_path / "run", path, atoms, ["Al", "Cu"])
    assert "(float32)" in lmp["log"]
    ref = reference(model_file, atoms)  # the float64 model: float32 rounding only
    assert_close(lmp["energy"], ref["energy"], 1e-6, "energy")
    assert_close(lmp["forces"], ref["forces"], 1e-4, "forces")


@pytest.fixture(scope="module")
def quickstart_file(tmp_path_factory):
    """configs/quickstart.yaml's architecture (2 layers, r_max 4.5 Å, 16 channels), untrained,
    exported in float64."""
    model = build_model(species=[29], r_max=4.5, e0s={29: -0.5}, avg_num_neighbors=18.0,
                        num_layers=2, num_channels=16, max_ell=2, hidden_ell=1, correlation=2,
                        radial_mlp=[32, 32], dtype="float64", seed=0)
    return export_potential(model, tmp_path_factory.mktemp("quickstart") / "model.pt")


@pytest.fixture(scope="module")
def serial_256(tmp_path_factory, quickstart_file):
    atoms = sheared(bulk("Cu", "fcc", a=3.61, cubic=True).repeat(4), seed=5)
    return atoms, single_point(tmp_path_factory.mktemp("serial"), quickstart_file, atoms,
                               ["Cu"])


@pytest.mark.slow
@pytest.mark.parametrize("np_ranks,grid", [(1, "1 by 1 by 1"), (2, "1 by 1 by 2"),
                                           (4, "1 by 2 by 2")])
def test_mpi_ranks_equal_serial(tmp_path, quickstart_file, serial_256, np_ranks, grid):
    """256 atoms in a 14.4 Å cell, halo 11 Å: on 4 ranks (7.2 Å subdomains) the ghost shell
    reaches across neighbouring ranks' atoms, and local energies need ghosts of ghosts."""
    atoms, serial = serial_256
    ranks = single_point(tmp_path, quickstart_file, atoms, ["Cu"], np_ranks)
    assert f"{grid} MPI processor grid" in ranks["log"]
    for key in ("energy", "energies", "forces", "stress"):
        assert_close(ranks[key], serial[key], RTOL, key)
    if np_ranks == 1:  # and serial LAMMPS is the ASE calculator
        assert_matches(serial, reference(quickstart_file, atoms))


def test_unknown_element_is_an_error(tmp_path, model_file):
    out = _failing_run(tmp_path, model_file, al_cu(), "Al Fe")
    assert "element 'Fe' of atom type 2 is not in the model, which knows Al Cu" in out


def test_newton_off_is_an_error(tmp_path, model_file):
    out = _failing_run(tmp_path, model_file, cu_bulk(), "Cu", before="newton off")
    assert "requires `newton on`" in out and "remove `newton off`" in out


@pytest.mark.parametrize("kind", ["text", "checkpoint", "other-torchscript", "older-export"])
def test_a_file_that_is_not_an_export_is_an_error(tmp_path, kind):
    path = tmp_path / f"{kind}.pt"
    if kind == "text":
        path.write_text("not a model\n")
    elif kind == "checkpoint":
        torch.save({"model": make_model().state_dict()}, path)
    elif kind == "other-torchscript":
        torch.jit.save(torch.jit.script(torch.nn.Linear(3, 1)), str(path))
    else:  # an export from before the LAMMPS interface: without its attributes
        deployed = DeployedPotential(make_model(), ["Al", "Cu"], "float64")
        for name in ("num_layers", "interaction_range", "pair_method"):
            delattr(deployed, name)
        torch.jit.save(script(deployed), str(path))
    out = _failing_run(tmp_path, path, cu_bulk(), "Cu")
    expected = {"text": "cannot load", "checkpoint": "cannot load",
                "other-torchscript": "is a TorchScript file but not an mlip_gnn export",
                "older-export": "export it again with this mlip_gnn"}[kind]
    assert expected in out
    assert "mlip-gnn export" in out


def test_cuda_request_without_cuda_is_an_error(tmp_path, model_file):
    if torch.cuda.is_available():
        pytest.skip("this torch has CUDA")
    out = _failing_run(tmp_path, model_file, cu_bulk(), "Cu",
                       pair_style="mlip_gnn device cuda")
    assert "this torch sees no CUDA device" in out


def _failing_run(workdir, model, atoms, symbols, before="", pair_style="mlip_gnn"):
    """LAMMPS's output for ``pair_coeff * * model symbols``; the run must fail."""
    (workdir / "data.lmp").write_text(data_file(atoms, sorted(set(atoms.get_chemical_symbols()))))
    script = (f"units metal\natom_style atomic\n{before}\nread_data data.lmp\n"
              f"pair_style {pair_style}\npair_coeff * * {model} {symbols}\nrun 0\n")
    done = run_lammps(workdir, script, check=False)
    assert done.returncode != 0, done.stdout[-2000:]
    return done.stdout + done.stderr


def test_structures_are_in_lammps_cell_form():
    """The structures above are in LAMMPS's cell form, so no rotation hides a sign error."""
    for atoms in (cu_bulk(), cu_slab(), al_cu()):
        data_file(atoms, ["Al", "Cu"])
    with pytest.raises(ValueError, match="not in LAMMPS form"):
        data_file(Atoms("Cu", cell=[[1, 1, 0], [0, 1, 0], [0, 0, 1]], pbc=True), ["Cu"])
