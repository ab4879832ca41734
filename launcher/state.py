"""Per-credential memory between launches, in the platform's state directory.

Holds no token values: when the last refresh happened, the token lifetime it saw (for the
lifetime rule), counts, the last error, and whether automatic refresh is suspended.
"""

from __future__ import annotations

import os

from launcher import gate, store

_FIELDS = (
    "path",
    "last_refreshed",
    "lifetime",
    "refresh_count",
    "consecutive_failures",
    "last_error",
    "last_failed",
    "suspended_at_version",
    "unanswered",
    "pending_recovery",
    "pending_version",
    "blocked_until",
    "blocked_count",
    "blocked_version",
    "unreachable_until",
    "unreachable_count",
    "unreachable_url",
    "unreachable_version",
    "login_warned",
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
        # Digest of a refresh token whose request got no usable answer (a timeout after
        # sending, a 5xx): the server may have rotated it, so it is not sent again blindly.
        self.unanswered: str | None = None
        # A refreshed document that could not be written to the file, kept in this recovery
        # file, and the file's fingerprint then: until the file changes, its token is the one.
        self.pending_recovery: str | None = None
        self.pending_version: str | None = None
        # The token endpoint's firewall refused wrap (not an OAuth answer): no launch asks it
        # again before BLOCKED_UNTIL while the file is the one it refused (BLOCKED_VERSION);
        # BLOCKED_COUNT refusals in a row make the cooldown grow.
        self.blocked_until: float | None = None
        self.blocked_count = 0
        self.blocked_version: str | None = None
        # The token endpoint (UNREACHABLE_URL, as configured) could not be reached: no launch
        # tries it again before UNREACHABLE_UNTIL while the file is the one it was tried for
        # (UNREACHABLE_VERSION); UNREACHABLE_COUNT failures in a row make the cooldown grow.
        self.unreachable_until: float | None = None
        self.unreachable_count = 0
        self.unreachable_url: str | None = None
        self.unreachable_version: str | None = None
        # When the gate last said that the login ends soon: it says so at most once a day.
        self.login_warned: float | None = None

    def blocked(self, now: float, version: str | None) -> bool:
        return (
            self.blocked_until is not None
            and now < self.blocked_until
            and self.blocked_version == version
        )

    def unreachable(self, now: float, url: str, version: str | None) -> bool:
        """Whether URL is in its cooldown after a failure to connect, for this file."""
        return (
            self.unreachable_until is not None
            and now < self.unreachable_until
            and self.unreachable_url == url
            and self.unreachable_version == version
        )

    def to_json(self) -> dict[str, object]:
        return {name: getattr(self, name) for name in _FIELDS}


def state_path(state_dir: str, cred_path: str, *, resolved: bool = False) -> str:
    return os.path.join(_folder(state_dir), key(cred_path, resolved=resolved) + ".json")


def _folder(state_dir: str) -> str:
    return os.path.join(state_dir, "credentials")


def key(cred_path: str, *, resolved: bool = False) -> str:
    """A short name for a credentials file in wrap's own directories: its base name, for people
    reading the directory, and a hash of its resolved path, so that any path length fits."""
    return gate.state_key(cred_path if resolved else os.path.realpath(cred_path))


def token_digest(token: str) -> str:
    """A fingerprint of a token for wrap's state: tells two tokens apart, never reveals one."""
    from launcher.digest import sha256_hex

    return sha256_hex(token.encode("utf-8", "surrogatepass"))[:16]


def listing(state_dir: str) -> frozenset[str] | None:
    """The names of the state files there are, for load(): a caller loading thousands (status)
    lists the folder once rather than trying to open a file for every account that has none.
    None when the folder cannot be listed: then every file is tried."""
    try:
        return frozenset(os.listdir(_folder(state_dir)))
    except FileNotFoundError:
        return frozenset()
    except OSError:
        return None


_parts: tuple[frozenset[str], frozenset[str]] | None = None


def _readable_parts(listed: frozenset[str]) -> frozenset[str]:
    """The readable parts (gate.state_key_name) of LISTED's names, worked out once a listing."""
    global _parts
    if _parts is None or _parts[0] is not listed:
        _parts = (listed, frozenset(n.rpartition("-")[0] for n in listed if n.endswith(".json")))
    return _parts[1]


def load(
    state_dir: str,
    cred_path: str,
    *,
    resolved: bool = False,
    listed: frozenset[str] | None = None,
) -> CredState:
    """The remembered state; a fresh one when there is none or it is unreadable (it is a cache).

    RESOLVED: CRED_PATH is already the real path. LISTED: what listing() found; a file not in
    it is not looked for."""
    st = CredState(cred_path if resolved else os.path.realpath(cred_path))
    # A file whose readable part no listed name has has no state: no hash to compute.
    if listed is not None:
        parts = _readable_parts(listed)
        if not parts or gate.state_key_name(st.path) not in parts:
            return st
    name = key(st.path, resolved=True) + ".json"
    if listed is not None and name not in listed:
        return st
    path = os.path.join(_folder(state_dir), name)
    try:
        raw = gate.loads(store.read_private(path))
    except (OSError, ValueError):
        return st
    for name, value in gate.state_values(raw).items():
        setattr(st, name, value)
    return st


def save(state_dir: str, st: CredState) -> None:
    import json  # only to write: its decoder imports re, which a launch that waits never needs

    data = json.dumps(st.to_json(), indent=2).encode() + b"\n"
    store.write_private(state_path(state_dir, st.path, resolved=True), data)


# Claude documents this variable for tokens from `claude setup-token`.
ENV_TOKEN = "CLAUDE_CODE_OAUTH_TOKEN"


def backup_dir(state_dir: str, cred_path: str) -> str:
    """Where the backups of a credentials file are kept (whole documents: 0700, files 0600)."""
    return os.path.join(state_dir, "backups", key(cred_path))


def env_token_path(state_dir: str, cred_path: str) -> str:
    """Where a setup-command token kept for the program (not in its file) lives, 0600."""
    return os.path.join(state_dir, "tokens", os.path.basename(state_path(state_dir, cred_path)))
