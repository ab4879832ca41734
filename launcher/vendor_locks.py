"""The CLIs' own refresh locks, taken while wrap refreshes their files so they do not race us.

These are observed, undocumented conventions, kept here in one place so that a vendor's change
touches one function:

- Claude Code: a directory `<credentials dir>/.oauth_refresh.lock`, created with mkdir (atomic)
  and removed when done; one older than 60 s is considered abandoned.
"""

from __future__ import annotations

import contextlib
import os
import time
from typing import TYPE_CHECKING

from launcher import store
from launcher.lock import LockTimeout

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

CLAUDE_LOCK_NAME = ".oauth_refresh.lock"
CLAUDE_LOCK_STALE_AFTER = 60.0


@contextlib.contextmanager
def vendor_lock(
    kind: str | None,
    credentials_path: str,
    *,
    timeout: float,
    record: str,
    wall: Callable[[], float] = time.time,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> Iterator[None]:
    """Hold the vendor's lock for CREDENTIALS_PATH. Call it only under wrap's own lock.

    RECORD is a file of wrap's where the identity of the lock directory it made is kept until
    it is removed: a directory that matches it was left by a wrap process killed mid-refresh
    (no live one can hold it, since we hold wrap's lock), so it is taken over at once instead
    of making every launch wait out the vendor's 60 s.
    """
    if kind != "claude":
        yield
        return
    directory = os.path.dirname(os.path.realpath(credentials_path))
    path = os.path.join(directory, CLAUDE_LOCK_NAME)
    start = clock()
    while not _try_mkdir(path):
        try:
            st = os.stat(path)
        except FileNotFoundError:
            continue  # released between our mkdir and stat: try again at once
        if wall() - st.st_mtime > CLAUDE_LOCK_STALE_AFTER or _identity(st) == _read(record):
            with contextlib.suppress(OSError):
                os.rmdir(path)
            continue
        if clock() - start >= timeout:
            raise LockTimeout(
                f"{path} is held by another refresh (Claude Code's own lock); "
                f"if no claude is refreshing, remove it (rmdir {path})"
            )
        sleep(0.05)
    _remember(path, record)
    try:
        yield
    finally:
        with contextlib.suppress(OSError):
            os.rmdir(path)
        with contextlib.suppress(OSError):
            os.unlink(record)


def _try_mkdir(path: str) -> bool:
    """True when we created (own) the lock, or when nobody can: a directory we cannot write
    (read-only, full) holds no lock to exclude us from."""
    try:
        os.mkdir(path, 0o700)
    except FileExistsError:
        return False
    except OSError:
        return True
    return True


def _identity(st: os.stat_result) -> str:
    return f"{st.st_ino}:{st.st_mtime_ns}"


def _read(record: str) -> str | None:
    try:
        return store.read_private(record).decode("ascii").strip()
    except (OSError, ValueError):
        return None


def _remember(path: str, record: str) -> None:
    try:
        identity = _identity(os.stat(path))
        store.write_private(record, identity.encode("ascii"))  # never through a planted symlink
    except OSError:
        pass  # only costs a wait after a crash
