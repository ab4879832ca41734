"""Keepalive's own memory, in wrap's state dir under keepalive/: no token values, ever.

last-pass.json  what the last pass did (rewritten by every pass: `wrap keepalive status` reads it)
notices.json    the accounts seen and the conditions notified, written only when they change
pass.lock       held for the length of a pass, so that two passes never overlap
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
from typing import TYPE_CHECKING, Any

from launcher import store

if TYPE_CHECKING:
    from collections.abc import Iterator

LAST_PASS = "last-pass.json"
NOTICES = "notices.json"


def folder(state_dir: str) -> str:
    return os.path.join(state_dir, "keepalive")


def load(state_dir: str, name: str) -> dict[str, Any]:
    """The file's object; an empty one when absent or unreadable (it is a cache)."""
    try:
        # wrap's own file: never through a link or a FIFO, never another user's.
        value = json.loads(store.read_private(os.path.join(folder(state_dir), name)))
    except (OSError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}


def save(state_dir: str, name: str, value: dict[str, Any]) -> None:
    data = json.dumps(value, indent=1, sort_keys=True).encode() + b"\n"
    store.write_private(os.path.join(folder(state_dir), name), data)


@contextlib.contextmanager
def pass_lock(state_dir: str) -> Iterator[bool]:
    """Yields False when another pass holds it: overlapping passes would notify twice."""
    store.ensure_dir(folder(state_dir))
    fd = os.open(os.path.join(folder(state_dir), "pass.lock"), os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        yield True
    finally:
        os.close(fd)  # closing releases the lock
