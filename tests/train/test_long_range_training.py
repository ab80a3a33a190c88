"""configs/long_range.yaml end to end on a few charged frames: train, export, the
calculator honours atoms.info["charge"] and returns the latent charges; `predict` writes
them; frames with a malformed charge are refused."""

from pathlib import Path

import ase.io
import numpy as np
import pytest
from ase import Atoms

from mlip_gnn.calculators import MLIPCalculator
from mlip_gnn.cli.main import main
from train_support import SMALL_RECIPE, train_recipe, write_train_test

CONFIG = Path(__file__).parents[2] / "configs" / "long_range.yaml"
SMALL = SMALL_RECIPE


def ion_pair_frames(count, seed):
    """Na/Cl pairs and Na2Cl+ trimers in vacuum with point-charge Coulomb + repulsion labels:
    a stand-in reference with a 1/r tail (the benchmark uses xTB)."""
    rng = np.random.default_rng(seed)
    frames = []
    for k in range(count):
        trimer = k % 2 == 1
        numbers = [11, 17, 11] if trimer else [11, 17]
        q = np.array([1.0, -1.0, 1.0] if trimer else [1.0, -1.0])
        pos = rng.uniform(-1, 1, (len(numbers), 3))
        pos[1] += [rng.uniform(2.4, 9.0), 0, 0]
        if trimer:
            pos[2] += [-rng.uniform(2.4, 9.0), 0, 0]
        diff = pos[:, None] - pos[None]
        r = np.linalg.norm(diff, axis=-1) + np.eye(len(numbers))
        pair = 14.4 * q[:, None] * q[None] / r + 50.0 * np.exp(-2.0 * r)
        np.fill_diagonal(pair, 0.0)
        energy = 0.5 * pair.sum()
        dpair = -(14.4 * q[:, None] * q[None] / r ** 2 + 100.0 * np.exp(-2.0 * r))
        np.fill_diagonal(dpair, 0.0)
        forces = -np.sum(dpair[..., None] * diff / r[..., None], axis=1)
        atoms = Atoms(numbers=numbers, positions=pos)
        atoms.info["energy"] = float(energy)
        atoms.arrays["forces"] = forces
        atoms.info["charge"] = float(q.sum())
        frames.append(atoms)
    return frames


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return write_train_test(tmp_path_factory.mktemp("lr-data"), ion_pair_frames(12, seed=0), 10)


@pytest.fixture(scope="module")
def lr_run(data, tmp_path_factory):
    return train_recipe(CONFIG, data, tmp_path_factory.mktemp("lr-run") / "run")


def test_recipe_trains_exports_and_the_calculator_honours_the_charge(lr_run, tmp_path):
    assert main(["export", str(lr_run), "-o", str(tmp_path / "lr.pt")]) == 0
    atoms = Atoms("NaClNa", positions=[[0, 0, 0], [2.8, 0, 0], [-2.8, 0.3, 0]])
    for source in (lr_run, tmp_path / "lr.pt"):
        atoms.calc = MLIPCalculator(source)
        energies = {}
        for charge in (1.0, 0.0):
            atoms.info["charge"] = charge
            energies[charge] = atoms.get_potential_energy()
            charges = atoms.calc.results["charges"]
            assert charges.shape == (3,) and charges.sum() == pytest.approx(charge)
            assert np.allclose(atoms.get_charges(), charges)
        assert energies[1.0] != energies[0.0]  # the total charge reaches the energy
    eager = MLIPCalculator(lr_run)
    exported = MLIPCalculator(tmp_path / "lr.pt")
    atoms.info["charge"] = 1.0
    np.testing.assert_allclose(exported.get_forces(atoms), eager.get_forces(atoms),
                               atol=1e-10)


def test_predict_writes_the_latent_charges(lr_run, data, tmp_path):
    out = tmp_path / "pred.xyz"
    assert main(["predict", str(lr_run), str(data / "test.xyz"), "-o", str(out)]) == 0
    frames = ase.io.read(out, index=":")
    reference = ase.io.read(data / "test.xyz", index=":")
    for frame, ref in zip(frames, reference):
        charges = [value for key, value in frame.arrays.items() if key.endswith("charges")]
        assert charges, f"no charges among {sorted(frame.arrays)}"
        assert charges[0].sum() == pytest.approx(ref.info["charge"], abs=1e-6)


def test_a_malformed_total_charge_is_refused_with_exit_2(data, tmp_path, capsys):
    frames = ase.io.read(data / "train.xyz", index=":")
    frames[4].info["charge"] = "plus one"
    ase.io.write(tmp_path / "bad.xyz", frames, format="extxyz")
    code = main(["train", str(CONFIG), "--set", f"data.train={tmp_path / 'bad.xyz'}",
                 "--set", "data.test=null", "--set", f"output.run_dir={tmp_path / 'run'}",
                 *SMALL])
    err = " ".join(capsys.readouterr().err.split())
    assert code == 2
    assert "bad.xyz" in err and "frame 4" in err and "charge" in err, err
    assert "Traceback" not in err


def test_unknown_long_range_key_names_the_nearest(tmp_path, capsys):
    code = main(["train", str(CONFIG), "--set", "model.long_range.smearnig=1.0",
                 "--set", f"output.run_dir={tmp_path / 'run'}"])
    err = capsys.readouterr().err
    assert code == 2 and "smearing" in err, err


def test_last_layer_uncertainty_fit_is_refused_and_a_committee_works(lr_run, data, tmp_path,
                                                                      capsys):
    code = main(["uncertainty", "fit", str(lr_run)])
    err = " ".join(capsys.readouterr().err.split())
    assert code == 2 and "long-range" in err and "committee" in err, err
    atoms = ase.io.read(data / "test.xyz", index=0)
    atoms.calc = MLIPCalculator([lr_run, lr_run])
    atoms.get_potential_energy()
    assert atoms.calc.results["energy_std"] == pytest.approx(0.0, abs=1e-9)
    assert "charges" in atoms.calc.results


def test_recipe_with_the_d3_baseline_trains_and_exports(data, tmp_path):
    pytest.importorskip("tad_dftd3")
    run = train_recipe(CONFIG, data, tmp_path / "run", "--set",
                       "model.long_range.dispersion=d3bj", "--set",
                       "model.long_range.functional=pbe")
    assert main(["export", str(run), "-o", str(tmp_path / "d3.pt")]) == 0
    atoms = Atoms("NaCl", positions=[[0, 0, 0], [9.0, 0, 0]])
    atoms.info["charge"] = 0.0
    eager = MLIPCalculator(run).get_potential_energy(atoms)
    exported = MLIPCalculator(tmp_path / "d3.pt").get_potential_energy(atoms)
    assert exported == pytest.approx(eager, abs=1e-10)
