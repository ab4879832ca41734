"""The locks a refresh holds: wrap's own on the file, then the vendor CLI's refresh lock."""

from __future__ import annotations

import contextlib
import os
import time

from launcher import lock, state, vendors

TYPE_CHECKING = False  # typing itself costs ~2 ms of import, paid by every launch that waits
if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Mapping

    from launcher.config import Settings


@contextlib.contextmanager
def refresh_locks(
    settings: Settings,
    state_dir: str,
    env: Mapping[str, str],
    *,
    on_wait: Callable[[], None] | None = None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> Iterator[vendors.Locks]:
    """wrap's lock on the file, then the refresh lock of the vendor's CLI (its write lock is
    the caller's to take around each write). Also what the fleet holds while it pulls."""
    with (
        wrap_lock(settings, state_dir, on_wait=on_wait, clock=clock, sleep=sleep),
        vendor_locks(settings, state_dir, env, clock=clock, sleep=sleep) as locks,
    ):
        yield locks


def wrap_lock(
    settings: Settings,
    state_dir: str,
    *,
    on_wait: Callable[[], None] | None,
    settled: Callable[[], bool] | None = None,
    clock: Callable[[], float],
    sleep: Callable[[float], None],
) -> contextlib.AbstractContextManager[bool]:
    """wrap's own lock on the file (launcher/lock.py): whether another process held it first."""
    path = settings.credentials
    return lock.locked(
        path,
        timeout=settings.lock_timeout,
        fallback=os.path.join(state_dir, "locks", key(state_dir, path) + ".lock"),
        on_wait=on_wait,
        settled=settled,
        clock=clock,
        sleep=sleep,
    )


@contextlib.contextmanager
def vendor_locks(
    settings: Settings,
    state_dir: str,
    env: Mapping[str, str],
    *,
    clock: Callable[[], float],
    sleep: Callable[[float], None],
) -> Iterator[vendors.Locks]:
    """The refresh lock of the vendor's CLI, taken under wrap's own."""
    locks = vendors.locks_for(
        settings.profile.vendor_lock,
        settings.credentials,
        env,
        timeout=settings.lock_timeout,
        record_dir=os.path.join(state_dir, "locks"),
        clock=clock,
        sleep=sleep,
    )
    with locks.refresh():
        yield locks


def key(state_dir: str, path: str) -> str:
    return state.key(path)
