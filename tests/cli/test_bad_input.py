"""Bad input to ``mlip-gnn train`` / ``evaluate`` / ``md``: exit 2, a message that names
the file, the frame and the field, no traceback, nothing left behind."""

import numpy as np
import pytest

from mlip_gnn.cli.main import main
from cli_support import config_writer, write_frames


@pytest.fixture(scope="module")
def cu_xyz(tmp_path_factory):
    return write_frames(tmp_path_factory.mktemp("bad-input-data") / "cu.xyz")


@pytest.fixture
def write_config(cu_xyz, tmp_path):
    return config_writer(cu_xyz, tmp_path)


def _labelled(atoms, energy=True, forces=True):
    from ase.calculators.emt import EMT
    from ase.calculators.singlepoint import SinglePointCalculator

    atoms.calc = EMT()
    results = {}
    if energy:
        results["energy"] = atoms.get_potential_energy()
    if forces:
        results["forces"] = atoms.get_forces()
    atoms.calc = SinglePointCalculator(atoms, **results)
    return atoms


def _frames(n=3, symbol="Cu", **labels):
    from ase.build import bulk

    rng = np.random.default_rng(1)
    frames = []
    for _ in range(n):
        atoms = bulk(symbol, "fcc", a=3.6 if symbol == "Cu" else 4.08, cubic=True)
        atoms.positions += rng.normal(0.0, 0.05, atoms.positions.shape)
        frames.append(_labelled(atoms, **labels))
    return frames


def _write(path, frames):
    from ase.io import write

    write(path, frames, format="extxyz")
    return path


def _bad_file(kind, path):
    """A structure file whose frame 1 (where there is one) is wrong as ``kind`` says."""
    if kind == "empty":
        path.write_text("")
        return path
    if kind == "unreadable":
        path.write_text("this is not\nan xyz file\n")
        return path
    if kind == "no energy":
        return _write(path, _frames(energy=False))
    if kind == "no forces":
        return _write(path, _frames(forces=False))
    frames = _frames()
    text = None
    if kind == "nan position":
        _write(path, frames)
        lines = path.read_text().splitlines()
        # frame 1 starts after frame 0's 2 + 4 lines; its first atom is 2 lines further
        fields = lines[6 + 2].split()
        fields[1] = "nan"
        lines[6 + 2] = " ".join(fields)
        text = "\n".join(lines) + "\n"
    elif kind == "inf energy":
        frames[1].calc.results["energy"] = np.inf
    elif kind == "close atoms":
        frames[1].positions[1] = frames[1].positions[0] + [0.05, 0.0, 0.0]
        frames[1] = _labelled(frames[1])
    elif kind == "zero volume":
        frames[1].set_cell([[3.6, 0, 0], [0, 3.6, 0], [3.6, 3.6, 0]])
    if text is None:
        _write(path, frames)
    else:
        path.write_text(text)
    return path


@pytest.mark.parametrize("kind, expected", [
    ("empty", ["empty"]),
    ("unreadable", ["cannot read structures"]),
    # frames without a label are masked out of its loss term; none at all is an error
    ("no energy", ["training frames carries the energy label", "'energy'", "loss.energy_weight"]),
    ("no forces", ["training frames carries the forces label", "'forces'", "loss.forces_weight"]),
    ("nan position", ["frame 1", "positions", "NaN"]),
    ("inf energy", ["frame 1", "energy", "NaN or Inf"]),
    ("close atoms", ["frame 1", "overlapping"]),
    ("zero volume", ["frame 1", "zero volume"]),
])
def test_bad_training_data_exits_2_naming_file_frame_and_field(write_config, tmp_path, capsys,
                                                               kind, expected):
    bad = _bad_file(kind, tmp_path / "bad.xyz")
    config = write_config(data={"train": str(bad)},
                          output={"run_dir": str(tmp_path / "runs" / "run")})
    assert main(["train", str(config)]) == 2
    err = " ".join(capsys.readouterr().err.split())  # the message is wrapped at 100 columns
    assert "bad.xyz" in err and "Traceback" not in err, err
    for text in expected:
        assert text in err, (text, err)
    assert not (tmp_path / "runs").exists()  # no half-made run directory


def test_missing_config_and_missing_data_file(write_config, tmp_path, capsys):
    assert main(["train", str(tmp_path / "nope.yaml")]) == 2
    err = capsys.readouterr().err
    assert "nope.yaml" in err and "Traceback" not in err
    config = write_config(data={"train": str(tmp_path / "gone.xyz")})
    assert main(["train", str(config)]) == 2
    err = capsys.readouterr().err
    assert "gone.xyz" in err and "not found" in err and "Traceback" not in err
    assert not (tmp_path / "run").exists()


@pytest.fixture(scope="module")
def trained_run(cu_xyz, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("bad-input-run")
    config = config_writer(cu_xyz, tmp)(train={"max_epochs": 1})
    assert main(["train", str(config)]) == 0
    return tmp / "run"


def test_evaluate_and_md_reject_species_absent_from_training(trained_run, tmp_path, capsys):
    gold = _write(tmp_path / "gold.xyz", _frames(n=1, symbol="Au"))
    out = tmp_path / "out"
    assert main(["evaluate", str(trained_run), str(gold), "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert "gold.xyz" in err and "Au" in err and "Traceback" not in err, err
    assert not out.exists()
    assert main(["md", str(trained_run), str(gold), "--steps", "2", "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert "gold.xyz" in err and "Au" in err and "Traceback" not in err, err
    assert not out.exists()


@pytest.mark.parametrize("command", ["evaluate", "md"])
def test_a_text_file_as_model_is_named_without_torch_advice(cu_xyz, tmp_path, capsys, command):
    notes = tmp_path / "notes.txt"
    notes.write_text("energy forces stress\n")
    out = tmp_path / "out"
    extra = ["--steps", "2"] if command == "md" else []
    assert main([command, str(notes), str(cu_xyz), "-o", str(out), *extra]) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert "notes.txt is not a model" in err and "Traceback" not in err, err
    assert "weights_only" not in err and "weights only" not in err.lower()
    assert not out.exists()
