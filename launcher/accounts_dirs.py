"""Named accounts off the launch path: every one of them (status, refresh, login, keepalive,
fleet), the check of every binding (a usage error naming the key), and which account a launch
here would use and why (doctor). The launch decides with config.bound_account, the one rule.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from launcher import config, profiles
from launcher.errors import UsageError

if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import Any

    from launcher.profiles import Profile


class Named:
    """One [profiles.PROFILE.accounts] entry: NAME, its DIRECTORY, its credentials FILE."""

    __slots__ = ("directory", "file", "fleet", "name", "profile")

    def __init__(
        self, profile: Profile, name: str, directory: str, file: str, fleet: str | None
    ) -> None:
        self.profile = profile
        self.name = name
        self.directory = directory
        self.file = file
        self.fleet = fleet


class Which:
    """The account a launch of PROFILE here would use: its NAME (None: the profile's default
    file), the CREDENTIALS file, WHY (the binding or the variable), or the PROBLEM that makes
    the launch fall back to the default."""

    __slots__ = ("credentials", "name", "problem", "profile", "why")

    def __init__(
        self, profile: str, name: str | None, credentials: str, why: str, problem: str | None
    ) -> None:
        self.profile = profile
        self.name = name
        self.credentials = credentials
        self.why = why
        self.problem = problem

    def as_dict(self) -> dict[str, Any]:
        return {
            "profile": self.profile,
            "account": self.name,
            "credentials": self.credentials,
            "why": self.why or None,
            "problem": self.problem,
        }


def _sections(table: Mapping[str, Any]) -> dict[str, Any]:
    sections = table.get("profiles")
    return sections if isinstance(sections, dict) else {}


def _with_accounts(
    loaded: tuple[str, dict[str, Any]], known: Mapping[str, Profile]
) -> list[tuple[Profile, dict[str, Any]]]:
    out = []
    for name, section in _sections(loaded[1]).items():
        if isinstance(section, dict) and ("accounts" in section or "dirs" in section):
            profile = known.get(name)
            if profile is not None:
                out.append((profile, section))
    return out


def named(
    loaded: tuple[str, dict[str, Any]], known: Mapping[str, Profile], env: Mapping[str, str]
) -> list[Named]:
    """Every named account of every profile, in the config's order; UsageError naming the key."""
    home = profiles.home_dir(env)
    out = []
    for profile, section in _with_accounts(loaded, known):
        for name, (directory, fleet) in config.named_accounts(
            section, profile, loaded[0], home
        ).items():
            file = config.account_file(profile, directory)
            assert file is not None  # named_accounts refuses a profile without a variable
            out.append(Named(profile, name, directory, file, fleet))
    return out


def find(
    name: str,
    loaded: tuple[str, dict[str, Any]],
    known: Mapping[str, Profile],
    env: Mapping[str, str],
) -> Named | None:
    """The named account NAME (`wrap login work`), after checking every binding."""
    check(loaded, known, env)
    return next((n for n in named(loaded, known, env) if n.name == name), None)


def check(
    loaded: tuple[str, dict[str, Any]],
    known: Mapping[str, Profile],
    env: Mapping[str, str],
    launched: str | None = None,
) -> None:
    """Every account and binding of the config, and WRAP_ACCOUNT for the LAUNCHED profile:
    a UsageError (exit 2) naming the first bad key. Where the gate falls back, status stops."""
    home = profiles.home_dir(env)
    for profile, section in _with_accounts(loaded, known):
        accounts = config.named_accounts(section, profile, loaded[0], home)
        config.bindings(section, profile, accounts, loaded[0], home)
    wanted = env.get(config.ACCOUNT_ENV)
    if wanted and launched is not None:
        names = {n.name for n in named(loaded, known, env) if n.profile.name == launched}
        if wanted not in names:
            raise UsageError(config.unknown_account(wanted, launched, loaded[0], names))


def which(
    flags: Mapping[str, Any],
    env: Mapping[str, str],
    *,
    program: str | None = None,
    cwd: str | None = None,
    loaded: tuple[str, dict[str, Any]] | None = None,
    known: Mapping[str, Profile] | None = None,
) -> Which:
    """Which account a launch (of PROGRAM, or the flags' profile) in CWD would use, and why:
    `wrap doctor`'s row. The same resolution as the launch, so the two cannot disagree."""
    settings = config.resolve(flags, env, program, loaded=loaded, known=known, cwd=cwd)
    bound = settings.bound
    if bound is None:
        return Which(settings.profile.name, None, settings.credentials, "", None)
    why = bound.why
    if bound.name and not why:
        why = f"{settings.credentials} is account {bound.name}'s file"
    return Which(settings.profile.name, bound.name, settings.credentials, why, bound.problem)


def bound_names(
    flags: Mapping[str, Any],
    env: Mapping[str, str],
    loaded: tuple[str, dict[str, Any]],
    known: Mapping[str, Profile],
    launched: str | None,
) -> dict[str, str]:
    """profile -> the named account a launch here uses, for each profile that has one."""
    out = {}
    for profile, _ in _with_accounts(loaded, known):
        own = {**flags, "profile": profile.name}
        if profile.name != launched:
            # --credentials and --profile name the launched profile's file, not this one's.
            own["credentials"] = None
        environ = env if profile.name == launched else _without_account(env)
        settings = config.resolve(own, environ, loaded=loaded, known=known, launched=False)
        if settings.bound is not None and settings.bound.name:
            out[profile.name] = settings.bound.name
    return out


def _without_account(env: Mapping[str, str]) -> Mapping[str, str]:
    # WRAP_ACCOUNT and WRAP_CREDENTIALS, like --credentials, are the launched profile's.
    drop = (config.ACCOUNT_ENV, "WRAP_CREDENTIALS")
    if not any(k in env for k in drop):
        return env
    return {k: v for k, v in env.items() if k not in drop}
