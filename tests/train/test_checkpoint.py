import logging
import random

import numpy as np
import pytest
import torch

from mlip_gnn.train.checkpoint import (CheckpointError, CheckpointManager, RunDirError,
                                       check_writable, load_checkpoint, save_checkpoint)
from mlip_gnn.train.rng import rng_state, set_rng_state


def _state(value: float):
    return {"epoch": int(value), "model": {"w": torch.full((64,), value, dtype=torch.float64)},
            "config": {"seed": 1, "stages": [{"epoch": 2}]}, "rng": rng_state()}


def test_round_trip_with_weights_only(tmp_path):
    path = save_checkpoint(_state(1.0), tmp_path / "a.pt")
    plain = torch.load(path, weights_only=True)  # readable without our loader
    assert plain["epoch"] == 1
    state = load_checkpoint(path)
    assert torch.equal(state["model"]["w"], torch.full((64,), 1.0, dtype=torch.float64))
    assert not list(tmp_path.glob(".*.tmp"))


@pytest.mark.parametrize("damage", ["flip", "truncate", "empty"])
def test_damaged_file_is_detected(tmp_path, damage):
    path = save_checkpoint(_state(1.0), tmp_path / "a.pt")
    data = bytearray(path.read_bytes())
    if damage == "flip":  # inside the tensor data: torch.load alone would not notice
        offset = data.index(np.float64(1.0).tobytes() * 4)
        data[offset + 3] ^= 0x10
    path.write_bytes(bytes(data[: len(data) // 2] if damage == "truncate" else
                           b"" if damage == "empty" else data))
    with pytest.raises(CheckpointError, match="a.pt"):
        load_checkpoint(path)


def test_manager_rotates_and_falls_back_to_previous(tmp_path, caplog):
    manager = CheckpointManager(tmp_path)
    manager.save_last(_state(1.0))
    manager.save_last(_state(2.0))
    assert load_checkpoint(manager.previous)["epoch"] == 1
    manager.last.write_bytes(manager.last.read_bytes()[:100])
    with caplog.at_level(logging.WARNING):
        state, path = manager.load_latest()
    assert path == manager.previous and state["epoch"] == 1
    assert "last.pt is unreadable" in caplog.text and "previous checkpoint" in caplog.text
    manager.previous.write_bytes(b"junk")
    with pytest.raises(CheckpointError, match="no usable checkpoint"):
        manager.load_latest()


def test_snapshots_keep_newest(tmp_path):
    manager = CheckpointManager(tmp_path)
    for epoch in range(1, 5):
        manager.save_last(_state(float(epoch)))
        manager.snapshot(epoch, keep=2)
    assert [p.name for p in manager.snapshots()] == ["epoch_00003.pt", "epoch_00004.pt"]
    assert load_checkpoint(manager.snapshots()[0])["epoch"] == 3


def test_missing_checkpoint_and_unwritable_dir(tmp_path):
    with pytest.raises(CheckpointError, match="no checkpoint"):
        CheckpointManager(tmp_path).load_latest()
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(RunDirError, match="not writable"):
        check_writable(blocker / "run")


def test_rng_state_survives_a_checkpoint(tmp_path):
    save_checkpoint({"rng": rng_state()}, tmp_path / "r.pt")
    expected = (random.random(), np.random.rand(), torch.rand(1).item())
    set_rng_state(load_checkpoint(tmp_path / "r.pt")["rng"])
    assert (random.random(), np.random.rand(), torch.rand(1).item()) == expected


def test_a_newer_format_is_not_skipped_for_an_older_file(tmp_path):
    """An intact last.pt of a newer version must stop the resume, not be replaced by
    last.prev.pt: that would silently throw away the newer work."""
    from mlip_gnn.modelio.checkpoint import CHECKPOINT_FORMAT, CheckpointFormatError
    from mlip_gnn.modelio.checkpoint import state_digest

    manager = CheckpointManager(tmp_path)
    manager.save_last(_state(1.0))
    manager.save_last(_state(2.0))
    newer = {**torch.load(tmp_path / "last.pt", weights_only=True),
             "format": CHECKPOINT_FORMAT + 1}
    newer["integrity"] = state_digest(newer)
    torch.save(newer, tmp_path / "last.pt")
    with pytest.raises(CheckpointFormatError, match="has format"):
        manager.load_latest()
