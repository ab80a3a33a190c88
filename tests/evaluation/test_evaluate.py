"""``evaluate``: figures equal a hand computation; outputs; bad input fails cleanly."""

import json
import re

import numpy as np
import pytest
from ase.calculators.singlepoint import SinglePointCalculator
from ase.io import read, write
from model_support import graph_of, make_model, random_crystal

from mlip_gnn.cli.main import main
from mlip_gnn.data import KeyMap
from mlip_gnn.evaluation import error_report, evaluate, format_report
from mlip_gnn.export import export_potential


def labelled_frames(seed=0):
    """Three frames with made-up labels; frame 2 has no stress; two config types."""
    rng = np.random.default_rng(seed)
    frames = []
    for i, config_type in enumerate(["bulk", "bulk", "hot"]):
        atoms = random_crystal(seed=30 + i, repeat=(1, 1, 1 + i % 2))
        atoms.info["config_type"] = config_type
        atoms.info["REF_energy"] = float(rng.normal(-10.0, 1.0))
        atoms.arrays["REF_forces"] = rng.normal(0.0, 1.0, (len(atoms), 3))
        if i < 2:
            atoms.info["REF_stress"] = rng.normal(0.0, 0.01, 6)
        frames.append(atoms)
    return frames


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    model = make_model(seed=2)
    return model, export_potential(model, tmp_path_factory.mktemp("m") / "model.pt")


def _voigt_to_3x3(v):
    xx, yy, zz, yz, xz, xy = v
    return np.array([[xx, xy, xz], [xy, yy, yz], [xz, yz, zz]])


def test_figures_equal_hand_computation(exported, tmp_path):
    model, path = exported
    write(tmp_path / "data.xyz", labelled_frames(), format="extxyz")
    frames = read(tmp_path / "data.xyz", ":")  # positions as rounded in the file
    key_map = KeyMap(energy="REF_energy", forces="REF_forces", stress="REF_stress")
    report, _ = evaluate(path, [tmp_path / "data.xyz"], key_map=key_map)
    e_err, f_err, s_err, cu_err = [], [], [], []
    for atoms in frames:
        out = model(graph_of(atoms), compute_forces=True, compute_stress=True)
        e_err.append((out["energy"].item() - atoms.info["REF_energy"]) / len(atoms))
        diff = out["forces"].detach().numpy() - atoms.arrays["REF_forces"]
        f_err.append(diff.ravel())
        cu_err.append(diff[atoms.numbers == 29].ravel())
        if "REF_stress" in atoms.info:
            ref = _voigt_to_3x3(atoms.info["REF_stress"])
            s_err.append((out["stress"][0].detach().numpy() - ref).ravel())
    e_err, f_err = np.array(e_err), np.concatenate(f_err)
    s_err, cu_err = np.concatenate(s_err), np.concatenate(cu_err)
    overall = report["overall"]
    np.testing.assert_allclose(overall["energy_mae"], 1000 * np.abs(e_err).mean(), rtol=1e-10)
    np.testing.assert_allclose(overall["energy_rmse"], 1000 * np.sqrt((e_err ** 2).mean()),
                               rtol=1e-10)
    np.testing.assert_allclose(overall["forces_mae"], 1000 * np.abs(f_err).mean(), rtol=1e-10)
    np.testing.assert_allclose(overall["stress_rmse"], 1000 * np.sqrt((s_err ** 2).mean()),
                               rtol=1e-10)
    assert overall["stress_count"] == 18 and overall["energy_count"] == 3
    np.testing.assert_allclose(report["per_element"]["Cu"]["forces_rmse"],
                               1000 * np.sqrt((cu_err ** 2).mean()), rtol=1e-10)
    hot = report["per_config_type"]["hot"]
    np.testing.assert_allclose(hot["energy_mae"], 1000 * abs(e_err[2]), rtol=1e-10)
    assert "stress_mae" not in hot
    assert "Cu" in format_report(report)


def test_cli_writes_table_json_and_plots(exported, tmp_path, capsys):
    _, path = exported
    write(tmp_path / "data.xyz", labelled_frames(), format="extxyz")
    out = tmp_path / "eval"
    assert main(["evaluate", str(path), str(tmp_path / "data.xyz"), "-o", str(out),
                 "--key-map", "energy=REF_energy", "forces=REF_forces",
                 "stress=REF_stress"]) == 0
    printed = capsys.readouterr().out
    assert "meV/atom" in printed and "hot" in printed
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["units"]["forces"] == "meV/Å" and metrics["num_frames"] == 3
    for name in ("energy", "forces", "stress"):
        assert (out / f"parity_{name}.png").read_bytes()[:4] == b"\x89PNG"


