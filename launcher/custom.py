"""Profiles from config.toml: overrides of the built-ins and new ones, validated key by key.

[profiles.router]                 # a new profile (or `base = "qwen"` to start from one)
paths = ["~/.routecodex/auth/*.json"]
access_token = "access_token"     # dotted field paths
refresh_token = "refresh_token"
expiry = "expiry_date"
expiry_unit = "ms"                # ms | s | iso | jwt | last_refresh
token_url = "https://example.com/oauth/token"
client_id = "..."
body = "form"                     # json | form
"""

from __future__ import annotations

import os

from launcher import profiles
from launcher.errors import UsageError

TYPE_CHECKING = False  # typing costs ~2 ms on the --check-only path
if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import Any

    from launcher.profiles import Profile

# config key -> (Profile attribute, expected type, accepted values or None)
_PROFILE_KEYS: dict[str, tuple[str, type | tuple[type, ...], tuple[str, ...] | None]] = {
    "paths": ("default_paths", list, None),
    "path": ("default_paths", str, None),
    "programs": ("programs", list, None),
    "access_token": ("access_field", str, None),
    "refresh_token": ("refresh_field", str, None),
    "expiry": ("expiry_field", str, None),
    "expiry_unit": ("expiry_unit", str, profiles.EXPIRY_UNITS),
    "expiry_interval": ("expiry_interval", (str, int, float), None),
    "refreshed_field": ("refreshed_field", str, None),
    "id_token": ("id_token_field", str, None),
    "token_url": ("token_url", str, None),
    "client_id": ("client_id", str, None),
    "client_secret": ("client_secret", str, None),
    "client_auth": ("client_auth", str, ("body", "basic")),
    "body": ("body", str, ("json", "form")),
    "extra_body": ("extra_body", dict, None),
    "headers": ("headers", dict, None),
    "request": ("request", dict, None),
    "response": ("response", dict, None),
    "copy_fields": ("copy_fields", dict, None),
    "login_hint": ("login_hint", str, None),
    "login_method": ("login_method", str, ("cli", "setup", "browser")),
    # The same choice in words: the vendor's own login command, Claude's setup token, or
    # wrap's browser login with PKCE.
    "login": ("login_method", str, ("cli", "setup-token", "browser")),
    "setup_command": ("setup_command", list, None),
    "login_command": ("login_command", list, None),
    "login_check": ("login_check", list, None),
    "login_args_headless": ("login_args_headless", list, None),
    "login_expiry": ("login_expiry_field", str, None),
    "login_expiry_unit": ("login_expiry_unit", str, ("ms", "s", "iso")),
    "authorize_url": ("authorize_url", str, None),
    "authorize_params": ("authorize_params", dict, None),
    "scopes": ("scopes", str, None),
    "redirect_ports": ("redirect_ports", list, None),
    "redirect_path": ("redirect_path", str, None),
    # The variable that points the CLI at an account's directory; a path starts with ${VAR}.
    "dir_env": ("config_dir_env", str, None),
}
# Settings a profile section may also carry (read by config.resolve).
SETTING_KEYS = frozenset(
    {
        "credentials",
        "fleet",
        "threshold",
        "strict",
        "refresh_timeout",
        "lock_timeout",
        "no_browser",
        "login_timeout",
        "login_warning",
        "setup_token",
        "refresh_via",
        "store",
    }
)
# accounts and dirs (named accounts, bound directories) are read by config.bound_account.
_OTHER_KEYS = frozenset({"base", "alias", "aliases", "accounts", "dirs"})
_REQUIRED_NEW = ("access_token", "expiry", "expiry_unit")


def build(table: Mapping[str, Any], config_path: str) -> dict[str, Profile]:
    """Built-in profiles with the config's overrides, plus the config's own profiles."""
    sections = table.get("profiles", {})
    if not isinstance(sections, dict):
        raise UsageError(f"config file {config_path}: 'profiles' must be a table ([profiles.NAME])")
    known = dict(profiles.BUILTIN)
    for name, section in sections.items():
        where = f"config file {config_path}, [profiles.{name}]"
        if not isinstance(section, dict):
            raise UsageError(f"{where}: must be a table")
        base_name = section.get("base", name if name in known else None)
        if base_name is not None and base_name not in profiles.BUILTIN:
            accepted = ", ".join(sorted(profiles.BUILTIN))
            raise UsageError(f"{where}: base {base_name!r} is not a built-in profile ({accepted})")
        changes = _changes(section, where)
        if base_name is None:
            missing = [k for k in _REQUIRED_NEW if k not in section]
            if missing or not ("paths" in section or "path" in section):
                need = ", ".join(
                    missing + ([] if "paths" in section or "path" in section else ["paths"])
                )
                raise UsageError(f"{where}: a new profile needs {need}")
            changes.setdefault("refresh_field", "refresh_token")
            known[name] = profiles.Profile(name, **changes)
        else:
            if "programs" not in changes and base_name != name:
                changes["programs"] = (name,)
            known[name] = profiles.BUILTIN[base_name].replace(name=name, **changes)
    return known


def _changes(section: Mapping[str, Any], where: str) -> dict[str, Any]:
    changes: dict[str, Any] = {}
    accepted = sorted([*_PROFILE_KEYS, *SETTING_KEYS, *_OTHER_KEYS])
    for key, value in section.items():
        if key in SETTING_KEYS or key in _OTHER_KEYS:
            continue
        if key not in _PROFILE_KEYS:
            raise UsageError(f"{where}: unknown key {key!r}; accepted: {', '.join(accepted)}")
        attr, kind, choices = _PROFILE_KEYS[key]
        if not isinstance(value, kind) or isinstance(value, bool):
            raise UsageError(f"{where}: {key} has the wrong type ({type(value).__name__})")
        if choices is not None and value not in choices:
            raise UsageError(f"{where}: {key} = {value!r}; accepted: {', '.join(choices)}")
        if isinstance(value, list):
            item = int if key == "redirect_ports" else str
            if not all(isinstance(v, item) and not isinstance(v, bool) for v in value):
                raise UsageError(f"{where}: {key} must be a list of {item.__name__}s")
            if item is int and not all(1 <= v <= 65535 for v in value):
                raise UsageError(f"{where}: {key} must be TCP ports, 1 to 65535")
            value = tuple(value)
        if isinstance(value, dict) and not all(isinstance(v, str) for v in value.values()):
            raise UsageError(f"{where}: every value in {key} must be a string")
        if key == "path":
            value = (value,)
        if key == "login" and value == "setup-token":
            value = "setup"
        if key == "expiry_interval":
            from launcher.config import parse_duration

            value = parse_duration(str(value), f"{key} in {where}")
        changes[attr] = value
    return changes


def aliases(table: Mapping[str, Any], env: Mapping[str, str]) -> dict[str, str]:
    """Real path of a credentials file -> the alias the config gives it."""
    out: dict[str, str] = {}
    sections = table.get("profiles", {})
    if not isinstance(sections, dict):
        return out
    home = profiles.home_dir(env)
    for section in sections.values():
        if not isinstance(section, dict):
            continue
        named = section.get("aliases", {})
        if isinstance(named, dict):
            for path, alias in named.items():
                if isinstance(alias, str):
                    full = home + path[1:] if path.startswith("~") else path
                    out[os.path.realpath(full)] = alias
        alias = section.get("alias")
        if isinstance(alias, str) and isinstance(section.get("credentials"), str):
            cred = section["credentials"]
            full = home + cred[1:] if cred.startswith("~") else cred
            out[os.path.realpath(full)] = alias
    return out
