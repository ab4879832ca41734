"""What wrap knows about one credentials file, as the contract's JSON object."""

from __future__ import annotations

import os

from launcher import credentials, gate, policy, state, stores
from launcher.errors import CredentialsError

TYPE_CHECKING = False  # typing itself costs ~4 ms of import on the --check-only path
if TYPE_CHECKING:
    from collections.abc import Callable, Mapping
    from typing import Any

    from launcher.config import Settings

iso = gate.iso


SCHEMA = gate.SCHEMA


def dumps(value: dict[str, Any] | list[dict[str, Any]], *, tty: bool | None = None) -> str:
    """The JSON of every command: each object with its "schema", indented for a person at a
    terminal, one line for a program (a pipe, a file, CI)."""
    import json
    import sys

    for obj in value if isinstance(value, list) else [value]:
        obj.setdefault("schema", SCHEMA)
    if tty is None:
        tty = sys.stdout.isatty()
    return json.dumps(value, indent=2 if tty else None)


def tilde(path: str, env: Mapping[str, str]) -> str:
    """PATH with the home directory as ~, for people (JSON keeps the whole path)."""
    home = (env.get("HOME") or os.path.expanduser("~")).rstrip("/")
    if home and (path == home or path.startswith(home + "/")):
        return "~" + path[len(home) :]
    return path


def describe(
    settings: Settings,
    state_dir: str,
    now: float,
    name: Callable[[dict[str, Any] | None], str | None] | None = None,
    env: Mapping[str, str] | None = None,
) -> tuple[dict[str, Any], str | None]:
    """(the JSON object, the problem line for missing/invalid or None).

    NAME, given the parsed document (None when unusable), names the account."""
    return describe_with(settings, state.load(state_dir, settings.credentials), now, name, env)


def describe_with(
    settings: Settings,
    remembered: state.CredState,
    now: float,
    name: Callable[[dict[str, Any] | None], str | None] | None = None,
    env: Mapping[str, str] | None = None,
) -> tuple[dict[str, Any], str | None]:
    """describe(), given the account's REMEMBERED state, loaded by the caller (status loads
    thousands, each by the real path it found when listing, from one listing of the folder)."""
    path = settings.credentials
    source = stores.for_settings(settings, os.environ if env is None else env)
    threshold = policy.effective_threshold(settings.threshold, remembered.lifetime)
    blocked = remembered.blocked_until
    out: dict[str, Any] = {
        "profile": settings.profile.name,
        "path": path,
        "account": None,
        "state": None,
        "expires_at": None,
        "expires_in_seconds": None,
        "threshold_seconds": threshold,
        "has_refresh_token": False,
        "last_refreshed": iso(remembered.last_refreshed),
        "refresh_count": remembered.refresh_count,
        "consecutive_failures": remembered.consecutive_failures,
        "login_expires_at": None,
        "login_expires_in_seconds": None,
        # Where the account lives: "file", "keychain" or "keyring", and the path or item (set
        # again after the read: a Keychain account may be in its file fallback).
        "store": source.kind,
        "where": source.where,
        # Only a cooldown still running needs the file's version (a stat, or a Keychain read).
        "refresh_blocked_until": (
            iso(blocked)
            if blocked is not None
            and now < blocked
            and remembered.blocked(now, source.fingerprint())
            else None
        ),
    }
    try:
        data = source.read()
        doc, creds = credentials.parse(settings.profile, data, source.where)
    except CredentialsError as e:
        out["state"] = e.state
        out["account"] = name(None) if name else None
        return out, str(e)
    out["store"], out["where"] = source.kind, source.where
    out["account"] = name(doc) if name else None
    out["state"] = policy.token_state(creds.expires_at, now, threshold)
    out["has_refresh_token"] = bool(creds.refresh_token)
    if creds.expires_at is not None:
        out["expires_at"] = iso(creds.expires_at)
        out["expires_in_seconds"] = int(creds.expires_at - now)
    if creds.login_expires_at is not None:
        out["login_expires_at"] = iso(creds.login_expires_at)
        out["login_expires_in_seconds"] = int(creds.login_expires_at - now)
    return out, None


# The words and codes of a report live in launcher/gate.py, where --check-only's fast path
# uses them too.
login_state = gate.login_state
exit_code = gate.exit_code
human_duration = gate.human_duration
summary_line = gate.summary_line
login_command = gate.login_command
