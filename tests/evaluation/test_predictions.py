"""``predict``: every frame written with the model's results; evaluate names missing labels."""

import numpy as np
import pytest
from ase.io import read, write
from model_support import make_model, random_cluster, random_crystal

from mlip_gnn.calculators import Committee
from mlip_gnn.cli.main import main
from mlip_gnn.data import configuration_from_atoms
from mlip_gnn.export import export_potential


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    root = tmp_path_factory.mktemp("m")
    return [export_potential(make_model(correlation=1, max_ell=1, hidden_ell=1, num_layers=1,
                                        seed=s), root / f"m{s}.pt") for s in (2, 3)]


@pytest.fixture(scope="module")
def unlabelled(tmp_path_factory):
    """Two crystals and a cluster (no cell: no stress), no labels at all."""
    path = tmp_path_factory.mktemp("d") / "plain.xyz"
    frames = [random_crystal(seed=60), random_cluster(seed=61), random_crystal(seed=62)]
    frames[0].info["config_type"] = "bulk"
    write(path, frames, format="extxyz")
    return path


def test_committee_predictions_for_every_unlabelled_frame(models, unlabelled, tmp_path,
                                                           capsys):
    out = tmp_path / "pred.xyz"
    assert main(["predict", *map(str, models), str(unlabelled), "-o", str(out)]) == 0
    assert "3 frame(s), 2 model(s)" in capsys.readouterr().out
    written, given = read(out, ":"), read(unlabelled, ":")
    assert len(written) == 3
    committee = Committee(models)
    for i, (atoms, original) in enumerate(zip(written, given)):
        np.testing.assert_allclose(atoms.positions, original.positions, atol=1e-8)
        assert atoms.info.get("config_type") == original.info.get("config_type")
        pred = committee.predict(configuration_from_atoms(original))
        assert atoms.info["MLIP_energy"] == pytest.approx(pred.energy, abs=1e-10)
        np.testing.assert_allclose(atoms.arrays["MLIP_forces"], pred.forces, atol=1e-7)
        np.testing.assert_allclose(atoms.arrays["MLIP_energies"], pred.energies, atol=1e-7)
        members = [m.forces for m in pred.members]
        spread = np.linalg.norm(np.std(members, axis=0), axis=1)
        assert spread.max() > 0  # two different models
        np.testing.assert_allclose(atoms.arrays["MLIP_forces_std"], spread, atol=1e-7)
        assert atoms.info["MLIP_energy_std"] == pytest.approx(
            np.std([m.energy for m in pred.members]), abs=1e-10)
        if i == 1:  # the cluster has no cell, so no stress
            assert "MLIP_stress" not in atoms.info
        else:
            s = pred.stress
            voigt = [s[0, 0], s[1, 1], s[2, 2], s[1, 2], s[0, 2], s[0, 1]]
            np.testing.assert_allclose(atoms.info["MLIP_stress"], voigt, atol=1e-12)


def test_one_model_writes_no_uncertainty_and_bad_input_writes_nothing(models, unlabelled,
                                                                      tmp_path, capsys):
    out = tmp_path / "one.xyz"
    assert main(["predict", str(models[0]), str(unlabelled), "-o", str(out)]) == 0
    atoms = read(out, 0)
    assert "MLIP_energy" in atoms.info and "MLIP_energy_std" not in atoms.info
    bad = tmp_path / "bad.xyz"
    frames = read(unlabelled, ":")
    frames[1].positions[0, 0] = np.nan
    write(bad, frames, format="extxyz")
    assert main(["predict", str(models[0]), str(bad), "-o", str(tmp_path / "x.xyz")]) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert "bad.xyz, frame 1: field 'positions' contains NaN" in err
    assert not (tmp_path / "x.xyz").exists()


def test_evaluate_says_which_labels_are_missing_and_lists_only_written_plots(
        models, unlabelled, tmp_path, capsys):
    from ase.calculators.singlepoint import SinglePointCalculator

    frames = read(unlabelled, ":")
    frames[0].calc = SinglePointCalculator(frames[0], energy=-3.0)  # energy only
    data = tmp_path / "partly.xyz"
    write(data, frames, format="extxyz")
    out = tmp_path / "eval"
    assert main(["evaluate", str(models[0]), str(data), "-o", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "labels: energy missing in 2 of 3 frames; forces missing in 3 of 3 frames; " \
           "stress missing in 3 of 3 frames" in printed
    assert "F MAE" not in printed and "E MAE" in printed  # no column without labels
    assert "default" in printed and "no labels" in printed  # the unlabelled config type
    assert "parity_energy.png" in printed and "parity_forces" not in printed
    assert sorted(p.name for p in out.iterdir()) == ["errors.txt", "metrics.json",
                                                     "parity_energy.png"]
