"""One line on a terminal when something the user waits for takes longer than about a second.

A refresh is usually a fraction of a second; when the endpoint is slow or silent, a launch that
says nothing looks hung. Nothing is shown when stderr is not a terminal (scripts, CI, pipes):
there the outcome line is enough.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    import threading
    from types import TracebackType

    from launcher.log import Log

AFTER = 1.0


class Delayed:
    """`with Delayed(log, text):` says TEXT once AFTER seconds have passed inside the block, on
    a terminal, unless the block ended (or cancel() was called) first; `shown` says whether."""

    def __init__(
        self, log: Log, text: str, *, after: float = AFTER, terminal: bool | None = None
    ) -> None:
        self.log = log
        self.text = text
        self.shown = False
        self._over = False
        if terminal is None:
            isatty = getattr(log.stream, "isatty", None)
            try:
                terminal = bool(isatty and isatty())
            except (OSError, ValueError):
                terminal = False
        self._timer: threading.Timer | None = None
        if terminal and log.verbosity >= 0:
            # Only then: a launch that waits on another's refresh off a terminal need not load it.
            import threading

            self._lock = threading.Lock()
            self._timer = threading.Timer(after, self._show)
            self._timer.daemon = True

    def __enter__(self) -> Delayed:
        if self._timer is not None:
            self._timer.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.cancel()

    def cancel(self) -> None:
        if self._timer is not None:
            with self._lock:
                self._over = True
            self._timer.cancel()

    def _show(self) -> None:
        with self._lock:
            if self._over:
                return
            self.shown = True
            self.log.info(self.text)


def host_of(url: str) -> str:
    """The host (and port) of URL, for a line a person reads; no user name or password."""
    rest = url.split("://", 1)[-1]
    return rest.split("/", 1)[0].split("?", 1)[0].rpartition("@")[2] or url
