"""Crash reports: a failure wrap did not expect is one line on the terminal and a traceback in a
private file, so the program still launches and the details are there for a bug report.

Imported only when something has already gone wrong.
"""

from __future__ import annotations

import os
import sys
import time

DIR_MODE = 0o700
FILE_MODE = 0o600
KEEP = 20


def crash_dir(state_dir: str) -> str:
    return os.path.join(state_dir, "crashes")


def report(state_dir: str, error: BaseException, *, when: float | None = None) -> str | None:
    """Write ERROR's traceback to a new file under STATE_DIR/crashes; its path, or None when
    even that fails (the caller's one line must not depend on the disk)."""
    import traceback

    from launcher import __version__, redact

    when = time.time() if when is None else when
    directory = crash_dir(state_dir)
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(when))
    path = os.path.join(directory, f"crash-{stamp}-{os.getpid()}-{time.time_ns() % 10**9:09d}.txt")
    text = (
        f"wrap {__version__}, Python {sys.version.split()[0]}, {sys.platform}\n"
        f"at {stamp}\n\n" + "".join(traceback.format_exception(error))
    )
    # Line by line, each redacted: a chained error may quote a token (a server's answer).
    text = "".join(redact.text(line) + "\n" for line in text.splitlines())
    try:
        os.makedirs(directory, mode=DIR_MODE, exist_ok=True)
        # makedirs honours the umask, and an existing directory keeps whatever mode it had.
        os.chmod(directory, DIR_MODE)
        # O_EXCL and O_NOFOLLOW: never write through a link planted at the name.
        fd = os.open(
            path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, FILE_MODE
        )
        try:
            os.fchmod(fd, FILE_MODE)
            os.write(fd, text.encode("utf-8", errors="backslashreplace"))
        finally:
            os.close(fd)
    except OSError:
        return None
    _prune(directory)
    return path


def describe(error: BaseException, path: str | None) -> str:
    """The one line for the terminal: the kind of error and where the details are (the error's
    own text stays in the file: it may quote anything, a file's content included)."""
    where = f"; details in {path}" if path else ""
    return f"unexpected error ({type(error).__name__}{where})"


def _prune(directory: str) -> None:
    try:
        names = sorted(n for n in os.listdir(directory) if n.startswith("crash-"))
    except OSError:
        return
    for name in names[:-KEEP]:
        try:  # noqa: SIM105 - contextlib is not worth its import here
            os.unlink(os.path.join(directory, name))
        except OSError:
            pass
