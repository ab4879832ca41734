"""The launcher's own messages: one line each, to stderr only (stdout belongs to the program).

Not the logging module: it costs ~8 ms of import on every launch.
"""

from __future__ import annotations

import sys

TYPE_CHECKING = False  # typing itself costs ~4 ms of import on the launch path
if TYPE_CHECKING:
    from typing import TextIO


class Log:
    __slots__ = ("stream", "verbosity")

    def __init__(self, verbosity: int = 0, stream: TextIO | None = None) -> None:
        self.verbosity = verbosity
        self.stream = stream if stream is not None else sys.stderr

    def warn(self, message: str) -> None:
        self._emit(message)

    def info(self, message: str) -> None:
        if self.verbosity >= 0:
            self._emit(message)

    def debug(self, message: str) -> None:
        if self.verbosity >= 1:
            self._emit(message)

    def _emit(self, message: str) -> None:
        # Every line: a server's text may quote a token or carry terminal escape sequences.
        # Imported here: a fresh launch says nothing and need not load it.
        from launcher import redact

        self.stream.write(f"wrap: {redact.text(message)}\n")
        self.stream.flush()
