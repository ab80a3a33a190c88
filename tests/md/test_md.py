"""``md``: NVE energy conservation, every ensemble, committee extrapolation stop, bad input."""

import re

import numpy as np
import pytest
from ase.build import bulk
from ase.io import read, write
from model_support import make_model, model_checkpoint

from mlip_gnn.calculators import MLIPCalculator
from mlip_gnn.cli.main import main
from mlip_gnn.md import MDSettings, run_md

checkpoint = model_checkpoint  # make_model(seed) as a checkpoint file


def crystal():
    """Cu near the minimum of make_model(seed=0)'s E(a) (about 4.1 Å, see the relaxation
    test of the calculator), slightly rattled."""
    atoms = bulk("Cu", "fcc", a=4.1) * (2, 2, 2)
    atoms.rattle(0.05, seed=1)
    return atoms


def test_nve_conserves_energy(tmp_path):
    """float64, 8 atoms, 300 K, dt = 1 fs, 100 steps: |Etot - Etot(0)| < 0.5 meV/atom."""
    atoms = crystal()
    atoms.calc = MLIPCalculator(make_model(seed=0))
    settings = MDSettings(ensemble="nve", temperature_K=300.0, timestep_fs=1.0, steps=100,
                          interval=5, seed=3)
    result = run_md(atoms, settings, tmp_path)
    per_atom = result.total_energy / len(atoms)
    assert result.temperature_K.max() > 50.0  # it does move
    assert np.abs(per_atom - per_atom[0]).max() < 5e-4
    assert abs(result.drift_meV_per_atom_ps) < 2.0
    log = np.loadtxt(tmp_path / "md.log")
    assert log.shape == (21, 7)
    np.testing.assert_allclose(log[:, 5], log[:, 3] + log[:, 4], atol=2e-6)
    assert len(read(tmp_path / "md.xyz", ":")) == 21


@pytest.mark.parametrize("ensemble", ["langevin", "nose-hoover", "npt"])
def test_cli_ensembles_run(tmp_path, ensemble, capsys):
    model = checkpoint(tmp_path / "m.pt", 0)
    write(tmp_path / "start.xyz", crystal())
    out = tmp_path / "out"
    assert main(["md", model, str(tmp_path / "start.xyz"), "--ensemble", ensemble,
                 "--steps", "6", "--interval", "3", "--temperature", "500", "-o", str(out),
                 "--no-progress"]) == 0
    log = np.loadtxt(out / "md.log")
    assert log.shape == (3, 7) and np.isfinite(log).all()
    assert "6 steps" in capsys.readouterr().out


def test_committee_spread_stops_the_run(tmp_path, capsys):
    models = [checkpoint(tmp_path / "a.pt", 0), checkpoint(tmp_path / "b.pt", 3)]
    write(tmp_path / "start.xyz", crystal())
    out = tmp_path / "out"
    assert main(["md", *models, str(tmp_path / "start.xyz"), "--steps", "5", "-o", str(out),
                 "--max-force-std", "1e-3", "--no-progress"]) == 3
    err = " ".join(capsys.readouterr().err.split())
    assert "CommitteeSpread force uncertainty" in err and "extrapolating" in err
    frame = read(out / "extrapolated.xyz")
    assert frame.info["max_forces_std"] > 1e-3 and "forces_std" in frame.arrays
    header = (out / "md.log").read_text().splitlines()[0]
    assert header.endswith("max_F_std_eV/A max_OOD")


@pytest.mark.parametrize("case,match", [
    ("missing", "file not found"),
    ("overlap", "frame 0: atoms 0 and 1"),
    ("unknown", r"element\(s\) \['Fe'\] not known"),
    ("nan", "field 'positions' contains NaN"),
    ("flat", "periodic cell has zero volume"),
    ("std_without_committee", "needs an uncertainty estimator"),
    ("npt_cluster", "npt needs a fully periodic cell"),
])
def test_bad_input_exit_2_without_outputs(tmp_path, capsys, case, match):
    model = checkpoint(tmp_path / "m.pt", 0)
    atoms = crystal()
    extra = []
    if case == "overlap":
        atoms.positions[1] = atoms.positions[0] + 0.01
    elif case == "unknown":
        atoms.numbers[3] = 26
    elif case == "nan":
        atoms.positions[2, 0] = np.nan
    elif case == "flat":
        atoms.cell[1] = 0.0
    elif case == "std_without_committee":
        extra = ["--max-force-std", "0.1"]
    elif case == "npt_cluster":
        atoms.pbc = False
        extra = ["--ensemble", "npt"]
    structure = tmp_path / "start.xyz"
    if case != "missing":
        write(structure, atoms)
    out = tmp_path / "out"
    assert main(["md", model, str(structure), "-o", str(out), "--steps", "2", *extra]) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert "Traceback" not in err and re.search(match, err), err
    assert not out.exists()
