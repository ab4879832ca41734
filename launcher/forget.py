"""`wrap forget [NAME|--all]`: remove what wrap keeps for an account, never the account itself.

What wrap keeps is its state (refresh count, cooldowns, the login warning's day), backups of the
credentials file (whole documents: refresh tokens included), a setup token kept for the program,
and the lock files it created beside the CLI's file and in its state directory. The credentials
themselves (the file, Keychain or keyring entry) belong to the CLI and are never touched; neither
are recovery copies, which may hold the only copy of a refresh token a server sent.
"""

from __future__ import annotations

import errno
import fcntl
import os
from typing import TYPE_CHECKING

from launcher import gate, lock, state, store

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

# Folders of the state directory that no single account owns: `--all` removes them too.
SHARED = ("config", "crashes", "keepalive")
# What `--all` leaves, and why: either may hold the only copy of a rotated refresh token.
KEPT = ("recovery", "fleet")


def account_paths(state_dir: str, cred_path: str) -> list[str]:
    """Everything wrap may have left for the account whose credentials are at CRED_PATH."""
    key = state.key(cred_path)
    return [
        state.state_path(state_dir, cred_path),
        state.env_token_path(state_dir, cred_path),
        state.backup_dir(state_dir, cred_path),
        lock.lock_path(cred_path),
        lock.lock_path(f"{cred_path}.login"),
        os.path.join(state_dir, "locks", f"{key}.lock"),
        os.path.join(state_dir, "locks", f"{key}.login.lock"),
    ]


def plan(state_dir: str, cred_paths: Iterable[str], *, everything: bool) -> list[str]:
    """The paths that exist and would be removed, in a stable order, without duplicates; never
    a guarded() state file."""
    wanted: list[str] = []
    for path in cred_paths:
        wanted += account_paths(state_dir, path)
    if everything:
        wanted += [os.path.join(state_dir, name) for name in SHARED]
        # The state files one by one: a guarded one stays (guarded()).
        wanted += _files(os.path.join(state_dir, "credentials"))
        wanted += [os.path.join(state_dir, name) for name in ("tokens", "locks")]
        wanted += [os.path.join(state_dir, "backups")]
    keep = set(guarded(state_dir))
    seen: set[str] = set()
    out = []
    for path in wanted:
        if path not in seen and path not in keep and os.path.lexists(path):
            seen.add(path)
            out.append(path)
    return out


def kept(state_dir: str) -> list[str]:
    """What forget leaves on purpose and the user may want to look at."""
    return [p for p in (os.path.join(state_dir, n) for n in KEPT) if os.path.lexists(p)]


def guarded(state_dir: str, cred_paths: Iterable[str] | None = None) -> list[str]:
    """State files forget must leave (of CRED_PATHS' accounts, or all): one that remembers a
    refresh token that got no answer (it may have rotated: without the memory, the next refresh
    replays it and the server revokes the login) or points at a pending recovery (the only copy
    of a new token)."""
    out = []
    files = _files(os.path.join(state_dir, "credentials"))
    if cred_paths is not None:
        mine = {state.state_path(state_dir, c) for c in cred_paths}
        files = [f for f in files if f in mine]
    for path in files:
        try:
            values = gate.state_values(gate.loads(store.read_private(path)))
        except (OSError, ValueError):
            continue
        if values.get("unanswered") or values.get("pending_recovery"):
            out.append(path)
    return out


def _files(directory: str) -> list[str]:
    try:
        names = sorted(os.listdir(directory))
    except OSError:
        return []
    return [os.path.join(directory, n) for n in names if n.endswith(".json")]


def remove(paths: Iterable[str], *, say: Callable[[str], None]) -> int:
    """Remove PATHS; a lock somebody holds is left (removing it would let a second process take
    a lock the first still holds). The number of paths left behind."""
    left = 0
    for path in paths:
        try:
            if os.path.isdir(path) and not os.path.islink(path):
                # File by file: a folder may hold a lock somebody holds (locks/, keepalive/).
                left += remove(sorted(os.path.join(path, n) for n in os.listdir(path)), say=say)
                if not os.listdir(path):
                    os.rmdir(path)
            elif path.endswith(".lock"):
                if not _unlink_lock(path):
                    say(f"{path} is held by a running refresh or login; left in place")
                    left += 1
            else:
                os.unlink(path)
        except FileNotFoundError:
            continue
        except OSError as e:
            say(f"could not remove {path}: {e.strerror or type(e).__name__}")
            left += 1
    return left


def _unlink_lock(path: str) -> bool:
    """Unlink a lock file while holding it, so no holder is cut loose (launcher/lock.py checks,
    once it has the lock, that the path still names the file it locked)."""
    try:
        fd = os.open(path, os.O_RDWR | os.O_NOFOLLOW)
    except OSError as e:
        if e.errno == errno.ELOOP:  # a symlink planted there: remove the link, not its target
            os.unlink(path)
            return True
        raise
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        os.unlink(path)
        return True
    finally:
        os.close(fd)
