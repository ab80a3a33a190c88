"""Graceful stop on SIGTERM / SIGUSR1 (cluster pre-emption) and Ctrl-C (SIGINT): set a
flag, let the loop checkpoint after the current step and exit cleanly. A second Ctrl-C
aborts at once (KeyboardInterrupt), without a checkpoint."""

from __future__ import annotations

import signal
import sys
import threading
from typing import Dict

__all__ = ["StopRequest", "STOP_SIGNALS"]

#: signals that ask for a checkpoint and a clean exit (SIGUSR1 does not exist on Windows)
STOP_SIGNALS = tuple(getattr(signal, name) for name in ("SIGTERM", "SIGUSR1", "SIGINT")
                     if hasattr(signal, name))


class StopRequest:
    """Context manager installing the handlers; previous handlers return in ``finally``.

    >>> with StopRequest() as stop:
    ...     stop.requested
    False
    """

    def __init__(self, signals=STOP_SIGNALS):
        self.signals = tuple(signals)
        self.signal_name: str | None = None
        self._previous: Dict[int, object] = {}

    @property
    def requested(self) -> bool:
        """True once a stop signal has arrived."""
        return self.signal_name is not None

    def request(self, signum: int, frame=None) -> None:
        """The handler; also callable directly (tests, or a time limit)."""
        if signum == signal.SIGINT:
            if self.signal_name == "SIGINT":  # the second Ctrl-C: the user will not wait
                raise KeyboardInterrupt
            print("\nstopping after the current step and writing a checkpoint (Ctrl-C "
                  "again to abort without one)", file=sys.stderr, flush=True)
        self.signal_name = signal.Signals(signum).name

    def __enter__(self) -> StopRequest:
        # signal handlers can only be installed from the main thread
        if threading.current_thread() is threading.main_thread():
            for signum in self.signals:
                if signum == signal.SIGINT and signal.getsignal(signum) == signal.SIG_IGN:
                    continue  # a background job ignores Ctrl-C: keep it that way
                self._previous[signum] = signal.signal(signum, self.request)
        return self

    def __exit__(self, *exc) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
        self._previous.clear()
