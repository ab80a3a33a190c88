"""Export to the metatomic interface: metatomic-ase's calculator on the exported file
equals our MLIPCalculator on the checkpoint (float64, 1e-10) for periodic, small, mixed
and open cells; batches and selected atoms; what the file declares; refusals; the error
without the optional dependency."""

import importlib
import json
import sys

import numpy as np
import pytest
import torch
from model_support import make_model, random_cluster, random_crystal
from test_export import KWARGS, write_run_dir

from mlip_gnn.calculators import MLIPCalculator
from mlip_gnn.cli.main import main
from mlip_gnn.export import ModelFileError, deploy
from mlip_gnn.export.metatomic import (MetatomicUnavailableError, check_exportable,
                                       export_metatomic)
from mlip_gnn.modelio import ModelSpec, save_checkpoint


def _importable(*names):
    try:
        for name in names:
            importlib.import_module(name)
    except ImportError:
        return False
    return True


HAVE_METATOMIC = _importable("metatensor.torch", "metatomic.torch", "metatomic_ase")
needs_metatomic = pytest.mark.skipif(
    not HAVE_METATOMIC, reason="metatomic-torch / metatomic-ase not installed "
                               "(pip install 'mlip_gnn[metatomic]')")
TOL = 1e-10  # eV, eV/Å, eV/Å³ (float64)


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """A float64 run directory (2 layers, 8 channels; EMA ≠ raw weights) and its
    metatomic export."""
    base = tmp_path_factory.mktemp("metatomic")
    run_dir = _run_dir(base / "run")
    path, meta = export_metatomic(run_dir, base / "model.pt")
    return run_dir, path, meta


def _run_dir(path):
    """A run directory whose best.pt holds make_model()'s weights and EMA weights that
    differ from them (parameters + 0.01; the buffers E0, scale, shift as they are)."""
    model = make_model()
    state = {k: v.clone() for k, v in model.state_dict().items()}
    parameters = {name for name, _ in model.named_parameters()}
    shadow = {k: v + 0.01 if k in parameters else v for k, v in state.items()}
    path.mkdir(parents=True)
    spec = ModelSpec.from_builder_kwargs(dict(KWARGS, seed=0))
    save_checkpoint({"model_spec": spec.to_dict(), "model": state, "ema": {"shadow": shadow},
                     "config": {"seed": 1}, "config_hash": "abc123", "version": "0.1.0",
                     "epoch": 3}, path / "best.pt")
    return path


def _metatomic_calculator(path):
    from metatomic_ase import MetatomicCalculator

    return MetatomicCalculator(str(path), check_consistency=True, device="cpu")


def _slab(seed=0):
    atoms = random_crystal(seed=seed, repeat=(2, 2, 1))
    atoms.pbc = [True, True, False]
    return atoms


STRUCTURES = {
    # fcc Cu (40 % Al) 3×3×3 cubic supercell, triclinic strain, displaced atoms: 11 Å cell
    "periodic": lambda: random_crystal(seed=3, repeat=(3, 3, 3)),
    # one cubic cell, 3.7 Å < 2 r_max = 8 Å: several images of one atom are neighbours
    "small-cell": lambda: random_crystal(seed=4),
    "mixed-pbc": _slab,
    "open-cluster": lambda: random_cluster(n=12, seed=2, box=7.0),
}


@needs_metatomic
@pytest.mark.parametrize("name", sorted(STRUCTURES))
def test_metatomic_ase_equals_our_calculator(exported, name):
    run_dir, path, _ = exported
    atoms = STRUCTURES[name]()
    theirs, ours = atoms.copy(), atoms.copy()
    theirs.calc = _metatomic_calculator(path)
    ours.calc = MLIPCalculator(run_dir)
    energy = ours.get_potential_energy()
    assert abs(theirs.get_potential_energy() - energy) < TOL
    np.testing.assert_allclose(theirs.get_forces(), ours.get_forces(), rtol=0, atol=TOL)
    np.testing.assert_allclose(theirs.get_potential_energies(), ours.get_potential_energies(),
                               rtol=0, atol=TOL)
    if atoms.pbc.all():
        np.testing.assert_allclose(theirs.get_stress(), ours.get_stress(), rtol=0, atol=TOL)
    # not a trivial agreement: forces are there, and the energy is not the E0 sum
    assert np.abs(ours.get_forces()).max() > 1e-3
    e0 = sum({13: -1.5, 29: -2.5}[int(z)] for z in atoms.numbers)
    assert abs(energy - e0) > 1e-3


