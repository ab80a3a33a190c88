"""Bad input to every command, as one table: each case exits with status 2 (or the
documented code), names the culprit, prints no traceback, and leaves nothing behind.

A case is ``(id, argv, expected)``: ``argv`` is a list of words in which ``{NAME}`` is
replaced by the path of a fixture file (see :func:`_paths`) or of the case's own folder
(``{tmp}``); ``expected`` are texts the message must hold (compared with runs of white
space folded, since messages are wrapped). Before a case runs, its folder and the shared
fixture folder are listed; after it, both must be unchanged.
"""

import os

import numpy as np
import pytest
import torch
import yaml

from mlip_gnn.cli.main import main

from cli_support import config_writer, write_frames

# ---------------------------------------------------------------- fixture files


def _write_bad_frames(path, kind):
    """``path`` written as extended XYZ whose frame 1 is bad as ``kind`` says."""
    from ase.io import read, write

    frames = read(write_frames(path, n_frames=3, seed=4), index=":")
    if kind == "close atoms":
        frames[1].positions[1] = frames[1].positions[0] + [0.05, 0.0, 0.0]
    elif kind == "zero volume":
        frames[1].set_cell([[3.6, 0, 0], [0, 3.6, 0], [3.6, 3.6, 0]])
    elif kind == "unknown element":
        frames[1].numbers[:] = 79
    elif kind == "inf energy":
        frames[1].calc.results["energy"] = np.inf
    write(path, frames, format="extxyz")
    if kind == "nan position":
        lines = path.read_text().splitlines()
        fields = lines[6 + 2].split()  # frame 1's first atom: after frame 0's 2 + 4 lines
        fields[1] = "nan"
        lines[6 + 2] = " ".join(fields)
        path.write_text("\n".join(lines) + "\n")
    elif kind == "truncated":
        text = path.read_text()
        path.write_text(text[: int(len(text) * 0.6)])
    return path


