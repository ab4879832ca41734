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
    wall: Callable[[], float] = time.time,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> Iterator[None]:
    if kind != "claude":
        yield
        return
    directory = os.path.dirname(os.path.realpath(credentials_path))
    with _mkdir_lock(
        os.path.join(directory, CLAUDE_LOCK_NAME),
        stale_after=CLAUDE_LOCK_STALE_AFTER,
        timeout=timeout,
        wall=wall,
        clock=clock,
        sleep=sleep,
    ):
        yield


@contextlib.contextmanager
def _mkdir_lock(
    path: str,
    *,
    stale_after: float,
    timeout: float,
    wall: Callable[[], float],
    clock: Callable[[], float],
    sleep: Callable[[float], None],
) -> Iterator[None]:
    start = clock()
    while not _try_mkdir(path):
        try:
            age = wall() - os.stat(path).st_mtime
        except FileNotFoundError:
            continue  # released between our mkdir and stat: try again at once
        if age > stale_after:
            with contextlib.suppress(OSError):
                os.rmdir(path)
            continue
        if clock() - start >= timeout:
            raise LockTimeout(
                f"{path} is held by another refresh (Claude Code's own lock); "
                f"if no claude is refreshing, remove it (rmdir {path})"
            )
        sleep(0.05)
    try:
        yield
    finally:
        with contextlib.suppress(OSError):
            os.rmdir(path)


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