@needs_metatomic
def test_batch_and_selected_atoms(exported):
    """Two systems in one call; with selected atoms, only their energies count."""
    from metatensor.torch import Labels
    from metatomic.torch import ModelOutput

    run_dir, path, _ = exported
    calc = _metatomic_calculator(path)
    frames = [random_crystal(seed=7), random_cluster(n=5, seed=8)]
    reference = []
    for atoms in frames:
        atoms = atoms.copy()
        atoms.calc = MLIPCalculator(run_dir)
        reference.append(atoms.get_potential_energies())
    per_atom = ModelOutput(unit="eV", sample_kind="atom")
    out = calc.run_model(frames, {"energy": per_atom})["energy"].block()
    np.testing.assert_allclose(out.values.detach().numpy().ravel(), np.concatenate(reference),
                               rtol=0, atol=TOL)
    selection = [(0, 1), (0, 3), (1, 0), (1, 4)]
    selected = Labels(["system", "atom"], torch.tensor(selection, dtype=torch.int32))
    total = calc.run_model(frames, {"energy": ModelOutput(unit="eV", sample_kind="system")},
                           selected_atoms=selected)["energy"].block()
    expected = [reference[0][1] + reference[0][3], reference[1][0] + reference[1][4]]
    np.testing.assert_allclose(total.values.detach().numpy().ravel(), expected, rtol=0,
                               atol=TOL)
    atoms_out = calc.run_model(frames, {"energy": per_atom}, selected_atoms=selected)
    assert atoms_out["energy"].block().samples.values.tolist() == [list(s) for s in selection]


@needs_metatomic
def test_non_strict_neighbour_list_gives_the_same_energy(exported):
    """An engine may hand over pairs beyond r_max (a Verlet skin): they are dropped."""
    from metatomic.torch import NeighborListOptions, System, load_atomistic_model
    from vesin.metatomic import NeighborList

    run_dir, path, meta = exported
    model = load_atomistic_model(str(path))
    (request,) = model.requested_neighbor_lists()
    atoms = random_crystal(seed=9, repeat=(2, 2, 2))
    reference = atoms.copy()
    reference.calc = MLIPCalculator(run_dir)

    def system_with_cutoff(cutoff):
        system = System(torch.tensor(atoms.numbers, dtype=torch.int32),
                        torch.tensor(atoms.positions), torch.tensor(atoms.cell[:]),
                        torch.tensor(atoms.pbc))
        wider = NeighborListOptions(cutoff=cutoff, full_list=True, strict=False)
        system.add_neighbor_list(request, NeighborList(wider, "angstrom").compute(system))
        return system

    inner = model.module
    longer = inner._edges(system_with_cutoff(meta["r_max"] + 1.5), 0)
    exact = inner._edges(system_with_cutoff(meta["r_max"]), 0)
    assert longer[0].shape == exact[0].shape
    assert float(torch.linalg.norm(longer[1], dim=-1).max()) < meta["r_max"]
    from metatomic.torch import ModelEvaluationOptions, ModelOutput

    options = ModelEvaluationOptions(length_unit="angstrom",
                                     outputs={"energy": ModelOutput(unit="eV")})
    energy = model([system_with_cutoff(meta["r_max"] + 1.5)], options, True)["energy"]
    assert abs(float(energy.block().values) - reference.get_potential_energy()) < TOL


@needs_metatomic
def test_the_file_describes_the_model(exported):
    from metatomic.torch import load_atomistic_model

    _, path, meta = exported
    model = load_atomistic_model(str(path))
    caps = model.capabilities()
    assert caps.atomic_types == [13, 29]
    assert caps.interaction_range == pytest.approx(KWARGS["num_layers"] * KWARGS["r_max"])
    assert caps.length_unit == "angstrom" and caps.dtype == "float64"
    assert caps.supported_devices == ["cuda", "cpu"]
    assert caps.outputs["energy"].unit == "eV"
    (request,) = model.requested_neighbor_lists()
    assert request.cutoff == KWARGS["r_max"] and request.full_list
    ours = json.loads(model.metadata().extra["mlip_gnn"])
    assert ours["e0s"] == {"Al": -1.5, "Cu": -2.5}
    assert ours["config_hash"] == "abc123" and ours["ema"] is True
    assert ours == json.loads(json.dumps(meta, default=str))


