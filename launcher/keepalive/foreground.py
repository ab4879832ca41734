"""Stopping cleanly: SIGTERM (and Ctrl-C, SIGHUP) between refreshes, never in the middle of one.

A refresh request in flight may already have rotated the refresh token at the server, so it is
always finished and written back (it is bounded by the refresh timeout). Everything that only
waits (for another process's lock, a retry's backoff, the next pass) is abandoned at once:
nothing was sent, so nothing can be lost, and the file was never touched.
"""

from __future__ import annotations

import os
import select
import signal
import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable


class Stopped(BaseException):
    """Raised from a wait once a stop was asked for. A BaseException, so that no `except
    Exception` on the refresh path mistakes it for a failed refresh."""


class Stop:
    """A stop request, set from a signal handler and seen by every wait.

    A pipe rather than threading.Event: Event.set() takes a lock, and a signal arriving while
    the main thread holds that lock would deadlock the handler.
    """

    def __init__(self) -> None:
        self._read, self._write = os.pipe()
        os.set_blocking(self._write, False)
        self.requested = False

    def request(self, *_: object) -> None:
        self.requested = True
        try:  # noqa: SIM105 - signal handler: no imports
            os.write(self._write, b"x")
        except BlockingIOError:
            pass

    def install(self) -> Stop:
        for s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(s, self.request)
        return self

    def wait(self, seconds: float) -> bool:
        """Wait up to SECONDS; True when a stop was asked for (at once, or meanwhile)."""
        if self.requested:
            return True
        if seconds > 0:
            # PEP 475: select resumes after the handler ran, and then sees the pipe readable.
            select.select([self._read], [], [], seconds)
        return self.requested

    def sleep(self, seconds: float) -> None:
        """What renew() sleeps with: a wait that turns into Stopped."""
        if self.wait(seconds):
            raise Stopped


def loop(
    one_pass: Callable[[float | None], int],
    interval: float,
    stop: Stop,
    *,
    clock: Callable[[], float] = time.time,
) -> int:
    """Passes every INTERVAL seconds (from the start of one to the start of the next) until a
    stop is asked for; ONE_PASS gets the time the next one is planned for. Exit 0 when stopped;
    a configuration error (2) ends the loop: it would fail the same way every time."""
    from launcher import exitcodes

    while not stop.requested:
        started = clock()
        code = one_pass(started + interval)
        if code == exitcodes.USAGE:
            return code
        if stop.wait(started + interval - clock()):
            break
    return exitcodes.FRESH
