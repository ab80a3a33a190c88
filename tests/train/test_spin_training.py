"""configs/spin.yaml end to end on a few frames of the spin-lattice reference: train,
export, and the calculator reads the moments; and frames without moments are refused."""

from pathlib import Path

import ase.io
import numpy as np
import pytest

from mlip_gnn.calculators import MLIPCalculator
from mlip_gnn.cli.main import main
from train_support import SMALL_RECIPE, train_recipe, write_train_test
from mlip_gnn.data.spin_lattice import cubic_cell, ordered_moments, spin_lattice_frames

CONFIG = Path(__file__).parents[2] / "configs" / "spin.yaml"
SMALL = SMALL_RECIPE


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    frames = spin_lattice_frames(10, seed=3)
    return write_train_test(tmp_path_factory.mktemp("spin-data"), frames, 8)


@pytest.fixture(scope="module")
def spin_run(data, tmp_path_factory):
    return train_recipe(CONFIG, data, tmp_path_factory.mktemp("spin-run") / "run")


def test_spin_recipe_trains_exports_and_reads_moments_from_atoms(spin_run, tmp_path):
    assert main(["export", str(spin_run), "-o", str(tmp_path / "spin.pt")]) == 0
    atoms = cubic_cell("bcc", 2.87)
    atoms.calc = MLIPCalculator(tmp_path / "spin.pt")
    energies = {}
    for order in ("fm", "afm"):
        atoms.set_initial_magnetic_moments(ordered_moments(atoms, order, 2.2))
        energies[order] = atoms.get_potential_energy()
        assert atoms.calc.results["magnetic_forces"].shape == (len(atoms),)
    assert np.isfinite(list(energies.values())).all()
    assert energies["fm"] != energies["afm"]  # the model sees the arrangement


def test_frames_without_moments_are_refused_with_exit_2(data, tmp_path, capsys):
    frames = ase.io.read(data / "train.xyz", index=":")
    del frames[3].arrays["initial_magmoms"]
    ase.io.write(tmp_path / "bad.xyz", frames, format="extxyz")
    code = main(["train", str(CONFIG), "--set", f"data.train={tmp_path / 'bad.xyz'}",
                 "--set", "data.test=null", "--set", f"output.run_dir={tmp_path / 'run'}",
                 *SMALL])
    err = " ".join(capsys.readouterr().err.split())
    assert code == 2
    assert "bad.xyz" in err and "frame 3" in err and "initial_magmoms" in err, err
    assert "Traceback" not in err
    assert not (tmp_path / "run").exists()


def test_spin_free_training_ignores_the_moments(data, tmp_path):
    run = tmp_path / "run"
    assert main(["train", str(CONFIG), "--set", f"data.train={data / 'train.xyz'}",
                 "--set", "data.test=null", "--set", "model.spin=none",
                 "--set", f"output.run_dir={run}", *SMALL]) == 0
    atoms = cubic_cell("bcc", 2.87)
    atoms.calc = MLIPCalculator(run)
    atoms.set_initial_magnetic_moments(ordered_moments(atoms, "fm", 2.2))
    fm = atoms.get_potential_energy()
    atoms.set_initial_magnetic_moments(ordered_moments(atoms, "afm", 2.2))
    assert atoms.get_potential_energy() == fm
    assert "magnetic_forces" not in atoms.calc.results


def test_magnetic_forces_term_is_the_masked_mean_square_error():
    import torch

    from mlip_gnn.data import keys
    from mlip_gnn.train.loss import TERMS, WeightedLoss, elementwise_loss

    ref = {keys.BATCH: torch.tensor([0, 0, 1, 1, 1]), keys.WEIGHT: torch.tensor([1.0, 2.0]),
           keys.MAGNETIC_FORCES_WEIGHT: torch.tensor([1.0, 0.0]),  # frame 1 unlabelled
           keys.MAGNETIC_FORCES: torch.tensor([0.5, -0.5, 9.0, 9.0, 9.0])}
    pred = {keys.MAGNETIC_FORCES: torch.tensor([0.7, -0.1, 0.0, 0.0, 0.0])}
    expected = (0.2**2 + 0.4**2) / 2
    term = TERMS["magnetic_forces"](pred, ref, elementwise_loss("mse"))
    assert term.item() == pytest.approx(expected)
    loss = WeightedLoss({"magnetic_forces": 3.0}, elementwise_loss("mse"))
    assert loss.needs_derivative_graph
    assert loss(pred, ref).item() == pytest.approx(3.0 * expected)


