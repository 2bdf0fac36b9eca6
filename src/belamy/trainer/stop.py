"""Ctrl-C and SIGTERM as a request to stop cleanly: the loop finishes its step, writes a checkpoint, exits."""

from __future__ import annotations

import signal
import threading
from contextlib import contextmanager

from belamy.utils.progress import console


class StopRequest:
    """Ctrl-C / SIGTERM ask the loop to stop after the current step; a second Ctrl-C stops at once."""

    def __init__(self) -> None:
        self.requested = False

    def _handle(self, signum, frame) -> None:
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True
        console.print("stopping after this step: writing a checkpoint (Ctrl-C again to abort at once)")

    @contextmanager
    def installed(self):
        if threading.current_thread() is not threading.main_thread():
            yield self
            return
        previous = {s: signal.signal(s, self._handle) for s in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield self
        finally:
            for s, handler in previous.items():
                signal.signal(s, handler)
