"""The cross-process lock that serializes refreshes of one credentials file."""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import time

from launcher.errors import WriteError
from launcher.store import FILE_MODE, ensure_dir, ensure_private_dir

TYPE_CHECKING = False  # typing itself costs ~2 ms of import, paid by every launch that waits
if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

WAIT_NOTICE_AFTER = 2.0
# A symlink planted at a lock path is never followed (it could point at any file of the user's).
_OPEN = os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW


def lock_path(path: str) -> str:
    target = os.path.realpath(path)
    name = os.path.basename(target)
    hidden = name if name.startswith(".") else f".{name}"
    return os.path.join(os.path.dirname(target), f"{hidden}.wrap.lock")


@contextlib.contextmanager
def locked(
    path: str,
    *,
    timeout: float,
    fallback: str,
    on_wait: Callable[[], None] | None = None,
    settled: Callable[[], bool] | None = None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> Iterator[bool]:
    """Hold the cross-process lock that lives beside PATH (or at FALLBACK, where that directory
    cannot be written: a read-only credentials directory must not stop the refresh attempt,
    since the recovery file still saves a rotated token). Yields whether another process held
    it first (it may have refreshed the token meanwhile). SETTLED is asked at each poll while
    another process holds it: True ends the wait without the lock, by raising Unneeded.

    fcntl.flock rather than a lock library or an exclusive-create file: the kernel drops the lock
    when its holder dies, however it dies, so a dead process never leaves a stale lock to reclaim.
    """
    lpath = lock_path(path)
    try:
        try:
            fd = os.open(lpath, _OPEN, FILE_MODE)
        except FileNotFoundError:
            # A login that creates the file also creates its directory (0700).
            ensure_dir(os.path.dirname(lpath))
            fd = os.open(lpath, _OPEN, FILE_MODE)
    except OSError as e:
        if e.errno not in (errno.EROFS, errno.EACCES, errno.EPERM, errno.ENOSPC):
            why = "it is a symlink, which wrap never follows" if e.errno == errno.ELOOP else None
            raise WriteError(f"cannot create the lock file {lpath}: {why or e.strerror}") from e
        lpath = fallback
        try:
            ensure_private_dir(os.path.dirname(lpath))
            fd = os.open(lpath, _OPEN, FILE_MODE)
        except OSError as e2:
            why = e2.strerror or type(e2).__name__
            raise WriteError(
                f"cannot create the lock file beside {path} ({e.strerror}) nor {lpath} ({why})"
            ) from e2
    try:
        start = clock()
        noticed = False
        contended = False
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                if _still_at(fd, lpath):
                    break
                # `wrap forget` unlinked the file while holding it: this lock guards nothing
                # any more; lock the file now at the path, which the next process will find.
                os.close(fd)
                fd = -1
                fd = os.open(lpath, _OPEN, FILE_MODE)
                contended = True  # whoever held it may have refreshed meanwhile
                continue
            except BlockingIOError:
                contended = True
                if settled is not None and settled():
                    raise Unneeded from None
                waited = clock() - start
                if waited >= timeout:
                    raise LockTimeout(
                        f"another process has held the refresh lock on {path} ({lpath}) for "
                        f"over {timeout:.0f} s; try again, or raise WRAP_LOCK_TIMEOUT"
                    ) from None
                if not noticed and waited >= WAIT_NOTICE_AFTER and on_wait is not None:
                    on_wait()
                    noticed = True
                sleep(0.05)
        yield contended
    finally:
        if fd >= 0:
            os.close(fd)  # closing the descriptor releases the flock


def _still_at(fd: int, path: str) -> bool:
    try:
        here = os.stat(path, follow_symlinks=False)
    except FileNotFoundError:
        return False
    there = os.fstat(fd)
    return (here.st_dev, here.st_ino) == (there.st_dev, there.st_ino)


class LockTimeout(WriteError):
    """Another process held the lock past the bound."""


class Unneeded(Exception):
    """The caller's `settled` said so while waiting: what it waited for happened elsewhere."""
