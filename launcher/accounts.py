"""Every credentials file on the machine, and the name a person knows each account by."""

from __future__ import annotations

import json
import os
import re
import stat

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
    __slots__ = ("_real", "alias", "path", "profile")

    def __init__(
        self, profile: Profile, path: str, alias: str | None, real: str | None = None
    ) -> None:
        self.profile = profile
        self.path = path
        self.alias = alias
        self._real = real

    @property
    def real(self) -> str:
        """The resolved path (the key of wrap's state): found once, by discover or here."""
        if self._real is None:
            self._real = os.path.realpath(self.path)
        return self._real


def discover(
    known: Mapping[str, Profile],
    env: Mapping[str, str],
    aliases: Mapping[str, str],
    choices: Mapping[str, str] | None = None,
    named: Mapping[str, Mapping[str, str]] | None = None,
) -> list[Account]:
    """Existing files of every profile (globs expanded), each once, in profile order; the
    account its CLI keeps in the Keychain or the keyring here, whose file may be gone; and
    NAMED accounts ({profile: {real path: file}}), listed whether their file exists or not."""
    seen: set[str] = set()
    out: list[Account] = []
    # Real path of each folder: thousands of accounts share a few folders, and resolving every
    # file's path component by component was most of what listing them cost.
    folders: dict[str, str] = {}
    for profile in known.values():
        found = _expand(profile.path_candidates(env), folders)
        default = profile.default_path(env)
        choice = (choices or {}).get(profile.name, "auto")
        if (
            default
            and all(path != default for path, _ in found)
            and _elsewhere(profile, default, env, choice)
        ):
            found.append((default, _realpath(default, folders)))
        for real, path in (named or {}).get(profile.name, {}).items():
            if all(r != real for _, r in found):
                found.append((path, real))
        for path, real in found:
            if real in seen:
                continue
            seen.add(real)
            out.append(Account(profile, path, aliases.get(real) or alias_from_name(path), real))
    return out


def _elsewhere(profile: Profile, path: str, env: Mapping[str, str], choice: str) -> bool:
    try:
        return stores.for_account(profile, path, env, choice=choice).kind != "file"
    except WrapError:
        return False


def is_launched(
    account: Account, launched: Settings | None, launched_real: str | None = None
) -> bool:
    """Whether ACCOUNT is the one `wrap` itself would gate on: only that one takes the
    --token-url / WRAP_TOKEN_URL / top-level overrides, which name no profile.

    LAUNCHED_REAL, the resolved path of its file, spares resolving it again for every account."""
    return (
        launched is not None
        and account.profile.name == launched.profile.name
        and account.real == (launched_real or os.path.realpath(launched.credentials))
    )


def _expand(patterns: Iterable[str], folders: dict[str, str]) -> list[tuple[str, str]]:
    """(path, real path) of each existing file the patterns name, globs sorted."""
    out: list[tuple[str, str]] = []
    for pattern in patterns:
        if any(ch in pattern for ch in "*?["):
            out.extend(_glob_files(pattern, folders))
        elif os.path.lexists(pattern):
            out.append((pattern, _realpath(pattern, folders)))
    return out


def _glob_files(pattern: str, folders: dict[str, str]) -> list[tuple[str, str]]:
    """sorted(p for p in glob.glob(PATTERN) if os.path.isfile(p)), with real paths.

    A pattern whose wildcards are all in its last part (every profile's are) is one directory
    listing: its entries say, without a stat or an lstat each, which are files and which links."""
    folder, name = os.path.split(pattern)
    if not folder or any(ch in folder for ch in "*?["):
        import glob  # only status and refresh --all expand patterns, not --check-only

        paths = sorted(p for p in glob.glob(pattern) if os.path.isfile(p))
        return [(p, _realpath(p, folders)) for p in paths]
    import fnmatch  # as glob above

    # What fnmatchcase does for each name, compiled once for all of them.
    matches = re.compile(fnmatch.translate(name)).match
    try:
        with os.scandir(folder) as listing:
            entries = [e for e in listing if matches(e.name)]
    except OSError:
        return []
    # glob's rule: a wildcard does not match a leading dot unless the pattern starts with one.
    if not name.startswith("."):
        entries = [e for e in entries if not e.name.startswith(".")]
    # os.path.join's answers for a name from a listing (no slash in it), without its checks;
    # one loop, no calls per entry: at 10,000 accounts each call is a millisecond more.
    sep = "" if folder.endswith(os.sep) else os.sep
    real_folder = _real_folder(folder, folders)
    real_sep = "" if real_folder.endswith(os.sep) else os.sep
    out = []
    for e in entries:
        # As os.path.isfile: a link that cannot be followed (a loop, no permission) is no file.
        try:
            if not e.is_file():
                continue
        except OSError:
            continue
        try:
            link = e.is_symlink()
        except OSError:
            link = True
        path = folder + sep + e.name
        out.append((path, os.path.realpath(path) if link else real_folder + real_sep + e.name))
    out.sort()
    return out


def _realpath(path: str, folders: dict[str, str]) -> str:
    """os.path.realpath(PATH), resolving its folder once for all the files in it."""
    folder, name = os.path.split(path)
    if name in ("", ".", "..") or not folder:
        return os.path.realpath(path)
    try:
        mode = os.lstat(path).st_mode
    except OSError:
        mode = 0
    if stat.S_ISLNK(mode):
        return os.path.realpath(path)
    return os.path.join(_real_folder(folder, folders), name)


def _real_folder(folder: str, folders: dict[str, str]) -> str:
    real = folders.get(folder)
    if real is None:
        real = folders[folder] = os.path.realpath(folder)
    return real


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
