"""``mlip-gnn search`` end to end on a tiny budget with a committee of small models, and
its bad-input errors."""

import json
import re

import numpy as np
import pytest
from ase.io import read
from model_support import model_checkpoint

from mlip_gnn.cli.main import main

checkpoint = model_checkpoint  # make_model(seed) as a checkpoint file


def write_config(tmp_path, text):
    path = tmp_path / "search.yaml"
    path.write_text("composition: {Cu: 3}\ntrials: 2\nconstraints: {min_distance: 2.0, "
                    "radius: 2.5}\nrelax: {fmax: 0.1, steps: 15}\n" + text)
    return str(path)


@pytest.mark.parametrize("flag, flagged", [("{energy_std_per_atom: 1.0e-9, max_force_std: "
                                            "1.0e-9}", True),
                                           ("{energy_std_per_atom: 1.0e6, max_force_std: "
                                            "1.0e6}", False)])
def test_cli_committee_search_writes_every_output(tmp_path, capsys, flag, flagged):
    for i in range(2):
        checkpoint(tmp_path / f"m{i}.pt", i)
    config = write_config(tmp_path, f"method: random\nmodels: [m0.pt, m1.pt]\nflag: {flag}\n")
    out = tmp_path / "out"
    assert main(["search", config, "-o", str(out), "--no-progress"]) == 0
    assert "2 new trials (2 in all)" in capsys.readouterr().out
    for name in ("minima.xyz", "candidates.xyz", "report.json", "report.md", "progress.png",
                 "energy_volume.png", "trials.jsonl", "search.json"):
        assert (out / name).is_file(), name
    report = json.loads((out / "report.json").read_text())
    minima = read(out / "minima.xyz", ":")
    assert len(minima) == report["distinct_minima"] >= 1
    energies = [a.get_potential_energy() for a in minima]  # ASE moves info energy to calc
    assert energies == sorted(energies)
    for atoms, entry in zip(minima, report["minima"]):
        assert atoms.info["energy_per_atom"] == pytest.approx(entry["energy"] / 3)
        assert atoms.info["uncertainty"] == pytest.approx(entry["energy_std"] / 3)
        assert atoms.info["uncertainty"] > 0 and atoms.info["max_forces_std"] > 0
        assert atoms.info["flagged"] is flagged and atoms.info["spacegroup"] == "none"
        assert np.isfinite(atoms.info["volume"])
    candidates = read(out / "candidates.xyz", ":") if flagged else []
    assert len(candidates) == (len(minima) if flagged else 0)
    for cand in candidates:  # unlabelled: never read as reference data
        assert cand.calc is None and "model_energy" in cand.info
    if flagged:  # active-learn takes them as named structures (file + index)
        from mlip_gnn.active_learning.schema import StructureConfig
        from mlip_gnn.active_learning.structures import build_structures

        made = build_structures({"c0": StructureConfig(file=str(out / "candidates.xyz"),
                                                       index=0)})
        np.testing.assert_allclose(made["c0"].positions, candidates[0].positions)
    # the same command again: nothing to do, same minima
    assert main(["search", config, "-o", str(out), "--no-progress"]) == 0
    assert "0 new trials (2 in all)" in capsys.readouterr().out
    assert len(read(out / "minima.xyz", ":")) == len(minima)
    # another model into the same folder: refused, nothing lost
    assert main(["search", config, "-o", str(out), "--model", str(tmp_path / "m0.pt"),
                 "--no-progress"]) == 2
    assert "models differ" in " ".join(capsys.readouterr().err.split())
    assert len((out / "trials.jsonl").read_text().splitlines()) == 2


def test_cli_help_lists_search(capsys):
    with pytest.raises(SystemExit):
        main(["search", "--help"])
    assert "basin_hopping" in capsys.readouterr().out


@pytest.mark.parametrize("case, match", [
    ("missing_model", r"m_missing\.pt"),
    ("unknown_element_for_model", r"composition\.Fe: the model does not know Fe"),
    ("no_model", r"no model: give 'models'"),
    ("impossible", r"constraints\.min_distance: got 3 Å"),
    ("unknown_element", r"composition\.Qq: unknown element"),
])
def test_bad_input_exit_2_names_the_problem(tmp_path, capsys, case, match):
    checkpoint(tmp_path / "m.pt", 0)
    text = {"missing_model": "models: m_missing.pt\n",
            "unknown_element_for_model": "models: m.pt\ncomposition: {Fe: 3}\n",
            "no_model": "",
            "impossible": "models: m.pt\nconstraints: {min_distance: 3.0, radius: 0.5}\n",
            "unknown_element": "models: m.pt\ncomposition: {Qq: 3}\n"}[case]
    path = tmp_path / "search.yaml"
    path.write_text(f"trials: 2\nrelax: {{steps: 5}}\n{text}" if "composition" in text else
                    f"composition: {{Cu: 3}}\ntrials: 2\nrelax: {{steps: 5}}\n{text}")
    out = tmp_path / "out"
    assert main(["search", str(path), "-o", str(out), "--no-progress"]) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert "mlip-gnn search: error" in err
    assert re.search(match, err), err
    assert not (out / "trials.jsonl").exists()