@needs_metatomic
def test_unknown_element_is_named(exported):
    _, path, _ = exported
    atoms = random_cluster(n=4, seed=1)
    atoms.numbers[2] = 8
    atoms.calc = _metatomic_calculator(path)
    with pytest.raises(ValueError, match="atomic type '8'"):
        atoms.get_potential_energy()


@needs_metatomic
def test_float32_export(tmp_path, exported):
    run_dir, _, _ = exported
    path, meta = export_metatomic(run_dir, tmp_path / "m32.pt", dtype="float32")
    assert meta["dtype"] == "float32"
    atoms = random_crystal(seed=5, repeat=(2, 2, 2))
    theirs, ours = atoms.copy(), atoms.copy()
    theirs.calc = _metatomic_calculator(path)
    ours.calc = MLIPCalculator(run_dir)
    assert theirs.calc.model().capabilities().dtype == "float32"
    # float32 (ε = 1.2e-7) against float64: ~100 ε of the energy (~-70 eV) and of the
    # largest force component (the random weights give tens of eV/Å)
    energy = ours.get_potential_energy()
    assert abs(theirs.get_potential_energy() - energy) < 100 * 1.2e-7 * abs(energy)
    forces = ours.get_forces()
    np.testing.assert_allclose(theirs.get_forces(), forces, rtol=0,
                               atol=200 * 1.2e-7 * np.abs(forces).max())


def _spin_checkpoint(path):
    from spin_support import spin_model

    model = spin_model()
    kwargs = dict(species=[26, 28], r_max=4.0, avg_num_neighbors=10.0, scale=0.1,
                  num_layers=2, num_channels=8, max_ell=2, hidden_ell=1, correlation=2,
                  num_bessel=6, radial_mlp=[16], dtype="float64", seed=0, spin="collinear")
    spec = ModelSpec.from_builder_kwargs(kwargs)
    save_checkpoint({"model_spec": spec.to_dict(), "model": model.state_dict(),
                     "config": {}, "config_hash": "spin", "version": "0.1.0", "epoch": 1},
                    path)
    return path


@needs_metatomic
def test_spin_model_is_refused(tmp_path, capsys):
    checkpoint = _spin_checkpoint(tmp_path / "best.pt")
    with pytest.raises(ModelFileError, match="magnetic moments"):
        export_metatomic(checkpoint, tmp_path / "spin.pt")
    status = main(["export", str(checkpoint), "--format", "metatomic",
                   "-o", str(tmp_path / "spin.pt")])
    assert status == 2
    assert "magnetic moments" in capsys.readouterr().err
    assert not (tmp_path / "spin.pt").exists()


def test_long_range_model_is_refused():
    deployed, _ = deploy(make_model())
    check_exportable(deployed)  # a plain model passes
    deployed, _ = deploy(make_model(long_range="latent"))
    with pytest.raises(ModelFileError, match="not yet supported in the metatomic export"):
        check_exportable(deployed)


@needs_metatomic
def test_cli_writes_a_loadable_file(exported, tmp_path, capsys):
    from metatomic.torch import load_atomistic_model

    run_dir, _, _ = exported
    out = tmp_path / "cli.pt"
    assert main(["export", str(run_dir), "--format", "metatomic", "-o", str(out)]) == 0
    assert "metatomic" in capsys.readouterr().out
    model = load_atomistic_model(str(out))
    assert model.capabilities().atomic_types == [13, 29]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cli.pt"]  # no temporary left


@pytest.mark.parametrize("missing", ["metatomic", "metatomic.torch", "metatensor.torch"])
def test_without_metatomic_the_error_says_what_to_install(tmp_path, monkeypatch, capsys,
                                                          missing):
    run_dir, _ = write_run_dir(tmp_path / "run")
    monkeypatch.setitem(sys.modules, missing, None)  # import of it raises ImportError
    with pytest.raises(MetatomicUnavailableError, match=r"pip install 'mlip_gnn\[metatomic\]'"):
        export_metatomic(run_dir, tmp_path / "m.pt")
    status = main(["export", str(run_dir), "--format", "metatomic",
                   "-o", str(tmp_path / "m.pt")])
    assert status == 2
    err = capsys.readouterr().err
    assert "metatomic-torch" in err and "pip install" in err
    assert not (tmp_path / "m.pt").exists()
