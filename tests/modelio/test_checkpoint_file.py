"""Checkpoint files: format check, files written before the model spec, non-model files."""

from pathlib import Path

import pytest
import torch

from mlip_gnn.calculators import MLIPCalculator
from mlip_gnn.errors import MlipGnnError
from mlip_gnn.modelio import (CHECKPOINT_FORMAT, CheckpointError, ModelSpec, load_checkpoint,
                              model_from_checkpoint, save_checkpoint, state_digest)

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
# best.pt / last.pt of a one-epoch float32 run written by mlip_gnn 0.1.0 (checkpoint
# format 1: builder arguments under "model_kwargs", weights of the l <= 1 product)
FORMAT_1 = {"best": FIXTURES / "format1_best.pt", "last": FIXTURES / "format1_last.pt"}


def _spec():
    return ModelSpec([29], 3.0, "float32", {29: 0.1}, {"num_layers": 1})


def test_saved_file_records_format_and_spec(tmp_path):
    path = save_checkpoint({"model_spec": _spec().to_dict(), "model": {}}, tmp_path / "c.pt")
    plain = torch.load(path, weights_only=True)
    assert plain["format"] == CHECKPOINT_FORMAT and plain["version"]
    assert ModelSpec.from_dict(load_checkpoint(path)["model_spec"]) == _spec()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.pt"]  # no temp file left


def test_newer_format_is_refused_with_a_clear_message(tmp_path):
    state = {"format": CHECKPOINT_FORMAT + 1, "version": "9.0", "model": {}}
    state["integrity"] = state_digest(state)
    torch.save(state, tmp_path / "new.pt")
    with pytest.raises(CheckpointError, match=rf"new.pt has format {CHECKPOINT_FORMAT + 1} "
                       r"\(written by mlip_gnn 9.0\).*reads formats up to "
                       rf"{CHECKPOINT_FORMAT}. Install a newer mlip_gnn"):
        load_checkpoint(tmp_path / "new.pt")


@pytest.mark.parametrize("name", ["best", "last"])
def test_format_1_checkpoint_is_refused_saying_what_to_do(name):
    """Its weights belong to the previous architecture: a message, not a traceback."""
    for load in (load_checkpoint, model_from_checkpoint, MLIPCalculator):
        with pytest.raises(MlipGnnError, match=r"mlip_gnn 0.1.0 \(format 1\).*Retrain"
                                               r".*exported with mlip_gnn 0.1"):
            load(FORMAT_1[name])


def test_a_file_without_a_model_is_named(tmp_path):
    path = save_checkpoint({"epoch": 1}, tmp_path / "state.pt")
    with pytest.raises(CheckpointError, match="state.pt holds no model"):
        model_from_checkpoint(path)


@pytest.mark.parametrize("content", [b"energy forces stress\n", b""])
def test_a_file_that_is_not_a_model_gets_our_message(tmp_path, content):
    path = tmp_path / "notes.txt"
    path.write_bytes(content)
    with pytest.raises(CheckpointError, match="notes.txt is not an mlip_gnn model") as info:
        model_from_checkpoint(path)
    assert "weights_only" not in str(info.value)


def test_a_pickle_of_arbitrary_objects_is_refused_without_torch_advice(tmp_path):
    torch.save({"model": object()}, tmp_path / "pickled.pt")
    with pytest.raises(CheckpointError, match="objects other than tensors") as info:
        load_checkpoint(tmp_path / "pickled.pt")
    message = str(info.value).lower()
    assert "weights_only" not in message and "weights only" not in message