def test_training_with_magnetic_forces_labels(data, tmp_path):
    run = tmp_path / "run"
    assert main(["train", str(CONFIG), "--set", f"data.train={data / 'train.xyz'}",
                 "--set", "data.test=null", "--set", "loss.magnetic_forces_weight=1.0",
                 "--set", f"output.run_dir={run}", *SMALL]) == 0
    assert (run / "best.pt").exists()


@pytest.mark.parametrize("changes, match", [
    (["--set", "model.spin=none", "--set", "loss.magnetic_forces_weight=1.0"], "model.spin"),
    (["--set", "data.keys.magnetic_forces=null", "--set", "loss.magnetic_forces_weight=1.0"],
     "data.keys.magnetic_forces"),
    (["--set", "model.spin=none", "--set", "model.magmom_scale=3.0"], "magmom_scale"),
])
def test_inconsistent_spin_settings_exit_2_naming_the_field(data, tmp_path, capsys, changes,
                                                            match):
    code = main(["train", str(CONFIG), "--set", f"data.train={data / 'train.xyz'}",
                 "--set", f"output.run_dir={tmp_path / 'run'}", *SMALL, *changes])
    assert code == 2
    assert match in capsys.readouterr().err


def test_aoti_export_of_a_spin_run_is_refused_clearly(spin_run, tmp_path, capsys):
    assert main(["export", str(spin_run), "-o", str(tmp_path / "m.pt2"),
                 "--format", "aoti"]) == 2
    assert "TorchScript" in capsys.readouterr().err


def test_predict_and_evaluate_read_moments_and_report_magnetic_forces(spin_run, data,
                                                                      tmp_path, capsys):
    out = tmp_path / "pred.xyz"
    assert main(["predict", str(spin_run), str(data / "test.xyz"), "-o", str(out)]) == 0
    frames = ase.io.read(out, index=":")
    reference = ase.io.read(data / "test.xyz", index=":")
    for frame, ref in zip(frames, reference):
        assert frame.arrays["MLIP_magnetic_forces"].shape == (len(frame),)
        probe = ref.copy()
        probe.calc = MLIPCalculator(spin_run)
        assert frame.info["MLIP_energy"] == pytest.approx(probe.get_potential_energy(),
                                                          rel=1e-6)
    assert main(["evaluate", str(spin_run), str(data / "test.xyz"),
                 "-o", str(tmp_path / "eval")]) == 0
    assert (tmp_path / "eval" / "metrics.json").exists()
    bare = reference[0].copy()
    del bare.arrays["initial_magmoms"]
    ase.io.write(tmp_path / "bare.xyz", bare, format="extxyz")
    capsys.readouterr()
    assert main(["predict", str(spin_run), str(tmp_path / "bare.xyz"),
                 "-o", str(tmp_path / "p2.xyz")]) == 2
    err = capsys.readouterr().err
    assert "bare.xyz" in err and "frame 0" in err and "magnetic moments" in err


def test_md_keeps_the_moments_fixed(spin_run, tmp_path):
    start = cubic_cell("bcc", 2.87)
    start.set_initial_magnetic_moments(ordered_moments(start, "afm", 2.2))
    ase.io.write(tmp_path / "start.xyz", start, format="extxyz")
    assert main(["md", str(spin_run), str(tmp_path / "start.xyz"), "--steps", "4",
                 "--interval", "2", "--ensemble", "nve", "--no-progress",
                 "-o", str(tmp_path / "md")]) == 0
    frames = ase.io.read(tmp_path / "md" / "md.xyz", index=":")
    assert len(frames) >= 2
    for frame in frames:
        np.testing.assert_array_equal(frame.get_initial_magnetic_moments(),
                                      start.get_initial_magnetic_moments())
        assert frame.arrays["magnetic_forces"].shape == (len(start),)
    bare = start.copy()
    del bare.arrays["initial_magmoms"]
    ase.io.write(tmp_path / "bare.xyz", bare, format="extxyz")
    assert main(["md", str(spin_run), str(tmp_path / "bare.xyz"), "--steps", "2",
                 "--no-progress", "-o", str(tmp_path / "md2")]) == 2


def test_a_preprocessed_dataset_is_refused_for_a_spin_model(data, tmp_path, capsys):
    dataset = tmp_path / "ds"
    assert main(["preprocess", str(data / "train.xyz"), "-o", str(dataset), "--r-max", "4.5",
                 "--workers", "1"]) == 0
    capsys.readouterr()
    code = main(["train", str(CONFIG), "--set", f"data.train={dataset}",
                 "--set", "data.test=null", "--set", f"output.run_dir={tmp_path / 'run'}",
                 *SMALL])
    assert code == 2
    assert "preprocessed datasets do not carry magnetic moments" in " ".join(
        capsys.readouterr().err.split())
