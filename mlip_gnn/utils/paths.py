"""Checks of the paths a command will write, made before any work starts, so that a bad
output path is an error naming it rather than a traceback after the work is done."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from pathlib import Path
from typing import Iterable, Iterator, Type

from mlip_gnn.errors import MlipGnnError

__all__ = ["OutputPathError", "check_output_dir", "check_output_file", "first_missing",
           "made_folder"]


class OutputPathError(MlipGnnError):
    """Raised when an output path cannot be used: a file where a directory is needed (or
    the reverse), a folder that cannot be written, or a path that is one of the inputs or
    lies inside an input directory."""


def check_output_dir(path: os.PathLike, what: str = "output directory",
                     inputs: Iterable[os.PathLike] = (),
                     error: Type[MlipGnnError] = OutputPathError) -> Path:
    """Check that ``path`` is or can become a writable directory outside every input
    directory of ``inputs``; nothing is created. Returns ``path`` as a :class:`Path`.
    Raises ``error`` (an :class:`OutputPathError` unless the caller has its own)."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise error(f"{what} {path} is not writable: it exists and is not a directory; "
                    "remove it or choose another path")
    _check_writable_anchor(path, what, error)
    for source in inputs:
        source = Path(source)
        if source.is_dir() and _within(path, source):
            raise error(f"{what} {path} is inside the input directory {source}: "
                                  "its files would be read as input; choose a path outside it")
    return path


def check_output_file(path: os.PathLike, what: str = "output file",
                      inputs: Iterable[os.PathLike] = ()) -> Path:
    """Check that ``path`` can be written as a file (its folder exists, or can be made, and
    is writable) and is none of ``inputs``; nothing is created. Returns it as a Path."""
    path = Path(path)
    if path.is_dir():
        raise OutputPathError(f"{what} {path} is a directory: give the path of a file")
    for source in inputs:
        if path.exists() and Path(source).exists() and os.path.samefile(path, source):
            raise OutputPathError(f"{what} {path} is also an input: writing it would "
                                  "overwrite the input; choose another path")
    _check_writable_anchor(path.parent, what, OutputPathError, for_file=path)
    return path


@contextlib.contextmanager
def made_folder(folder: os.PathLike) -> Iterator[Path]:
    """Create ``folder`` (and missing parents) for the block; if the block raises, remove
    the folders this made, so that a failed command leaves nothing behind."""
    folder = Path(folder)
    first_new = first_missing(folder.absolute())
    folder.mkdir(parents=True, exist_ok=True)
    try:
        yield folder
    except BaseException:
        if first_new is not None:
            shutil.rmtree(first_new, ignore_errors=True)
        raise


def first_missing(path: Path) -> Path | None:
    """The outermost ancestor of ``path`` (or ``path``) that does not exist yet: what
    creating ``path`` would add, and removing undoes."""
    missing = None
    for candidate in (path, *path.parents):
        if candidate.exists():
            return missing
        missing = candidate
    return missing


def _within(path: Path, folder: Path) -> bool:
    path, folder = path.resolve(), folder.resolve()
    return path == folder or folder in path.parents


def _nearest_existing(path: Path) -> Path | None:
    for candidate in (path, *path.parents):
        if candidate.exists():
            return candidate
    return None


def _check_writable_anchor(folder: Path, what: str, error: Type[MlipGnnError],
                           for_file: Path | None = None) -> None:
    """``folder`` or its nearest existing ancestor must be a directory in which a file can
    be created (tried, not inferred from permission bits, which root ignores)."""
    shown = for_file if for_file is not None else folder
    anchor = _nearest_existing(folder.absolute())
    if anchor is None:
        return
    if not anchor.is_dir():
        raise error(f"{what} {shown} is not writable: {anchor} is a file, not a directory; "
                    "choose another path")
    try:
        with tempfile.TemporaryFile(dir=anchor, prefix=".mlip-gnn-write-test."):
            pass
    except OSError as exc:
        raise error(f"{what} {shown} is not writable: no file can be created in {anchor} "
                    f"({exc.strerror or exc}); choose another path") from None