@pytest.fixture(scope="module")
def shared(tmp_path_factory):
    """Good and bad inputs every case may use, in one folder (not to be written to)."""
    root = tmp_path_factory.mktemp("bad-input-table")
    data = write_frames(root / "cu.xyz")
    paths = {"data": data, "root": root}
    for kind in ("close atoms", "zero volume", "unknown element", "inf energy",
                 "nan position", "truncated"):
        paths[kind.replace(" ", "_")] = _write_bad_frames(root / f"{kind.replace(' ', '_')}"
                                                          ".xyz", kind)
    (root / "empty.xyz").write_text("")
    paths["empty"] = root / "empty.xyz"
    (root / "garbage.xyz").write_text("this is not\nan xyz file\n")
    paths["garbage"] = root / "garbage.xyz"
    (root / "binary.bin").write_bytes(bytes(range(256)) * 8)
    paths["binary"] = root / "binary.bin"
    (root / "notes.txt").write_text("energy forces stress\n")
    paths["text"] = root / "notes.txt"
    (root / "list.yaml").write_text("- a\n- b\n")
    paths["list_yaml"] = root / "list.yaml"
    (root / "broken.yaml").write_text("data: {train: [1, 2\n")
    paths["broken_yaml"] = root / "broken.yaml"
    (root / "a_file").write_text("not a folder\n")
    paths["a_file"] = root / "a_file"
    (root / "empty_dir").mkdir()
    paths["empty_dir"] = root / "empty_dir"
    paths["gold"] = _write_bad_frames(root / "gold.xyz", "none")
    from ase.io import read, write

    gold = read(paths["gold"], index=":")
    for atoms in gold:
        atoms.numbers[:] = 79
    write(paths["gold"], gold, format="extxyz")
    cluster = read(data)
    cluster.pbc = False
    write(root / "cluster.xyz", cluster, format="extxyz")
    paths["cluster"] = root / "cluster.xyz"

    config = config_writer(data, root)(train={"max_epochs": 1})
    paths["config"] = config
    assert main(["train", str(config)]) == 0
    paths["run"] = root / "run"
    paths["checkpoint"] = root / "run" / "last.pt"
    export = root / "model.pt"
    assert main(["export", str(paths["run"]), "-o", str(export)]) == 0
    paths["export"] = export
    raw = paths["checkpoint"].read_bytes()
    (root / "truncated.pt").write_bytes(raw[: len(raw) // 2])
    paths["truncated_model"] = root / "truncated.pt"
    raw = export.read_bytes()
    (root / "truncated_export.pt").write_bytes(raw[: len(raw) // 2])
    paths["truncated_export"] = root / "truncated_export.pt"
    (root / "data_dir").mkdir()
    (root / "data_dir" / "cu.xyz").write_text(data.read_text())
    paths["data_dir"] = root / "data_dir"
    foreign = torch.jit.script(torch.nn.Linear(3, 1))
    foreign.save(str(root / "foreign.pt"))
    paths["foreign"] = root / "foreign.pt"

    system = yaml.safe_load((_configs() / "validate" / "cu_emt.yaml").read_text())
    system["properties"] = ["lattice"]
    _yaml(root / "system.yaml", system)
    paths["system"] = root / "system.yaml"
    _yaml(root / "system_typo.yaml", {**system, "lattice_constnat": 3.6})
    paths["system_typo"] = root / "system_typo.yaml"
    _yaml(root / "system_type.yaml", {**system, "lattice_constant": "big"})
    paths["system_type"] = root / "system_type.yaml"
    _yaml(root / "system_gold.yaml", {**system, "elements": ["Au"]})
    _yaml(root / "system_range.yaml", {**system, "lattice_constant": -3.6})
    paths["system_range"] = root / "system_range.yaml"
    paths["system_gold"] = root / "system_gold.yaml"

    al = yaml.safe_load((_configs() / "active_learning" / "cu_emt.yaml").read_text())
    al["training"]["config"] = str(_configs() / "quickstart.yaml")
    for name, change in {"al": {}, "al_typo": {"seeed": 1},
                         "al_type": {"seed": "one"},
                         "al_range": {"select": {**al["select"], "lower": -1.0}},
                         "al_workdir": {"work_dir": str(root / "a_file")}}.items():
        _yaml(root / f"{name}.yaml", {**al, "work_dir": str(root / "al_work"), **change})
        paths[name] = root / f"{name}.yaml"
    search = yaml.safe_load((_configs() / "search" / "cu13.yaml").read_text())
    search["models"] = str(export)
    for name, change in {"search": {}, "search_typo": {"trails": 3},
                         "search_element": {"composition": {"Cuu": 13}},
                         "search_model_element": {"composition": {"Au": 13}},
                         "search_packing": {"constraints": {"min_distance": 4.0,
                                                            "radius": 3.0}},
                         "search_no_model": {"models": str(root / "gone.pt")}}.items():
        _yaml(root / f"{name}.yaml", {**search, **change})
        paths[name] = root / f"{name}.yaml"
    for name, change in {"typo": {"model": {"num_channel": 4}},
                         "type": {"train": {"max_epochs": "ten"}},
                         "range": {"data": {"r_max": -1.0}},
                         "element": {"data": {"e0s": {"Xx": 1.0}}},
                         "run_file": {"output": {"run_dir": str(root / "a_file")}},
                         "run_under_file": {"output": {"run_dir": str(root / "a_file" / "r")}},
                         "run_readonly": {"output": {"run_dir": "/proc/mlip_gnn_run"}}
                         }.items():
        raw = yaml.safe_load(config.read_text())
        for section, values in change.items():
            raw[section].update(values)
        _yaml(root / f"config_{name}.yaml", raw)
        paths[f"config_{name}"] = root / f"config_{name}.yaml"
    return paths


def _configs():
    from pathlib import Path

    return Path(__file__).resolve().parents[2] / "configs"


def _yaml(path, raw):
    path.write_text(yaml.safe_dump(raw))


def _train_config_with_data(shared, tmp_path, name):
    """A copy of the small config whose training data is the fixture file ``name``."""
    raw = yaml.safe_load(shared["config"].read_text())
    raw["data"]["train"] = str(shared[name])
    raw["output"]["run_dir"] = str(tmp_path / "run")
    path = tmp_path / f"train_{name}.yaml"
    _yaml(path, raw)
    return path


# ---------------------------------------------------------------- the table

DATA_KINDS = {  # fixture → texts the message must hold
    "empty": ["empty.xyz", "empty"],
    "garbage": ["garbage.xyz", "cannot read structures", "extended XYZ"],
    "binary": ["binary.bin", "cannot read structures"],
    "truncated": ["truncated.xyz", "cannot read structures", "frame 1"],
    "nan_position": ["nan_position.xyz", "frame 1", "positions", "NaN"],
    "inf_energy": ["inf_energy.xyz", "frame 1", "energy", "NaN or Inf"],
    "close_atoms": ["close_atoms.xyz", "frame 1", "overlapping"],
    "zero_volume": ["zero_volume.xyz", "frame 1", "zero volume"],
}

MODEL_KINDS = {  # a model argument that is no model
    "text": ["notes.txt", "is not a model"],
    "binary": ["binary.bin", "is not a model"],
    "truncated_model": ["truncated.pt", "truncated or corrupted"],
    "truncated_export": ["truncated_export.pt", "truncated or corrupted"],
    "foreign": ["foreign.pt", "not an mlip_gnn"],
    "missing": ["nowhere.pt", "not found"],
}

CASES = [
    # ---- train: the config file
    ("train-config-missing", ["train", "{tmp}/nope.yaml"], ["nope.yaml", "not found"]),
    ("train-config-empty", ["train", "{empty}"], ["empty.xyz", "empty"]),
    ("train-config-binary", ["train", "{binary}"], ["binary.bin"]),
    ("train-config-broken-yaml", ["train", "{broken_yaml}"], ["broken.yaml", "line"]),
    ("train-config-a-list", ["train", "{list_yaml}"], ["list.yaml", "mapping"]),
    ("train-config-typo", ["train", "{config_typo}"], ["model.num_channel", "num_channels"]),
    ("train-config-type", ["train", "{config_type}"], ["train.max_epochs", "ten"]),
    ("train-config-range", ["train", "{config_range}"], ["data.r_max", "-1"]),
    ("train-config-element", ["train", "{config_element}"], ["data.e0s", "Xx"]),
    ("train-set-no-equals", ["train", "{config}", "--set", "train.max_epochs"],
     ["--set", "KEY=VALUE"]),
    ("train-set-unknown-key", ["train", "{config}", "--set", "trian.max_epochs=3"],
     ["trian", "train"]),
    ("train-data-missing", ["train", "{config}", "--set", "data.train={tmp}/gone.xyz",
                            "--set", "output.run_dir={tmp}/run"], ["gone.xyz", "not found"]),
    ("train-test-data-missing", ["train", "{config}", "--set", "data.test={tmp}/gone.xyz",
                                 "--set", "output.run_dir={tmp}/run"], ["gone.xyz", "not found"]),
    ("train-resume-empty", ["train", "{config}", "--resume", "{empty_dir}"],
     ["empty_dir", "no checkpoint"]),
    ("train-device-bogus", ["train", "{config}", "--device", "tpu"], ["device", "tpu"]),
    ("train-run-dir-is-a-file", ["train", "{config_run_file}"], ["a_file", "not a directory"]),
    ("train-run-dir-under-a-file", ["train", "{config_run_under_file}"],
     ["a_file", "not a directory"]),
    ("train-run-dir-not-writable", ["train", "{config_run_readonly}"],
     ["/proc/mlip_gnn_run", "not writable"]),
    *[(f"train-data-{kind}", ["train", "{train_" + kind + "}"], texts)
      for kind, texts in DATA_KINDS.items()],
    # ---- evaluate
    *[(f"evaluate-model-{kind}", ["evaluate", "{" + kind + "}", "{data}", "-o", "{tmp}/out"],
       texts) for kind, texts in MODEL_KINDS.items()],
    *[(f"evaluate-data-{kind}", ["evaluate", "{export}", "{" + kind + "}", "-o", "{tmp}/out"],
       texts) for kind, texts in DATA_KINDS.items()],
    ("evaluate-unknown-element", ["evaluate", "{run}", "{gold}", "-o", "{tmp}/out"],
     ["gold.xyz", "Au"]),
    ("evaluate-output-is-a-file", ["evaluate", "{export}", "{data}", "-o", "{a_file}"],
     ["a_file", "not a directory"]),
    ("evaluate-output-not-writable", ["evaluate", "{export}", "{data}", "-o", "/proc/out"],
     ["/proc/out", "not writable"]),
    ("evaluate-key-map", ["evaluate", "{export}", "{data}", "--key-map", "dipole=q"],
     ["--key-map", "dipole=q"]),
    ("evaluate-llpr-unfitted", ["evaluate", "{run}", "{data}", "--uncertainty", "llpr",
                                "-o", "{tmp}/out"], ["llpr", "uncertainty fit"]),
    # ---- export
    ("export-source-text", ["export", "{text}", "-o", "{tmp}/m.pt"], ["notes.txt"]),
    ("export-source-truncated", ["export", "{truncated_model}", "-o", "{tmp}/m.pt"],
     ["truncated.pt", "truncated or corrupted"]),
    ("export-source-is-an-export", ["export", "{export}", "-o", "{tmp}/m.pt"],
     ["model.pt", "checkpoint"]),
    ("export-source-foreign", ["export", "{foreign}", "-o", "{tmp}/m.pt"], ["foreign.pt"]),
    ("export-source-missing", ["export", "{tmp}/nowhere", "-o", "{tmp}/m.pt"],
     ["nowhere", "not found"]),
    ("export-source-empty-dir", ["export", "{empty_dir}", "-o", "{tmp}/m.pt"],
     ["empty_dir", "no best.pt or last.pt"]),
    ("export-output-is-a-dir", ["export", "{run}", "-o", "{empty_dir}"],
     ["empty_dir", "is a directory"]),
    ("export-output-under-a-file", ["export", "{run}", "-o", "{a_file}/m.pt"],
     ["a_file", "not a directory"]),
    ("export-output-is-the-source", ["export", "{checkpoint}", "-o", "{checkpoint}"],
     ["last.pt", "input"]),
    ("export-dtype", ["export", "{run}", "-o", "{tmp}/m.pt", "--dtype", "float16"],
     ["--dtype", "float16"]),
    # ---- md
    *[(f"md-model-{kind}", ["md", "{" + kind + "}", "{data}", "--steps", "2",
                            "-o", "{tmp}/out"], texts)
      for kind, texts in MODEL_KINDS.items()],
    ("md-structure-empty", ["md", "{export}", "{empty}", "--steps", "2", "-o", "{tmp}/out"],
     ["empty.xyz", "empty"]),
    ("md-structure-binary", ["md", "{export}", "{binary}", "--steps", "2", "-o", "{tmp}/o"],
     ["binary.bin", "cannot read structures"]),
    ("md-structure-unknown-element", ["md", "{export}", "{gold}", "--steps", "2",
                                      "-o", "{tmp}/out"], ["gold.xyz", "Au"]),
    ("md-structure-overlap", ["md", "{export}", "{close_atoms}", "--index", "1", "--steps",
                              "2", "-o", "{tmp}/out"], ["close_atoms.xyz", "overlapping"]),
    ("md-index-out-of-range", ["md", "{export}", "{data}", "--index", "99", "--steps", "2",
                               "-o", "{tmp}/out"], ["cu.xyz", "99"]),
    ("md-negative-steps", ["md", "{export}", "{data}", "--steps", "-1", "-o", "{tmp}/out"],
     ["steps", "-1"]),
    ("md-zero-timestep", ["md", "{export}", "{data}", "--timestep", "0", "--steps", "2",
                          "-o", "{tmp}/out"], ["timestep", "0"]),
    ("md-npt-without-cell", ["md", "{export}", "{cluster}", "--ensemble", "npt", "--steps",
                             "2", "-o", "{tmp}/out"], ["npt", "periodic"]),
    ("md-output-is-a-file", ["md", "{export}", "{data}", "--steps", "2", "-o", "{a_file}"],
     ["a_file", "not a directory"]),
    ("md-llpr-unfitted", ["md", "{run}", "{data}", "--steps", "2", "--uncertainty", "llpr",
                          "-o", "{tmp}/out"], ["llpr", "uncertainty fit"]),
    # ---- predict
    *[(f"predict-model-{kind}", ["predict", "{" + kind + "}", "{data}", "-o", "{tmp}/p.xyz"],
       texts) for kind, texts in MODEL_KINDS.items()],
    ("predict-data-binary", ["predict", "{export}", "{binary}", "-o", "{tmp}/p.xyz"],
     ["binary.bin", "cannot read structures"]),
    ("predict-data-garbage", ["predict", "{export}", "{garbage}", "-o", "{tmp}/p.xyz"],
     ["garbage.xyz", "cannot read structures", "extended XYZ"]),
    ("predict-data-empty", ["predict", "{export}", "{empty}", "-o", "{tmp}/p.xyz"],
     ["empty.xyz", "empty"]),
    ("predict-unknown-element", ["predict", "{export}", "{gold}", "-o", "{tmp}/p.xyz"],
     ["gold.xyz", "Au"]),
    ("predict-output-is-a-dir", ["predict", "{export}", "{data}", "-o", "{empty_dir}"],
     ["empty_dir", "is a directory"]),
    ("predict-output-is-the-input", ["predict", "{export}", "{data}", "-o", "{data}"],
     ["cu.xyz", "input"]),
    ("predict-output-under-a-file", ["predict", "{export}", "{data}", "-o", "{a_file}/p.xyz"],
     ["a_file", "not a directory"]),
    # a new folder for the output is made, and taken away again when the input is bad
    ("predict-new-folder-bad-data", ["predict", "{export}", "{nan_position}",
                                     "-o", "{tmp}/new/p.xyz"], ["nan_position.xyz", "NaN"]),
    # ---- validate
    ("validate-system-missing", ["validate", "{export}", "--system", "{tmp}/s.yaml",
                                 "-o", "{tmp}/out"], ["s.yaml", "not found"]),
    ("validate-system-broken", ["validate", "{export}", "--system", "{broken_yaml}",
                                "-o", "{tmp}/out"], ["broken.yaml"]),
    ("validate-system-a-list", ["validate", "{export}", "--system", "{list_yaml}",
                                "-o", "{tmp}/out"], ["list.yaml", "mapping"]),
    ("validate-system-typo", ["validate", "{export}", "--system", "{system_typo}",
                              "-o", "{tmp}/out"], ["lattice_constnat", "lattice_constant"]),
    ("validate-system-type", ["validate", "{export}", "--system", "{system_type}",
                              "-o", "{tmp}/out"], ["lattice_constant", "big"]),
    ("validate-system-range", ["validate", "{export}", "--system", "{system_range}",
                               "-o", "{tmp}/out"], ["lattice_constant", "-3.6"]),
    ("validate-system-element", ["validate", "{export}", "--system", "{system_gold}",
                                 "-o", "{tmp}/out"], ["Au"]),
    ("validate-model-text", ["validate", "{text}", "--system", "{system}", "-o", "{tmp}/out"],
     ["notes.txt", "is not a model"]),
    ("validate-output-is-a-file", ["validate", "{export}", "--system", "{system}",
                                   "-o", "{a_file}"], ["a_file", "not a directory"]),
    # ---- uncertainty fit
    ("uncertainty-run-missing", ["uncertainty", "fit", "{tmp}/nowhere"], ["nowhere"]),
    ("uncertainty-run-is-a-file", ["uncertainty", "fit", "{a_file}"], ["a_file"]),
    ("uncertainty-run-without-config", ["uncertainty", "fit", "{empty_dir}"],
     ["empty_dir", "config.yaml"]),
    ("uncertainty-neighbours-zero", ["uncertainty", "fit", "{run}", "--neighbours", "0"],
     ["--neighbours", "0"]),
    ("uncertainty-max-reference-zero", ["uncertainty", "fit", "{run}", "--max-reference",
                                        "0"], ["--max-reference", "0"]),
    # ---- preprocess
    ("preprocess-output-is-a-file", ["preprocess", "{data}", "-o", "{a_file}"],
     ["a_file", "not a directory"]),
    ("preprocess-output-inside-input", ["preprocess", "{data_dir}", "-o", "{data_dir}/ds"],
     ["data_dir/ds", "inside the input directory"]),
    ("preprocess-data-missing", ["preprocess", "{tmp}/gone.xyz", "-o", "{tmp}/ds"],
     ["gone.xyz", "no such file"]),
    ("preprocess-data-binary", ["preprocess", "{binary}", "-o", "{tmp}/ds"],
     ["binary.bin", "cannot read structures"]),
    ("preprocess-data-nan", ["preprocess", "{nan_position}", "-o", "{tmp}/ds", "--workers",
                             "1"], ["nan_position.xyz", "frame 1", "NaN"]),
    ("preprocess-shard-size", ["preprocess", "{data}", "-o", "{tmp}/ds", "--shard-size", "0"],
     ["--shard-size", "0"]),
    # ---- active-learn
    ("al-config-missing", ["active-learn", "{tmp}/al.yaml"], ["al.yaml", "not found"]),
    ("al-config-broken", ["active-learn", "{broken_yaml}"], ["broken.yaml"]),
    ("al-config-a-list", ["active-learn", "{list_yaml}"], ["list.yaml", "mapping"]),
    ("al-config-typo", ["active-learn", "{al_typo}"], ["seeed", "seed"]),
    ("al-config-type", ["active-learn", "{al_type}"], ["seed", "one"]),
    ("al-config-range", ["active-learn", "{al_range}"], ["select.lower", "-1"]),
    ("al-work-dir-is-a-file", ["active-learn", "{al_workdir}"], ["a_file", "not a directory"]),
    ("al-work-dir-option-under-a-file", ["active-learn", "{al}", "--work-dir",
                                         "{a_file}/w"], ["a_file", "not a directory"]),
    # ---- search
    ("search-config-missing", ["search", "{tmp}/s.yaml", "-o", "{tmp}/out"],
     ["s.yaml", "does not exist"]),
    ("search-config-broken", ["search", "{broken_yaml}", "-o", "{tmp}/out"], ["broken.yaml"]),
    ("search-config-a-list", ["search", "{list_yaml}", "-o", "{tmp}/out"],
     ["list.yaml", "mapping"]),
    ("search-config-typo", ["search", "{search_typo}", "-o", "{tmp}/out"],
     ["trails", "trials"]),
    ("search-unknown-element", ["search", "{search_element}", "-o", "{tmp}/out"],
     ["composition.Cuu", "unknown element", "'Cu'"]),
    ("search-element-not-in-model", ["search", "{search_model_element}", "-o", "{tmp}/out"],
     ["composition.Au", "does not know Au"]),
    ("search-impossible-min-distance", ["search", "{search_packing}", "-o", "{tmp}/out"],
     ["constraints.min_distance", "do not fit"]),
    ("search-model-missing", ["search", "{search_no_model}", "-o", "{tmp}/out"], ["gone.pt"]),
    ("search-model-text", ["search", "{search}", "--model", "{text}", "-o", "{tmp}/out"],
     ["notes.txt", "is not a model"]),
    ("search-output-is-a-file", ["search", "{search}", "-o", "{a_file}"],
     ["a_file", "not a directory"]),
    ("search-trials-zero", ["search", "{search}", "--trials", "0", "-o", "{tmp}/out"],
     ["trials", "0"]),
]

# documented exit codes other than 2: none of the cases above is an extrapolation (md: 3)
EXIT = {}


def _snapshot(*folders):
    """Every file under ``folders`` with its size and modification time, and every folder
    (whose own time changes when a temporary file comes and goes)."""
    seen = {}
    for folder in folders:
        for dirpath, dirnames, filenames in os.walk(folder):
            seen.update({os.path.join(dirpath, name): "folder" for name in dirnames})
            for name in filenames:
                stat = os.stat(os.path.join(dirpath, name))
                seen[os.path.join(dirpath, name)] = (stat.st_size, stat.st_mtime_ns)
    return seen


def _argv(words, shared, tmp_path):
    names = {**{k: str(v) for k, v in shared.items()}, "tmp": str(tmp_path)}
    for kind in DATA_KINDS:
        if any("{train_" + kind + "}" in w for w in words):
            names[f"train_{kind}"] = str(_train_config_with_data(shared, tmp_path, kind))
    names["missing"] = str(tmp_path / "nowhere.pt")
    return [w.format(**names) for w in words]


def test_the_table_has_at_least_60_cases_over_every_command():
    from mlip_gnn.cli.main import SUBCOMMANDS

    assert len(CASES) >= 60
    assert len({case[0] for case in CASES}) == len(CASES)
    commands = {case[1][0] for case in CASES}
    assert commands == set(SUBCOMMANDS), set(SUBCOMMANDS) - commands


@pytest.mark.parametrize("name, words, expected", CASES, ids=[case[0] for case in CASES])
def test_bad_input(shared, tmp_path, capsys, name, words, expected):
    argv = _argv(words, shared, tmp_path)
    before = _snapshot(tmp_path, shared["root"])
    try:
        status = main(argv)
    except SystemExit as exc:  # argparse's own checks exit 2 after printing the usage
        status = exc.code
    captured = capsys.readouterr()
    err = " ".join(captured.err.split())
    assert status == EXIT.get(name, 2), (status, err)
    assert "Traceback" not in err + captured.out, err
    # advice written for torch's developers, or to unpickle untrusted files, is not ours
    assert "miniz" not in err and "weights_only" not in err, err
    for text in expected:
        assert text in err, (text, err)
    assert _snapshot(tmp_path, shared["root"]) == before, "something was left behind"


# ---------------------------------------------------------------- the calculator

def _atoms(kind):
    from ase.build import bulk

    atoms = bulk("Cu", "fcc", a=3.6, cubic=True)
    if kind == "unknown element":
        atoms.numbers[0] = 79
    elif kind == "overlapping atoms":
        atoms.positions[1] = atoms.positions[0] + [0.05, 0.0, 0.0]
    elif kind == "nan position":
        atoms.positions[2, 1] = np.nan
    elif kind == "zero volume":
        atoms.set_cell([[3.6, 0, 0], [0, 3.6, 0], [3.6, 3.6, 0]])
    return atoms


CALCULATOR_CASES = [
    *[(f"model-{kind}", kind, None, texts) for kind, texts in MODEL_KINDS.items()],
    ("atoms-unknown-element", "export", "unknown element", ["Au"]),
    ("atoms-overlapping", "export", "overlapping atoms", ["overlapping"]),
    ("atoms-nan-position", "export", "nan position", ["positions", "NaN"]),
    ("atoms-zero-volume", "export", "zero volume", ["zero volume"]),
]


@pytest.mark.parametrize("name, model, atoms_kind, expected", CALCULATOR_CASES,
                         ids=[case[0] for case in CALCULATOR_CASES])
def test_bad_input_to_the_calculator(shared, tmp_path, name, model, atoms_kind, expected):
    from mlip_gnn.calculators import MLIPCalculator
    from mlip_gnn.errors import MlipGnnError

    path = tmp_path / "nowhere.pt" if model == "missing" else shared[model]
    with pytest.raises(MlipGnnError) as info:
        atoms = _atoms(atoms_kind)
        atoms.calc = MLIPCalculator(str(path))
        atoms.get_forces()
    message = " ".join(str(info.value).split())
    assert "miniz" not in message and "weights_only" not in message, message
    for text in expected:
        assert text in message, (text, message)


def test_outputs_in_new_folders_are_still_made(shared, tmp_path):
    """The checks refuse unusable paths only: a folder that does not exist yet is made."""
    model = tmp_path / "new" / "deeper" / "m.pt"
    assert main(["export", str(shared["run"]), "-o", str(model)]) == 0
    predictions = tmp_path / "other" / "p.xyz"
    assert main(["predict", str(model), str(shared["data"]), "-o", str(predictions)]) == 0
    assert model.is_file() and predictions.is_file()
