"""The cross-process lock that serializes refreshes of one credentials file."""

from __future__ import annotations

import contextlib
import fcntl
import os
import time
from typing import TYPE_CHECKING

from launcher.errors import WriteError
from launcher.store import FILE_MODE, ensure_dir

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

WAIT_NOTICE_AFTER = 2.0


def lock_path(path: str) -> str:
    target = os.path.realpath(path)
    return os.path.join(os.path.dirname(target), f".{os.path.basename(target)}.wrap.lock")


@contextlib.contextmanager
def locked(
    path: str,
    *,
    timeout: float,
    on_wait: Callable[[], None] | None = None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> Iterator[None]:
    """Hold the cross-process lock that lives beside PATH.

    fcntl.flock rather than a lock library or an exclusive-create file: the kernel drops the lock
    when its holder dies, however it dies, so a dead process never leaves a stale lock to reclaim.
    """
    lpath = lock_path(path)
    ensure_dir(os.path.dirname(lpath))
    fd = os.open(lpath, os.O_RDWR | os.O_CREAT, FILE_MODE)
    try:
        start = clock()
        noticed = False
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                waited = clock() - start
                if waited >= timeout:
                    raise LockTimeout(
                        f"another process has been refreshing {path} for over {timeout:g} s; "
                        f"if none is running, remove {lpath}"
                    ) from None
                if not noticed and waited >= WAIT_NOTICE_AFTER and on_wait is not None:
                    on_wait()
                    noticed = True
                sleep(0.05)
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the flock


class LockTimeout(WriteError):
    """Another process held the lock past the bound."""
