"""Signals that would stop a refresh while its request is out wait until its answer is saved.

A rotating refresh token lives only in the answer: a process stopped between sending and
saving loses it, and the next refresh replays the spent one (the server then revokes the whole
family). So from just before the request until the answer is written and its outcome recorded,
SIGTERM, SIGHUP and SIGINT are only noted; afterwards the first one noted is handed to whoever
handled it before (a vendor's lock cleanup, keepalive's stop request, Python's Ctrl-C, which
the gate answers by launching), or stops the process.
Every refresher sends inside signals_deferred(), whatever the profile, path or locks held.
"""

from __future__ import annotations

import contextlib
import signal
import threading

from launcher.errors import Terminated

TYPE_CHECKING = False  # typing itself costs ~2 ms of import, paid by every launch that waits
if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

SIGNALS = (signal.SIGTERM, signal.SIGHUP, signal.SIGINT)


@contextlib.contextmanager
def signals_deferred(noted: Callable[[], None] | None = None) -> Iterator[None]:
    """Hold SIGTERM, SIGHUP and SIGINT until the block ends; NOTED, if given, is called as one
    arrives (it must not raise: keepalive's stop request, seen by the waits of worker threads).
    Only the main thread can install handlers (and Python runs them only there): elsewhere this
    is a no-op."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    held: list[signal.Signals] = []

    def note(signum: int, frame: object) -> None:
        held.append(signal.Signals(signum))
        if noted is not None:
            noted()

    previous = {s: signal.signal(s, note) for s in SIGNALS}
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
        if held:
            _deliver(held[0], previous[held[0]])


def _deliver(signum: int, handler: object) -> None:
    """What the signal would have done had it not waited: the earlier handler runs (Ctrl-C's
    raises KeyboardInterrupt), and one that would have killed the process stops it as
    Terminated, which the entry points turn into one line and exit 128 + signum."""
    if handler is signal.SIG_IGN:
        return
    if callable(handler):
        handler(signum, None)
        return
    raise Terminated(signum)
