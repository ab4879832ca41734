"""Qwen Code's lock around `oauth_creds.json` (0.12.0 and 0.24.x, read from their bundles).

`<dir>/oauth_creds.lock`, created with O_EXCL and holding a random id; another process calls it
abandoned when its mtime is older than 10 s (0.12) or 35 s (0.24). wrap takes one over only
past the larger and touches its own every 2 s. On a 400/401 from the token endpoint qwen
deletes oauth_creds.json, which is why sharing its refresh token without this lock loses it.
"""

from __future__ import annotations

import contextlib
import os

from launcher.vendors import Locks, released_on_signals
from launcher.vendors.held import LockFile

TYPE_CHECKING = False  # typing itself costs ~2 ms of import, paid by every launch that waits
if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

LOCK_NAME = "oauth_creds.lock"
STALE_AFTER = 35.0


class QwenLocks(Locks):
    def __init__(
        self,
        credentials_path: str,
        *,
        timeout: float,
        clock: Callable[[], float],
        sleep: Callable[[float], None],
    ) -> None:
        directory = os.path.dirname(os.path.abspath(credentials_path))
        self.lock = LockFile(os.path.join(directory, LOCK_NAME), stale_after=STALE_AFTER)
        self.timeout = timeout
        self.clock = clock
        self.sleep = sleep

    @contextlib.contextmanager
    def refresh(self) -> Iterator[None]:
        with released_on_signals():
            self.lock.acquire(
                timeout=self.timeout,
                clock=self.clock,
                sleep=self.sleep,
                what="another refresh (Qwen Code's own lock)",
            )
            try:
                yield
            finally:
                self.lock.release()
