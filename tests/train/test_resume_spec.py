"""Resuming keeps the model spec: a config that asks for another one is refused, and a
checkpoint of the previous architecture is refused, not overwritten."""

import shutil
from pathlib import Path

import pytest
import torch
from train_support import PairPotential, config_maker, write_tiny_cu

from mlip_gnn.config import config_from_dict
from mlip_gnn.errors import MlipGnnError
from mlip_gnn.modelio import CheckpointError, ModelSpecError, load_checkpoint
from mlip_gnn.train import train

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


@pytest.fixture(scope="module")
def first_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("resume")
    make = config_maker(write_tiny_cu(tmp / "cu.xyz"), tmp)
    result = train(make(train={"max_epochs": 1}), model_factory=PairPotential)
    return make, result.run_dir


@pytest.mark.parametrize("sections,named", [
    ({"data": {"r_max": 3.5}}, "data.r_max: 4.0 -> 3.5"),
    ({"dtype": "float32"}, "dtype: 'float64' -> 'float32'"),
    ({"model": {"num_layers": 3}}, "model.num_layers: 2 -> 3"),
    ({"data": {"e0s": {"Cu": -3.0}}}, "data.e0s:"),
])
def test_resume_with_a_changed_spec_is_refused_naming_the_fields(first_run, tmp_path,
                                                                 sections, named):
    make, run_dir = first_run
    copy = shutil.copytree(run_dir, tmp_path / "copy")
    before = (copy / "last.pt").read_bytes()
    changed = make("copy", train={"max_epochs": 2}, **sections)
    with pytest.raises(ModelSpecError, match="cannot resume") as info:
        train(changed, resume=str(copy), model_factory=PairPotential)
    assert named in str(info.value) and "checkpoint -> config" in str(info.value)
    assert isinstance(info.value, MlipGnnError)
    assert (copy / "last.pt").read_bytes() == before  # nothing was trained or written


def test_resume_with_only_loop_changes_keeps_the_spec(first_run, tmp_path):
    make, run_dir = first_run
    copy = shutil.copytree(run_dir, tmp_path / "copy")
    spec = load_checkpoint(copy / "last.pt")["model_spec"]
    train(make("copy", train={"max_epochs": 2}), resume=str(copy), model_factory=PairPotential)
    resumed = load_checkpoint(copy / "last.pt")
    assert resumed["epoch"] == 2 and resumed["model_spec"] == spec


def test_a_format_1_checkpoint_is_not_resumed_and_not_overwritten(tmp_path):
    """last.pt of mlip_gnn 0.1.0 holds the previous architecture: resuming stops with the
    reason and leaves the file as it was."""
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    shutil.copyfile(FIXTURES / "format1_last.pt", run_dir / "last.pt")
    before = (run_dir / "last.pt").read_bytes()
    old = torch.load(run_dir / "last.pt", weights_only=True)
    raw = {**old["config"], "data": {**old["config"]["data"],
                                     "train": [str(FIXTURES / "format1_cu.xyz")]}}
    with pytest.raises(CheckpointError, match="format 1"):
        train(config_from_dict(raw), resume=str(run_dir))
    assert (run_dir / "last.pt").read_bytes() == before
