"""Locks that another program can see: lock directories (npm's proper-lockfile, as Claude Code
uses it) and exclusive-create lock files (Qwen Code), kept alive while held.

Both conventions call a lock abandoned when its mtime is old, so a holder must touch it
regularly: `Heartbeat` does that from a daemon thread for every lock this process holds.
"""

from __future__ import annotations

import contextlib
import errno
import os
import threading
import time

from launcher import store
from launcher.lock import LockTimeout

TYPE_CHECKING = False  # typing itself costs ~2 ms of import, paid by every launch that waits
if TYPE_CHECKING:
    from collections.abc import Callable

# Half the shortest staleness any checked CLI uses (Claude Code 2.1.197: 10 s; Qwen Code
# 0.12: 10 s), with room for a loaded machine.
TOUCH_EVERY = 2.0
POLL = 0.05


class Held:
    """One lock this process may hold. Subclasses say how it is made, tested and removed."""

    def __init__(self, path: str, *, stale_after: float, record: str | None = None) -> None:
        self.path = path
        self.stale_after = stale_after
        # A file of wrap's holding the identity of the lock it made, so that one left by a
        # killed wrap (no live wrap can hold it: we hold wrap's own lock) is taken over at once.
        self.record = record
        self.held = False

    # -- to implement
    def _create(self) -> bool:
        raise NotImplementedError

    def _remove(self) -> None:
        raise NotImplementedError

    def _is_ours(self) -> bool:
        return True

    # -- shared
    def acquire(
        self,
        *,
        timeout: float,
        clock: Callable[[], float],
        sleep: Callable[[float], None],
        wall: Callable[[], float] = time.time,
        what: str,
    ) -> None:
        start = clock()
        while not self.try_acquire(wall):
            if clock() - start >= timeout:
                raise LockTimeout(
                    f"{self.path} is held by {what}; if it is not running, remove it "
                    f"({'rmdir' if isinstance(self, LockDir) else 'rm'} {self.path})"
                )
            sleep(POLL)

    def try_acquire(self, wall: Callable[[], float] = time.time) -> bool:
        for _ in range(3):
            if self._create():
                self.held = True
                self._remember()
                HEARTBEAT.add(self)
                return True
            try:
                st = os.stat(self.path, follow_symlinks=False)
            except FileNotFoundError:
                continue  # released between our create and stat: try again at once
            if wall() - st.st_mtime > self.stale_after or _identity(st) == _read(self.record):
                # Abandoned: its holder died (the CLI's own rule), or a dead wrap made it.
                with contextlib.suppress(OSError):
                    self._remove()
                continue
            return False
        return False

    def release(self) -> None:
        if not self.held:
            return
        HEARTBEAT.discard(self)
        self.held = False
        if self._is_ours():
            with contextlib.suppress(OSError):
                self._remove()
        if self.record:
            with contextlib.suppress(OSError):
                os.unlink(self.record)

    def touch(self) -> None:
        """Keep the lock alive for the CLI's staleness check (and re-record its identity)."""
        if not self._is_ours():
            return
        with contextlib.suppress(OSError):
            os.utime(self.path, follow_symlinks=False)
            self._remember()

    def _remember(self) -> None:
        if not self.record:
            return
        try:
            identity = _identity(os.stat(self.path, follow_symlinks=False))
            store.ensure_private_dir(os.path.dirname(self.record))  # 0700, and wrap's own
            flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_NOFOLLOW", 0)
            fd = os.open(self.record, flags, 0o600)
            with os.fdopen(fd, "w", encoding="ascii") as f:
                f.write(identity)
        except OSError:
            pass  # only costs a wait after a crash


class LockDir(Held):
    """proper-lockfile's lock: a directory made with mkdir (atomic), removed on release."""

    def _create(self) -> bool:
        try:
            os.mkdir(self.path, 0o700)
        except FileExistsError:
            return False
        except OSError as e:
            # A directory we cannot write (read-only, full) holds no lock to exclude us from;
            # the write-back will fail there anyway and keep the new token elsewhere.
            return e.errno != errno.EEXIST
        return True

    def _remove(self) -> None:
        os.rmdir(self.path)


class LockFile(Held):
    """Qwen Code's lock: a file created with O_EXCL holding a random id, unlinked on release."""

    def __init__(self, path: str, *, stale_after: float) -> None:
        super().__init__(path, stale_after=stale_after)
        import secrets

        self.token = secrets.token_hex(16)

    def _create(self) -> bool:
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
        try:
            fd = os.open(self.path, flags, 0o600)
        except FileExistsError:
            return False
        except OSError:
            return True  # nobody can hold a lock in a directory we cannot write
        with os.fdopen(fd, "w", encoding="ascii") as f:
            f.write(self.token)
        return True

    def _is_ours(self) -> bool:
        try:
            with open(self.path, encoding="ascii", errors="replace") as f:
                return f.read().strip() == self.token
        except OSError:
            return False

    def _remove(self) -> None:
        os.unlink(self.path)


class Heartbeat:
    """A daemon thread that touches every held lock each TOUCH_EVERY seconds."""

    def __init__(self) -> None:
        self._mutex = threading.Lock()
        self._held: list[Held] = []
        self._thread: threading.Thread | None = None
        self._wake = threading.Event()

    def add(self, lock: Held) -> None:
        with self._mutex:
            self._held.append(lock)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="wrap-heartbeat")
                self._thread.daemon = True
                self._thread.start()

    def discard(self, lock: Held) -> None:
        with self._mutex:
            if lock in self._held:
                self._held.remove(lock)

    def _run(self) -> None:
        while True:
            self._wake.wait(TOUCH_EVERY)
            with self._mutex:
                for lock in list(self._held):
                    lock.touch()


HEARTBEAT = Heartbeat()


def _identity(st: os.stat_result) -> str:
    return f"{st.st_ino}:{st.st_mtime_ns}"


def _read(record: str | None) -> str | None:
    if not record:
        return None
    try:
        return store.read_private(record).decode("ascii").strip()  # no symlink, no FIFO
    except (OSError, ValueError):
        return None
