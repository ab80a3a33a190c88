"""Atomic file writes: a reader sees the old file or the new one, never half of one."""

from __future__ import annotations

import contextlib
import os
import uuid
from pathlib import Path
from typing import IO, Iterator

__all__ = ["atomic_write", "fsync_dir"]


def fsync_dir(directory: os.PathLike) -> None:
    """Flush a directory entry (a rename) to disk, where the platform allows it."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:  # not supported on every platform / filesystem
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_write(path: os.PathLike, mode: str = "w", *, encoding: str | None = None,
                 keep_previous: os.PathLike | None = None) -> Iterator[IO]:
    """Open a temporary file beside ``path`` for writing; when the block ends without an
    exception, flush it to disk and rename it to ``path``. On an exception the temporary
    file is removed and ``path`` is left as it was.

    ``mode`` is ``"w"`` (text, ``encoding`` default UTF-8) or ``"wb"``. With
    ``keep_previous`` an existing ``path`` is first renamed to that name (rotation of
    ``last.pt`` → ``last.prev.pt``). The file gets the usual permissions (umask), and the
    parent directory must exist.

    >>> with atomic_write(tmp / "a.txt") as handle:  # doctest: +SKIP
    ...     handle.write("all or nothing")
    """
    if mode not in ("w", "wb"):
        raise ValueError(f"atomic_write: mode {mode!r} must be 'w' or 'wb'")
    path = Path(path)
    # same folder, so that os.replace is a rename within one file system
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")
    if mode == "w" and encoding is None:
        encoding = "utf-8"
    try:
        with open(tmp, mode.replace("w", "x"), encoding=encoding) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        if keep_previous is not None and path.exists():
            # a second name for the old file, so that ``path`` exists at every moment
            Path(keep_previous).unlink(missing_ok=True)
            try:
                os.link(path, keep_previous)
            except OSError:  # a file system without hard links: rename it
                os.replace(path, keep_previous)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)
