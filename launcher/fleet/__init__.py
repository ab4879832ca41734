"""One account shared by several machines: its record lives in a store the user already runs.

The store is also the lock, so exactly one machine refreshes and the refresh token leaves the
store only for the machine that is refreshing. Each backend (etcd.py, redis.py, openbao.py)
implements the small interface below; protocol.py is the algorithm and never learns which.
"""

from __future__ import annotations

from typing import Protocol

from launcher import exitcodes
from launcher.errors import RefreshError, WrapError


class FleetError(WrapError):
    """The store cannot be reached, refused wrap (authentication, TLS), or a record is
    unreadable: the gate fails open, the fleet commands exit 6."""

    exit_code = exitcodes.FLEET_UNAVAILABLE


def unreachable(where: str, error: Exception) -> FleetError:
    """The store at WHERE could not be spoken to over HTTP. A network failure's own words are
    kept (refused, timed out, a certificate); no other error's, which may quote a header the
    request carried (the store's token) whole."""
    import httpx

    said = str(error) if isinstance(error, httpx.NetworkError | httpx.TimeoutException) else ""
    return FleetError(f"cannot reach the fleet store {where}: {said or type(error).__name__}")


class FleetConflict(WrapError):
    """`fleet push`: the record holds another login (another refresh token chain)."""

    exit_code = exitcodes.FLEET_CONFLICT


class FleetRefused(RefreshError):
    """No refresh may be asked for: the record's token was rejected, or a refresh on another
    machine may have spent it. Never `rejected` for the gate: a local login would not reach the
    store, so only `wrap fleet push` after a login mends it."""

    def __init__(self, message: str) -> None:
        super().__init__(message, sent=False)


class Stored:
    """A value as read from the store with its version: the compare-and-swap token (etcd's
    mod_revision, OpenBao's KV version, the old value itself in Redis). VALUE None: absent."""

    __slots__ = ("value", "version")

    def __init__(self, value: bytes | None, version: object) -> None:
        self.value = value
        self.version = version


class Lease:
    """The store's lock on one record, held by this process until released or expired."""

    __slots__ = ("handle", "name", "owner", "ttl")

    def __init__(self, name: str, owner: str, ttl: float, handle: object = None) -> None:
        self.name = name
        # A JSON object naming the machine and a random id; unique per acquisition.
        self.owner = owner
        self.ttl = ttl
        # Backend data: etcd's lease id, OpenBao's claim version.
        self.handle = handle


class Backend(Protocol):
    """What protocol.py needs of a store. Every method raises FleetError when the store cannot
    be reached or refuses wrap; none ever logs a value."""

    where: str  # the store's URL without any secret, for messages

    def try_lock(self, name: str, owner: str, ttl: float) -> Lease | None:
        """Take the lock on NAME for TTL seconds if nobody holds it; None when somebody does."""
        ...

    def keep(self, lease: Lease) -> bool:
        """Extend the lease by its TTL; False when it is no longer ours."""
        ...

    def unlock(self, lease: Lease) -> None:
        """Release the lock if it is still ours (best effort: it expires anyway)."""
        ...

    def lock_owner(self, name: str) -> str | None:
        """The owner string of NAME's current lock holder, None when the lock is free."""
        ...

    def read(self, name: str) -> Stored: ...

    def write(
        self, name: str, value: bytes, expected: Stored, lease: Lease | None
    ) -> Stored | None:
        """Write VALUE only if NAME is still at EXPECTED's version and, given a LEASE, the lock
        is still that lease's; the new Stored, or None when refused."""
        ...

    def names(self) -> list[str]:
        """Every record name under the prefix (not the locks)."""
        ...

    def close(self) -> None: ...
