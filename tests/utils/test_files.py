"""Atomic writes: all or nothing, no temporary file left, rotation of the old file."""

import os
import stat

import pytest

from mlip_gnn.utils import atomic_write


def test_writes_text_and_bytes_and_leaves_no_temp_file(tmp_path):
    with atomic_write(tmp_path / "a.txt") as handle:
        handle.write("Å, eV")
    with atomic_write(tmp_path / "b.bin", "wb") as handle:
        handle.write(b"\x00\x01")
    assert (tmp_path / "a.txt").read_text(encoding="utf-8") == "Å, eV"
    assert (tmp_path / "b.bin").read_bytes() == b"\x00\x01"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.txt", "b.bin"]


def test_an_exception_keeps_the_old_file_and_removes_the_temp_file(tmp_path):
    path = tmp_path / "a.txt"
    path.write_text("old")
    with pytest.raises(OSError, match="disk full"):
        with atomic_write(path) as handle:
            handle.write("half")
            raise OSError("disk full")
    assert path.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["a.txt"]


def test_keep_previous_rotates_the_old_file(tmp_path):
    path, previous = tmp_path / "last.pt", tmp_path / "last.prev.pt"
    for text in ("one", "two", "three"):
        with atomic_write(path, keep_previous=previous) as handle:
            handle.write(text)
    assert path.read_text() == "three" and previous.read_text() == "two"


def test_permissions_follow_the_umask(tmp_path):
    old = os.umask(0o022)
    try:
        with atomic_write(tmp_path / "config.yaml") as handle:
            handle.write("seed: 0\n")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "config.yaml").stat().st_mode) == 0o644


def test_only_write_modes(tmp_path):
    with pytest.raises(ValueError, match="mode 'a'"):
        with atomic_write(tmp_path / "x", "a"):
            pass
