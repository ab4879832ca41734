"""codex's locks around `auth.json` (0.169.0 and 0.171.0, read from their behaviour under strace).

codex sends its refresh holding no lock, then, to write the answer, takes `flock` on
`<CODEX_HOME>/auth.lock` and then on `auth.json.lock`, re-reads, and replaces the file (temp
file and rename) only if both tokens are still the ones it read. wrap takes the same two locks,
in the same order, around each of its writes, so that its re-check and replace and codex's are
never interleaved. Nothing shows that a codex refresh is in flight before it writes: two
refreshers that both find the token already expired can still race (see the README).
"""

from __future__ import annotations

import contextlib
import fcntl
import os

from launcher.vendors import Locks

TYPE_CHECKING = False  # typing itself costs ~2 ms of import, paid by every launch that waits
if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

# The newest release these facts were checked with (launcher/vendors/installed.py compares).
CHECKED = "0.171.0"

LOCK_NAMES = ("auth.lock", "auth.json.lock")
# 0.171.0's sign-in lock ("Another sign-in for this credential is in progress. Finish or
# cancel it, then retry."), named in its binary beside the login code. A plain `codex login`
# (browser or --device-auth) through the proxy took only the two locks above, at its start, so
# wrap honours this one as a held flock in the credentials' directory and nothing more: a file
# left behind by a killed codex stops no login.
LOGIN_LOCK = ".login.lock"
# codex holds them for one write; one held longer belongs to a hung process, and the rotated
# token in our hands must reach the disk regardless.
WRITE_WAIT_CAP = 10.0
POLL = 0.05


class CodexLocks(Locks):
    def __init__(
        self,
        credentials_path: str,
        *,
        clock: Callable[[], float],
        sleep: Callable[[float], None],
    ) -> None:
        directory = os.path.dirname(os.path.abspath(credentials_path))
        self.paths = [os.path.join(directory, name) for name in LOCK_NAMES]
        self.clock = clock
        self.sleep = sleep

    @contextlib.contextmanager
    def write(self) -> Iterator[None]:
        start = self.clock()
        fds: list[int] = []
        try:
            for path in self.paths:
                try:
                    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)
                except OSError:
                    continue  # a directory we cannot write holds no lock of codex's either
                fds.append(fd)
                while True:
                    try:
                        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                        break
                    except BlockingIOError:
                        if self.clock() - start >= WRITE_WAIT_CAP:
                            break  # write without it rather than lose a rotated token
                        self.sleep(POLL)
            yield
        finally:
            for fd in fds:
                os.close(fd)  # closing releases the flock


def sign_in_in_progress(credentials_path: str) -> str | None:
    """The sign-in lock beside CREDENTIALS_PATH when another process holds it, else None."""
    path = os.path.join(os.path.dirname(os.path.abspath(credentials_path)), LOGIN_LOCK)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:
        return None  # none there: nobody is signing in
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return path
    except OSError:
        return None
    finally:
        os.close(fd)  # closing releases our probe
    return None
