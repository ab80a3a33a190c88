"""Errors raised by the data layer for bad user input."""

from pathlib import Path

from mlip_gnn.errors import MlipGnnError

__all__ = ["DataError", "UnknownSpeciesError", "unreadable"]


class DataError(MlipGnnError, ValueError):
    """Raised when a structure file cannot be used: unreadable, empty, a label missing or
    malformed, non-finite numbers, overlapping atoms or a degenerate cell. The message names
    the file, the frame index and the field."""


class UnknownSpeciesError(DataError):
    """Raised when a structure contains an element the model was not trained on."""


_XYZ_SUFFIXES = (".xyz", ".extxyz")
_XYZ_LAYOUT = ("an extended XYZ frame is a line with the number of atoms N, a comment line "
               "(Lattice=\"...\" Properties=species:S:1:pos:R:3 energy=...), then N atom lines")


def unreadable(path, exc: BaseException, after_frame: int | None = None) -> DataError:
    """The :class:`DataError` for a file the structure parser (ASE) rejected: our sentence
    (file, frame and line where they can be found, what was expected), then the parser's
    own words. ``after_frame``: the last frame that was read before the failure."""
    where = f"{path}, after frame {after_frame}" if after_frame is not None else f"{path}"
    if isinstance(exc, UnicodeDecodeError):
        return DataError(f"{where}: cannot read structures: not a text file (byte "
                         f"{exc.start} is not UTF-8); give a structure file ASE reads")
    detail = _xyz_problem(Path(path)) if str(path).endswith(_XYZ_SUFFIXES) else None
    detail = f"{detail}; {_XYZ_LAYOUT}" if detail else "a format ASE reads was expected"
    parser = " ".join(str(exc).split()) or type(exc).__name__
    return DataError(f"{where}: cannot read structures: {detail} (ASE: {parser})")


def _xyz_problem(path: Path) -> str | None:
    """Where an (extended) XYZ file breaks its layout, as "frame F (line L): ...", or None
    when every frame has its count line and as many atom lines as it says."""
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            lines = handle.read().splitlines()
    except OSError:
        return None
    line, frame = 0, 0
    while line < len(lines):
        if not lines[line].strip():  # trailing blank lines end the file
            if not any(text.strip() for text in lines[line:]):
                return None
        count_text = lines[line].strip()
        try:
            count = int(count_text)
        except ValueError:
            return (f"frame {frame} (line {line + 1}): expected the number of atoms, got "
                    f"{count_text[:40]!r}")
        available = len(lines) - line - 2
        if available < count:
            return (f"frame {frame} (line {line + 1}): the frame says {count} atoms but the "
                    f"file ends after {max(available, 0)} of them (truncated?)")
        line, frame = line + 2 + count, frame + 1
    return None
