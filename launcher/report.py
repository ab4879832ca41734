"""What wrap knows about one credentials file, as the contract's JSON object."""

from __future__ import annotations

import os
import time

from launcher import credentials, exitcodes, policy, state, stores
from launcher.errors import CredentialsError

TYPE_CHECKING = False  # typing itself costs ~4 ms of import on the --check-only path
if TYPE_CHECKING:
    from collections.abc import Callable, Mapping
    from typing import Any

    from launcher.config import Settings

EXIT_FOR_STATE = {
    policy.FRESH: exitcodes.FRESH,
    policy.EXPIRING: exitcodes.EXPIRING,
    policy.EXPIRED: exitcodes.EXPIRED,
    credentials.MISSING: exitcodes.NO_CREDENTIALS,
    credentials.INVALID: exitcodes.NO_CREDENTIALS,
}


# Every JSON object wrap prints says which shape it has; raised only when a key changes meaning
# or goes away (new keys may appear without it).
SCHEMA = 1


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


def iso(ts: float | None) -> str | None:
    if ts is None:
        return None
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))


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


def login_state(obj: dict[str, Any], threshold: int) -> str:
    """The login's deadline against THRESHOLD (the configured one: see policy.login_state)."""
    left = obj.get("login_expires_in_seconds")
    return policy.login_state(None if left is None else float(left), 0.0, threshold)


def exit_code(obj: dict[str, Any], threshold: int) -> int:
    """--check-only's code: the token's state, or the login's when that is worse (a fresh
    token under a login that ends within THRESHOLD is 1, under one that has ended 3)."""
    return EXIT_FOR_STATE[policy.exit_state(obj["state"], login_state(obj, threshold))]


def human_duration(seconds: float) -> str:
    """'3 d 4 h', '25 min', '40 s': the two largest units, for people."""
    s = int(abs(seconds))
    days, rem = divmod(s, 86400)
    hours, rem = divmod(rem, 3600)
    minutes, secs = divmod(rem, 60)
    if days:
        text = f"{days} d {hours} h" if hours else f"{days} d"
    elif hours:
        text = f"{hours} h {minutes} min" if minutes else f"{hours} h"
    elif minutes:
        text = f"{minutes} min"
    else:
        text = f"{secs} s"
    return text


def summary_line(obj: dict[str, Any], threshold: int | None = None) -> str:
    """One human line for a report object; THRESHOLD (the configured one) judges the login."""
    head = f"{obj['profile']}: {obj['state']}"
    login = login_state(obj, obj["threshold_seconds"] if threshold is None else threshold)
    if obj["state"] not in (credentials.MISSING, credentials.INVALID) and login != policy.FRESH:
        head += ", login ended" if login == policy.EXPIRED else ", login ending"
    if obj["state"] in (credentials.MISSING, credentials.INVALID):
        return f"{head}: {obj['where']}"
    left = obj["expires_in_seconds"]
    if left is None:
        when = "no expiry recorded"
    elif left > 0:
        when = f"expires {obj['expires_at']} (in {human_duration(left)})"
    else:
        when = f"expired {obj['expires_at']} ({human_duration(left)} ago)"
    shown = human_duration(obj["threshold_seconds"]) if obj["threshold_seconds"] else "0"
    return f"{head}: {obj['where']} {when}; refresh threshold {shown}{_login_words(obj, login)}"


def _login_words(obj: dict[str, Any], login: str) -> str:
    left = obj["login_expires_in_seconds"]
    if left is None:
        return ""
    renew = f": {login_command(obj['profile'], obj['path'])} renews it"
    if login == policy.EXPIRED:
        return f"; the login ended {obj['login_expires_at']} ({human_duration(left)} ago){renew}"
    if login == policy.EXPIRING:
        return f"; the login ends {obj['login_expires_at']} (in {human_duration(left)}){renew}"
    return f"; login ends {obj['login_expires_at']}"


def login_command(profile: str, path: str, default_path: str | None = None) -> str:
    """The one command that renews this account's login."""
    if default_path is None or os.path.realpath(path) == os.path.realpath(default_path):
        return f"'wrap login {profile}'"
    return f"'wrap --profile {profile} login {path}'"
