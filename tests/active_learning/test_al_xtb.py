"""GFN1-xTB (tblite) as the active-learning reference: the shipped label section labels a
molecule, an SCF that does not converge is a LabelError (reported, never learnt), and the
shipped ethanol loop runs a short round end to end. Skipped where tblite is not installed
(``pip install 'mlip_gnn[xtb]'``)."""

import json
from pathlib import Path

import numpy as np
import pytest
import yaml
from ase.io import read

from mlip_gnn.active_learning import CalculatorLabeller, LabelError, load_al_config
from mlip_gnn.cli.main import main
from al_support import force_by_differences

pytest.importorskip("tblite.ase")

CONFIGS = Path(__file__).parents[2] / "configs" / "active_learning"
CONFIG = CONFIGS / "ethanol_xtb.yaml"


def shipped_labeller(**extra):
    cfg = load_al_config(CONFIG)
    return CalculatorLabeller(cfg.label.calculator, {**cfg.label.kwargs, **extra})


def test_the_shipped_label_section_labels_ethanol_with_consistent_forces(tmp_path):
    atoms = read(CONFIGS / "ethanol.xyz")
    atoms.positions += np.random.default_rng(0).normal(0.0, 0.05, atoms.positions.shape)
    labeller = shipped_labeller()
    frame = labeller.label(atoms, tmp_path)
    energy, forces = frame.get_potential_energy(), frame.get_forces()
    assert forces.shape == (9, 3) and np.isfinite(energy)
    assert frame.calc.results.get("stress") is None  # open boundaries: no stress
    # the labels are xTB's own: -dE/dx by central differences, 1e-4 Å
    by_differences = force_by_differences(labeller, atoms, tmp_path, 2, 1, 1e-4)
    assert by_differences == pytest.approx(forces[2, 1], abs=1e-4)


def test_an_scf_that_does_not_converge_is_a_label_error(tmp_path):
    atoms = read(CONFIGS / "ethanol.xyz")
    with pytest.raises(LabelError, match="TBLite failed"):
        shipped_labeller(max_iterations=1).label(atoms, tmp_path)


@pytest.mark.slow
def test_the_shipped_ethanol_loop_runs_a_round_labelled_by_xtb(tmp_path):
    raw = yaml.safe_load(CONFIG.read_text())
    raw["work_dir"] = str(tmp_path / "work")
    raw["structures"]["ethanol"]["file"] = str(CONFIGS / "ethanol.xyz")
    raw["training"]["config"] = str(CONFIGS.parent / "quickstart.yaml")
    raw["training"]["committee"] = 2
    raw["training"]["overrides"] += ["model.num_channels=4", "model.radial_mlp=[8]",
                                     "model.num_layers=1", "train.max_epochs=2"]
    raw["initial"]["frames"] = 6
    raw["explore"].update(steps=40, interval=10, trajectories=1)
    raw["select"].update(lower=1e-4, max_candidates=2)
    raw["stop"]["max_iterations"] = 1
    raw["heldout"]["generate"].update(frames=2, equilibration_steps=20, interval=10)
    path = tmp_path / "al.yaml"
    path.write_text(yaml.safe_dump(raw))
    assert main(["active-learn", str(path)]) == 0
    lines = (tmp_path / "work" / "al_log.jsonl").read_text().splitlines()
    log = [json.loads(line) for line in lines]
    assert [line["iteration"] for line in log] == [0]
    assert log[0]["labels"] == 6 and not log[0]["label_failures"]  # xTB labelled the seeds
    assert np.isfinite(log[0]["heldout_forces_rmse"])
