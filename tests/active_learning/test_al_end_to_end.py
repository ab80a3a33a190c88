"""``mlip-gnn active-learn`` with real training: two iterations of a tiny model, warm
started; and the command's handling of bad input."""

import json

import pytest
import yaml

from mlip_gnn.cli.main import SUBCOMMANDS, main
from al_support import tiny_al_dict


def test_active_learn_is_a_subcommand_and_bad_yaml_exits_2_naming_the_key(tmp_path, capsys):
    assert "active-learn" in SUBCOMMANDS
    raw = tiny_al_dict(tmp_path / "work", stop={"max_iteration": 2})
    path = tmp_path / "al.yaml"
    path.write_text(yaml.safe_dump(raw))
    assert main(["active-learn", str(path)]) == 2
    err = capsys.readouterr().err
    assert "stop.max_iteration" in err and "max_iterations" in err
    assert not (tmp_path / "work").exists()


@pytest.mark.slow
def test_two_warm_started_iterations_with_real_training(tmp_path, capsys):
    raw = tiny_al_dict(tmp_path / "work", heldout={"generate": {
        "structure": "cu", "temperature": 1200, "frames": 3, "equilibration_steps": 20,
        "interval": 5}})
    raw["training"].update(warm_start=True, warm_start_overrides=["train.max_epochs=1"])
    path = tmp_path / "al.yaml"
    path.write_text(yaml.safe_dump(raw))
    assert main(["active-learn", str(path)]) == 0
    work = tmp_path / "work"
    lines = [json.loads(line) for line in (work / "al_log.jsonl").read_text().splitlines()]
    assert [line["iteration"] for line in lines] == [0, 1]
    for line in lines:
        assert line["heldout_forces_rmse"] > 0 and line["heldout_energy_rmse"] > 0
    assert lines[1]["labels"] == lines[0]["labels"] + lines[0]["labelled"]
    member = work / "iter_001" / "models" / "member_1"
    config = yaml.safe_load((member / "config.yaml").read_text())
    assert config["model"]["init_from"] == str(work / "iter_000" / "models" / "member_1")
    assert config["train"]["max_epochs"] == 1 and config["seed"] == 1
    first = yaml.safe_load((work / "iter_000/models/member_1/config.yaml").read_text())
    assert first["model"]["init_from"] is None and first["train"]["max_epochs"] == 2
    # a finished loop run again trains and labels nothing
    before = (member / "best.pt").stat().st_mtime_ns
    capsys.readouterr()
    assert main(["active-learn", str(path)]) == 0
    assert "training" not in capsys.readouterr().out
    assert (member / "best.pt").stat().st_mtime_ns == before
