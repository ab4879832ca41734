"""Per-credential memory between launches, in the platform's state directory.

Holds no token values: when the last refresh happened, the token lifetime it saw (for the
lifetime rule), counts, the last error, and whether automatic refresh is suspended.
"""

from __future__ import annotations

import json
import os

from launcher import store

_FIELDS = (
    "path",
    "last_refreshed",
    "lifetime",
    "refresh_count",
    "consecutive_failures",
    "last_error",
    "last_failed",
    "suspended_at_version",
)


class CredState:
    __slots__ = _FIELDS

    def __init__(self, path: str) -> None:
        self.path = path
        self.last_refreshed: float | None = None
        self.lifetime: float | None = None
        self.refresh_count = 0
        self.consecutive_failures = 0
        self.last_error: str | None = None
        self.last_failed: float | None = None
        # The credentials file's fingerprint when its refresh token was rejected: automatic
        # refresh stays off until the file changes (someone logged in) or a forced refresh.
        self.suspended_at_version: str | None = None

    def to_json(self) -> dict[str, object]:
        return {name: getattr(self, name) for name in _FIELDS}


def state_path(state_dir: str, cred_path: str, *, resolved: bool = False) -> str:
    # The resolved path itself, escaped, names the file: readable, and no hashlib on the hot path.
    real = cred_path if resolved else os.path.realpath(cred_path)
    key = real.replace("%", "%25").replace(os.sep, "%2F")
    return os.path.join(state_dir, "credentials", key + ".json")


def load(state_dir: str, cred_path: str) -> CredState:
    """The remembered state; a fresh one when there is none or it is unreadable (it is a cache)."""
    st = CredState(os.path.realpath(cred_path))
    try:
        raw = json.loads(store.read_private(state_path(state_dir, st.path, resolved=True)))
    except (OSError, ValueError):
        return st
    if not isinstance(raw, dict):
        return st
    for name, kind in (
        ("last_refreshed", (int, float)),
        ("lifetime", (int, float)),
        ("refresh_count", (int,)),
        ("consecutive_failures", (int,)),
        ("last_error", (str,)),
        ("last_failed", (int, float)),
        ("suspended_at_version", (str,)),
    ):
        value = raw.get(name)
        if isinstance(value, kind) and not isinstance(value, bool):
            setattr(st, name, value)
    return st


def save(state_dir: str, st: CredState) -> None:
    data = json.dumps(st.to_json(), indent=2).encode() + b"\n"
    store.write_private(state_path(state_dir, st.path, resolved=True), data)


# Claude documents this variable for tokens from `claude setup-token`.
ENV_TOKEN = "CLAUDE_CODE_OAUTH_TOKEN"


def env_token_path(state_dir: str, cred_path: str) -> str:
    """Where a setup-command token kept for the program (not in its file) lives, 0600."""
    return os.path.join(state_dir, "tokens", os.path.basename(state_path(state_dir, cred_path)))
