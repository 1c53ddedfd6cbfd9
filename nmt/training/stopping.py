"""SIGINT and SIGTERM during training: stop at the next update boundary, after saving.

The first signal only records itself; the training loop reads it where it checks its
other stopping rules (after each optimizer update, validation and save), writes
`last.pt` and returns, so the run resumes exactly. A second signal exits at once with
status 128 + its number, without saving: a save in progress is abandoned, which leaves
the previous file (saves are atomic).
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import threading
from types import FrameType
from typing import Any

log = logging.getLogger(__name__)

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class StopOnSignal:
    """While entered, SIGINT and SIGTERM set `signum` instead of ending the process; on exit the old handlers return.

    Handlers can only be installed from the main thread; entered from another thread
    (a library user training in a worker thread) it installs nothing and `signum` stays None.
    A signal its process ignores (SIGINT of a background job) stays ignored.
    """

    def __init__(self) -> None:
        self.signum: int | None = None
        self._previous: dict[int, Any] = {}

    @property
    def name(self) -> str:
        """The signal's name, e.g. SIGTERM; empty while none has arrived."""
        return signal.Signals(self.signum).name if self.signum is not None else ""

    def __enter__(self) -> StopOnSignal:
        if threading.current_thread() is not threading.main_thread():
            log.debug("not in the main thread: SIGINT/SIGTERM keep their handlers during training")
            return self
        for signum in STOP_SIGNALS:
            if signal.getsignal(signum) is not signal.SIG_IGN:
                self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def __exit__(self, *exc_info: object) -> None:
        for signum, previous in self._previous.items():
            # None: the previous handler was not installed from Python; the default is the closest.
            signal.signal(signum, signal.SIG_DFL if previous is None else previous)
        self._previous.clear()

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        name = signal.Signals(signum).name
        if self.signum is not None:
            _notice(f"{name} again: exiting now without saving")
            raise SystemExit(128 + signum)
        self.signum = signum
        _notice(f"{name} received: saving last.pt after the current update, then exiting "
                "(send it again to exit at once without saving)")


def _notice(text: str) -> None:
    """One line on stderr, written to its file descriptor: a handler must not re-enter a buffered stream."""
    with contextlib.suppress(OSError):
        os.write(2, f"{text}\n".encode())
