""""Did you mean ...?": the one place that picks the nearest valid name for an error
message (config keys and values, SYSTEM.yaml keys, families, elements, property names)."""

from __future__ import annotations

import difflib
from typing import Iterable

__all__ = ["closest", "did_you_mean"]


def closest(word: str, candidates: Iterable[object]) -> str | None:
    """The string of ``candidates`` nearest to ``word``: a match ignoring case first (so
    that "si" finds "Si" and "Adam" finds "adam"), else the closest by
    :func:`difflib.get_close_matches` (ratio ≥ 0.6); None when nothing is close."""
    strings = [c for c in candidates if isinstance(c, str)]
    by_lower = {c.lower(): c for c in strings}
    if word.lower() in by_lower:
        return by_lower[word.lower()]
    close = difflib.get_close_matches(word, strings, n=1, cutoff=0.6)
    return close[0] if close else None


def did_you_mean(word: object, candidates: Iterable[object],
                 template: str = " (did you mean {!r}?)") -> str:
    """``template`` filled with the candidate nearest to ``word`` (compared as strings),
    or "" when none is close: the tail of an error message."""
    close = closest(str(word), [str(c) for c in candidates])
    return template.format(close) if close is not None else ""