def test_unlabelled_frames_are_predicted_but_left_out_of_the_errors(exported, tmp_path):
    model, path = exported
    key_map = KeyMap(energy="REF_energy", forces="REF_forces", stress="REF_stress")
    labelled = labelled_frames()
    unlabelled = [random_crystal(seed=50 + i, repeat=(1, 1, 1 + i)) for i in range(2)]
    for atoms in unlabelled:
        atoms.info["config_type"] = "bulk"
    write(tmp_path / "labelled.xyz", labelled, format="extxyz")
    write(tmp_path / "mixed.xyz", unlabelled[:1] + labelled + unlabelled[1:],
          format="extxyz")
    alone, _ = evaluate(path, [tmp_path / "labelled.xyz"], key_map=key_map)
    mixed, frames = evaluate(path, [tmp_path / "mixed.xyz"], key_map=key_map)
    assert mixed["num_frames"] == 5 and len(frames) == 5
    assert mixed["num_atoms"] == alone["num_atoms"] + sum(len(a) for a in unlabelled)
    # the same figures (to round-off: the file stores the labels of either with its own
    # rounding) from the same entries
    for name, stats in [("all", alone["overall"]), *alone["per_config_type"].items(),
                        *alone["per_element"].items()]:
        got = (mixed["overall"] if name == "all" else
               {**mixed["per_config_type"], **mixed["per_element"]}[name])
        assert got == pytest.approx(stats, rel=1e-9), name
    for frame, atoms in ((frames[0], unlabelled[0]), (frames[-1], unlabelled[1])):
        assert frame.energy_ref is None and frame.forces_ref is None
        ref = model(graph_of(read_back(atoms, tmp_path)), compute_forces=True)
        np.testing.assert_allclose(frame.forces, ref["forces"].detach().numpy(), atol=1e-12)
    assert error_report(frames[:1])["overall"] == {}


def read_back(atoms, tmp_path):
    """``atoms`` as the extxyz file stores it (positions rounded)."""
    write(tmp_path / "one.xyz", atoms, format="extxyz")
    return read(tmp_path / "one.xyz")


def _bad_files(tmp_path):
    good = random_crystal(seed=40)
    good.calc = SinglePointCalculator(good, energy=-1.0, forces=np.zeros((len(good), 3)))
    cases = {}
    cases["missing"] = (tmp_path / "missing.xyz", "file not found")
    (tmp_path / "garbage.xyz").write_text("this is not\nan xyz file\n")
    cases["unreadable"] = (tmp_path / "garbage.xyz", "cannot read structures")
    fe = good.copy()
    fe.numbers[0] = 26
    fe.calc = SinglePointCalculator(fe, energy=-1.0, forces=np.zeros((len(fe), 3)))
    nan = good.copy()
    nan.positions[2, 1] = np.nan
    overlap = good.copy()
    overlap.positions[1] = overlap.positions[0] + 0.01
    flat = good.copy()
    flat.cell[2] = 0.0
    for name, atoms, match in (("unknown", fe, r"frame 1: element\(s\) \['Fe'\]"),
                               ("nan", nan, "frame 1: field 'positions' contains NaN"),
                               ("overlap", overlap, "frame 1: atoms 0 and 1"),
                               ("flat", flat, "frame 1: periodic cell has zero volume")):
        file = tmp_path / f"{name}.xyz"
        write(file, [good, atoms], format="extxyz")
        cases[name] = (file, match)
    return cases


@pytest.mark.parametrize("case", ["missing", "unreadable", "unknown", "nan", "overlap", "flat"])
def test_bad_input_exit_2_names_file_and_frame(exported, tmp_path, capsys, case):
    file, match = _bad_files(tmp_path)[case]
    out = tmp_path / "eval"
    assert main(["evaluate", str(exported[1]), str(file), "-o", str(out)]) == 2
    err = capsys.readouterr().err
    flat_err = " ".join(err.split())
    assert str(file) in flat_err and re.search(match, flat_err), err
    assert "Traceback" not in err and not out.exists()


def test_bad_model_and_key_map(tmp_path, capsys):
    write(tmp_path / "d.xyz", labelled_frames(), format="extxyz")
    assert main(["evaluate", str(tmp_path / "nope.pt"), str(tmp_path / "d.xyz"),
                 "-o", str(tmp_path / "e")]) == 2
    assert "model file not found" in " ".join(capsys.readouterr().err.split())
    with pytest.raises(SystemExit) as exc:
        main(["evaluate", "m.pt", str(tmp_path / "d.xyz"), "--key-map", "energi=E"])
    assert exc.value.code == 2 and "expected LABEL=NAME" in capsys.readouterr().err
    assert not (tmp_path / "e").exists()
