"""Every credentials file on the machine, and the name a person knows each account by."""

from __future__ import annotations

import json
import os
import re

from launcher import credentials, stores
from launcher.errors import WrapError

TYPE_CHECKING = False  # typing costs ~2 ms on the --check-only path
if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping
    from typing import Any

    from launcher.config import Settings
    from launcher.profiles import Profile

# <provider>-oauth-<n>[-<alias>].json, as multi-account folders (routecodex) name their files.
_ALIAS_IN_NAME = re.compile(r"^[A-Za-z0-9_]+-oauth-\d+-(?P<alias>.+)\.json$")


class Account:
    __slots__ = ("alias", "path", "profile")

    def __init__(self, profile: Profile, path: str, alias: str | None) -> None:
        self.profile = profile
        self.path = path
        self.alias = alias


def discover(
    known: Mapping[str, Profile],
    env: Mapping[str, str],
    aliases: Mapping[str, str],
    choices: Mapping[str, str] | None = None,
) -> list[Account]:
    """Existing files of every profile (globs expanded), each once, in profile order; and the
    account its CLI keeps in the Keychain or the keyring here, whose file may be gone."""
    seen: set[str] = set()
    out: list[Account] = []
    for profile in known.values():
        paths = _expand(profile.path_candidates(env))
        default = profile.default_path(env)
        choice = (choices or {}).get(profile.name, "auto")
        if default and default not in paths and _elsewhere(profile, default, env, choice):
            paths.append(default)
        for path in paths:
            real = os.path.realpath(path)
            if real in seen:
                continue
            seen.add(real)
            out.append(Account(profile, path, aliases.get(real) or alias_from_name(path)))
    return out


def _elsewhere(profile: Profile, path: str, env: Mapping[str, str], choice: str) -> bool:
    try:
        return stores.for_account(profile, path, env, choice=choice).kind != "file"
    except WrapError:
        return False


def is_launched(account: Account, launched: Settings | None) -> bool:
    """Whether ACCOUNT is the one `wrap` itself would gate on: only that one takes the
    --token-url / WRAP_TOKEN_URL / top-level overrides, which name no profile."""
    return (
        launched is not None
        and account.profile.name == launched.profile.name
        and os.path.realpath(account.path) == os.path.realpath(launched.credentials)
    )


def _expand(patterns: Iterable[str]) -> list[str]:
    out: list[str] = []
    for pattern in patterns:
        if any(ch in pattern for ch in "*?["):
            import glob  # only status and refresh --all expand patterns, not --check-only

            out.extend(sorted(p for p in glob.glob(pattern) if os.path.isfile(p)))
        elif os.path.lexists(pattern):
            out.append(pattern)
    return out


def alias_from_name(path: str) -> str | None:
    match = _ALIAS_IN_NAME.match(os.path.basename(path))
    return match.group("alias") if match else None


def display_name(account: Account, doc: dict[str, Any] | None, env: Mapping[str, str]) -> str:
    """alias > email > name > account_id > file name (the profile's name for its own file)."""
    if account.alias:
        return account.alias
    profile = account.profile
    if doc is not None:
        for field in profile.account_fields:
            value = credentials.peek(doc, field)
            if field == "email" and not value:
                claims = credentials.jwt_claims(
                    credentials.peek(doc, profile.id_token_field or "id_token")
                )
                value = claims.get("email") if claims else None
            if isinstance(value, str) and value:
                return value
    if profile.account_file is not None:
        paths, field = profile.account_file
        for candidate in profile.path_candidates(env, paths):
            value = _read_field(candidate, field)
            if value:
                return value
    if not any(ch in account.path for ch in "*?[") and account.path in profile.path_candidates(env):
        return profile.name
    return os.path.basename(account.path)


def _read_field(path: str, field: str) -> str | None:
    try:
        with open(path, "rb") as f:
            doc = json.loads(f.read())
    except (OSError, ValueError):
        return None
    value = credentials.peek(doc, field) if isinstance(doc, dict) else None
    return value if isinstance(value, str) and value else None
