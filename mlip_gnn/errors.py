"""The base of every error this package reports as a message rather than a traceback.

Each layer defines its own typed errors (``ConfigError``, ``DataError``,
``CheckpointError``, ...); all derive from :class:`MlipGnnError`, so a caller (the CLI)
catches one class. Standard library only, so that every layer may import it.
"""

__all__ = ["MlipGnnError"]


class MlipGnnError(Exception):
    """Raised for a problem the user can fix (bad config, data, paths or model files) or
    for a run that cannot go on (e.g. training diverged); the message says what and where.

    ``exit_status`` is what ``mlip-gnn`` exits with: 2 for bad input, unless a subclass
    says otherwise.
    """

    exit_status: int = 2
