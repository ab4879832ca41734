"""Claude Code's conventions around `.credentials.json`.

Observed in the shipped bundles of 2.1.197 and 2.1.218 (and the 2.1.330 and 2.1.337 builds'
behaviour); undocumented, so every fact below names where it was seen.

Locks (npm proper-lockfile, directory locks with `realpath: false`):
- a refresh takes `<dir>/.oauth_refresh.lock`, then the legacy `<realpath(dir)>.lock`
  (`~/.claude.lock` for the default dir); both are required, and on a contended legacy lock
  Claude releases the first and retries;
- every write of the credentials takes `<dir>/.storage-write.lock` (stale after 15 s);
- holders touch the directory's mtime every stale/2; a lock is stale after 10 s in 2.1.197 and
  60 s in 2.1.218, so wrap takes one over only past the larger, and touches its own every 2 s.

`<dir>` is `CLAUDE_SECURESTORAGE_CONFIG_DIR` if non-empty, else `CLAUDE_CONFIG_DIR`, else
`~/.claude`: the config dir, not the target of a symlinked credentials file.

While it holds the refresh lock, 2.1.330 writes `<dir>/.oauth_refresh.lock.owner` (pid,
procStart, pidDomain, pidSpace, lockBirthtimeMs, legacyLockBirthtimeMs); 2.1.337 may add
parentPid. The lock directory alone decides who holds it: wrap neither reads nor writes that
record, so a new key in it changes nothing (tests/test_vendor_facts.py records its keys).

Other token chains share the document (2.1.337): `mcpOAuth`, `chatHistoryOauth` (its own client
id, refreshed by Claude itself), `trustedDeviceByAccount`, `removedHybridSignIn` (the binary also
names `designOauth`, `cloudSessionsOauth`, `hybridOauth`, each with a refresh lock of its own).
wrap refreshes `claudeAiOauth` only, keeps every other key byte for byte and copies none of them
anywhere (fleet records, access-only copies).
"""

from __future__ import annotations

import contextlib
import hashlib
import os

from launcher.lock import LockTimeout
from launcher.vendors import Locks, released_on_signals
from launcher.vendors.held import POLL, LockDir

TYPE_CHECKING = False  # typing itself costs ~2 ms of import, paid by every launch that waits
if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Mapping

# The newest release these facts were checked with (launcher/vendors/installed.py compares).
CHECKED = "2.1.337"

REFRESH_LOCK = ".oauth_refresh.lock"
WRITE_LOCK = ".storage-write.lock"
# The largest staleness of the checked versions (2.1.197: 10 s; 2.1.218: 60 s): a live Claude
# of any of them touches its lock well within it.
REFRESH_STALE_AFTER = 60.0
# 15 s in both; a live holder touches it every 7.5 s.
WRITE_STALE_AFTER = 20.0
# A write lock that a live process keeps touching past this is not going to be released:
# the rotated token must reach the disk regardless.
WRITE_WAIT_CAP = 30.0


def config_dir(env: Mapping[str, str]) -> str:
    for var in ("CLAUDE_SECURESTORAGE_CONFIG_DIR", "CLAUDE_CONFIG_DIR"):
        value = env.get(var)
        if value:
            return value
    home = env.get("HOME") or os.path.expanduser("~")
    return os.path.join(home, ".claude")


def lock_dir(credentials_path: str, env: Mapping[str, str]) -> str:
    """The directory whose locks guard CREDENTIALS_PATH: Claude's config dir when the file is
    the one Claude uses (even through a symlink), else the file's own directory."""
    configured = config_dir(env)
    own = os.path.join(configured, ".credentials.json")
    if os.path.realpath(own) == os.path.realpath(credentials_path):
        return configured
    return os.path.dirname(os.path.abspath(credentials_path))


class ClaudeLocks(Locks):
    def __init__(
        self,
        credentials_path: str,
        env: Mapping[str, str],
        *,
        timeout: float,
        record_dir: str,
        clock: Callable[[], float],
        sleep: Callable[[float], None],
    ) -> None:
        directory = lock_dir(credentials_path, env)
        self.directory = directory
        self.timeout = timeout
        self.clock = clock
        self.sleep = sleep

        def record(path: str) -> str:
            digest = hashlib.sha256(os.path.abspath(path).encode()).hexdigest()[:16]
            return os.path.join(record_dir, f"{digest}.held")

        primary = os.path.join(directory, REFRESH_LOCK)
        legacy = os.path.realpath(directory) + ".lock"
        write = os.path.join(directory, WRITE_LOCK)
        self.primary = LockDir(primary, stale_after=REFRESH_STALE_AFTER, record=record(primary))
        self.legacy = LockDir(legacy, stale_after=REFRESH_STALE_AFTER, record=record(legacy))
        self.storage = LockDir(write, stale_after=WRITE_STALE_AFTER, record=record(write))

    @contextlib.contextmanager
    def refresh(self) -> Iterator[None]:
        with released_on_signals():
            start = self.clock()
            try:
                while True:
                    left = self.timeout - (self.clock() - start)
                    self.primary.acquire(
                        timeout=max(left, 0.0),
                        clock=self.clock,
                        sleep=self.sleep,
                        what="another refresh (Claude Code's own lock)",
                    )
                    if self.legacy.try_acquire():
                        break
                    # Claude's own answer to a contended legacy lock: let go and retry, so
                    # that two holders of one lock each never wait on the other's.
                    self.primary.release()
                    if self.clock() - start >= self.timeout:
                        raise LockTimeout(
                            f"{self.legacy.path} is held by another refresh (Claude Code's "
                            f"legacy lock); if no claude is running, remove it "
                            f"(rmdir {self.legacy.path})"
                        )
                    self.sleep(POLL * 4)
                yield
            finally:
                self.legacy.release()
                self.primary.release()

    @contextlib.contextmanager
    def write(self) -> Iterator[None]:
        start = self.clock()
        while not self.storage.try_acquire():
            if self.clock() - start >= WRITE_WAIT_CAP:
                break  # write without it rather than lose a rotated token
            self.sleep(POLL)
        try:
            yield
        finally:
            self.storage.release()


# The refresh request as Claude sends it is profile data: launcher/profiles.py CLAUDE_SCOPES.
