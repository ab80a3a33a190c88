"""``mlip-gnn validate`` end to end with a small Cu checkpoint against EMT."""

import json

import pytest
import yaml
from validation_support import cu_system

from mlip_gnn.cli.main import main


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    from mlip_gnn.model import build_model
    from mlip_gnn.modelio import ModelSpec, save_checkpoint

    # a random model: with the legacy start's radial constant it binds inside the EOS grid
    kwargs = dict(species=[29], r_max=4.0, e0s={29: -0.1}, num_layers=1, num_channels=4,
                  max_ell=1, correlation=1, radial_mlp=[8], dtype="float64",
                  init_scheme="legacy")
    spec = ModelSpec.from_builder_kwargs(kwargs)
    path = tmp_path_factory.mktemp("validate") / "best.pt"
    model = build_model(**kwargs, seed=0)
    save_checkpoint({"model_spec": spec.to_dict(), "model": model.state_dict(), "epoch": 1},
                    path)
    return path


def _system(tmp_path, **changes):
    path = tmp_path / "system.yaml"
    path.write_text(yaml.safe_dump(cu_system(**changes)))
    return str(path)


def test_validate_writes_json_report_and_plots(checkpoint, tmp_path, capsys):
    system = _system(tmp_path, properties=["lattice", "eos"],
                     settings={"relax": {"steps": 3}, "eos": {"strain": 0.01, "points": 5}})
    out = tmp_path / "out"
    assert main(["validate", str(checkpoint), str(checkpoint), "--system", system,
                 "-o", str(out)]) == 0
    captured = capsys.readouterr()
    assert "[model 1] eos done" in captured.err and "[reference] eos done" in captured.err
    data = json.loads((out / "validation.json").read_text())
    names = [p["name"] for p in data["properties"]]
    assert names == ["lattice_constant", "bulk_modulus", "bulk_modulus_derivative"]
    a = data["properties"][0]
    assert a["reference"] == pytest.approx(3.589826, rel=1e-5)  # EMT, fully relaxed
    assert a["spread"] == 0.0  # the same checkpoint twice: a committee that agrees
    assert a["error"] == pytest.approx(a["model"] - a["reference"], abs=1e-12)
    assert data["committee"]["size"] == 2 and data["committee"]["disagrees_on"] == []
    assert (out / "report.md").is_file() and (out / "eos.png").is_file()


def test_bad_system_exits_2_naming_the_key(checkpoint, tmp_path, capsys):
    system = _system(tmp_path, properties=["lattice", "fonons"])
    assert main(["validate", str(checkpoint), "--system", system, "-o",
                 str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert "properties[1]" in err and "'phonons'" in err and "Traceback" not in err
    assert not (tmp_path / "o").exists()


def test_element_the_model_lacks_is_an_error(checkpoint, tmp_path, capsys):
    system = _system(tmp_path, elements=["Al"], properties=["lattice"])
    assert main(["validate", str(checkpoint), "--system", system, "-o",
                 str(tmp_path / "o")]) == 2
    assert "elements" in capsys.readouterr().err
