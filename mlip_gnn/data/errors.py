"""Errors raised by the data layer for bad user input."""

from mlip_gnn.errors import MlipGnnError

__all__ = ["DataError", "UnknownSpeciesError"]


class DataError(MlipGnnError, ValueError):
    """Raised when a structure file cannot be used: unreadable, empty, a label missing or
    malformed, non-finite numbers, overlapping atoms or a degenerate cell. The message names
    the file, the frame index and the field."""


class UnknownSpeciesError(DataError):
    """Raised when a structure contains an element the model was not trained on."""
