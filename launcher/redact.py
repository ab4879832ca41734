"""Token values this process knows, kept out of every line wrap prints or stores.

A server may quote the refresh token it refuses (some do, in `error_description`), and any text
from outside may carry terminal escape sequences. `text` is applied to each message before it
reaches a terminal or the state file: known values become `<redacted>`, control characters go.

`re` is imported only for a line that needs cleaning: a launch that waits on another's refresh
(200 of them at once, say) need not load it.
"""

from __future__ import annotations

MARK = "<redacted>"
# Shorter values are not secrets worth the false hits (a word such as "expired" in a message).
MIN_LENGTH = 8

_known: set[str] = set()
# CSI (ESC [ ... final), OSC (ESC ] ... BEL or ST), and any other two-byte ESC sequence;
# the 8-bit CSI/OSC introducers too. Compiled on first use (re keeps it): most lines need none.
_ESCAPES = (
    r"(?:\x1b\[|\x9b)[0-?]*[ -/]*[@-~]?"
    r"|(?:\x1b\]|\x9d)[^\x07\x1b\x9c]*(?:\x07|\x1b\\|\x9c)?"
    r"|\x1b[@-_]?"
)


def add(*values: object) -> None:
    """Remember token values (sent, current, received); non-strings and short ones are ignored."""
    for value in values:
        if isinstance(value, str) and len(value) >= MIN_LENGTH:
            _known.add(value)


def forget() -> None:
    """For tests that run several logins in one process."""
    _known.clear()


def text(message: str) -> str:
    """MESSAGE with every known token value replaced and no control characters or escapes."""
    if not message.isprintable():
        message = _printable(message)
    # One copy, taken at once: `wrap refresh --all`'s workers add values while another
    # cleans a line, and a set that grows under its loop raises RuntimeError.
    known = tuple(_known)
    if not known:  # status's table: tens of thousands of cells, most runs know no token
        return message
    # Longest first, so that a value containing another is replaced whole.
    for value in sorted(known, key=len, reverse=True):
        if value in message:
            message = message.replace(value, MARK)
    return _mask_runs(message, known)


# A run this long of a known value is masked too: a token cut by someone's length limit (a
# server's, a proxy's), or split by a line break, still gives most of itself away.
RUN = 16


def _mask_runs(message: str, known: tuple[str, ...]) -> str:
    covered = [False] * len(message)
    for value in known:
        if len(value) < RUN:
            continue
        grams = {value[i : i + RUN] for i in range(len(value) - RUN + 1)}
        for i in range(len(message) - RUN + 1):
            if message[i : i + RUN] in grams:
                covered[i : i + RUN] = [True] * RUN
    if not any(covered):
        return message
    out: list[str] = []
    for i, ch in enumerate(message):
        if not covered[i]:
            out.append(ch)
        elif i == 0 or not covered[i - 1]:
            out.append(MARK)
    return "".join(out)


def cells(row: list[str]) -> list[str]:
    """A table row for a terminal, each cell as a log line is (`text`): names and errors come
    from files, id_tokens and other machines, and may carry OSC 52 (a clipboard write), OSC 8
    (a link) or a title change."""
    return [text(cell) for cell in row]


def _printable(message: str) -> str:
    import re

    message = re.sub(_ESCAPES, "", message)
    # Newlines, tabs and the like become a space: a message stays one line.
    return "".join(ch if ch.isprintable() else " " if ch.isspace() else "" for ch in message)
