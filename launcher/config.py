"""Settings: flag > environment > config file > profile default.

Imported on the hot path, so tomllib is imported only when a config file exists, and the
platform directories come from platformdirs only off Linux (see `_xdg`).
"""

from __future__ import annotations

import os
import sys

from launcher import profiles
from launcher.errors import UsageError

TYPE_CHECKING = False  # typing itself costs ~4 ms of import on the launch path
if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import Any

    from launcher.profiles import Profile

DEFAULT_THRESHOLD = 7 * 86400
DEFAULT_REFRESH_TIMEOUT = 15.0
# `wrap refresh` holds no launch, so unless told otherwise it may wait longer than the gate.
COMMAND_REFRESH_TIMEOUT = 60.0
DEFAULT_LOCK_TIMEOUT = 30.0
DEFAULT_LOGIN_TIMEOUT = 180.0
# Claude Code itself warns three days ahead, but only inside a session.
DEFAULT_LOGIN_WARNING = 3 * 86400.0

_UNITS = {"d": 86400, "h": 3600, "m": 60, "s": 1}
_DURATION_FORMS = "use seconds or a number with d, h, m or s (7d, 36h, 90m, 45s)"
# Longer than any token lives or anyone waits; past it, sums with `now` stop being dates.
MAX_DURATION = 36500 * 86400
# Top-level keys besides the settings a profile section may also carry (custom.SETTING_KEYS);
# notify_webhook is read by launcher/keepalive/notify.py, [fleet] by launcher/fleet/settings.py.
# A new top-level key (a [table] of its own too) goes here, or it is refused as a misspelling.
_TOP_LEVEL_KEYS = frozenset(
    {"profile", "profiles", "token_url", "client_id", "fleet", "notify_webhook"}
)
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


# Where a refresh token (and a client secret) is sent: an override meant for the launched
# profile must never send another account's tokens to its URL.
ENDPOINT_KEYS = frozenset({"token_url", "client_id"})


class Settings:
    """Resolved settings for one run; plain values only."""

    __slots__ = (
        "client_id",
        "config_path",
        "credentials",
        "fleet",
        "lock_timeout",
        "login_timeout",
        "login_warning",
        "no_browser",
        "profile",
        "refresh_timeout",
        "refresh_via",
        "setup_token",
        "store",
        "strict",
        "threshold",
        "token_url",
        "verbosity",
    )

    def __init__(
        self,
        *,
        profile: Profile,
        credentials: str,
        threshold: int,
        token_url: str,
        client_id: str | None,
        strict: bool,
        refresh_timeout: float,
        lock_timeout: float,
        login_timeout: float = DEFAULT_LOGIN_TIMEOUT,
        login_warning: float = DEFAULT_LOGIN_WARNING,
        setup_token: str = "file",
        refresh_via: str = "auto",
        no_browser: bool,
        verbosity: int,
        config_path: str | None,
        fleet: str | None = None,
        store: str = "auto",
    ) -> None:
        self.profile = profile
        self.credentials = credentials
        self.threshold = threshold
        self.token_url = token_url
        self.client_id = client_id
        self.strict = strict
        self.refresh_timeout = refresh_timeout
        self.lock_timeout = lock_timeout
        self.login_timeout = login_timeout
        # The gate warns (once a day) when the login itself ends within this.
        self.login_warning = login_warning
        # Where a setup command's token goes: "file" (the credentials file) or "env" (kept by
        # wrap and handed to the program as CLAUDE_CODE_OAUTH_TOKEN).
        self.setup_token = setup_token
        # Who sends the refresh: "direct" (wrap), "cli" (never wrap: the vendor's CLI refreshes,
        # wrap only runs its refreshing command on request), "auto" (wrap, and the CLI while the
        # endpoint's firewall refuses wrap).
        self.refresh_via = refresh_via
        self.no_browser = no_browser
        # -1 quiet, 0 warnings (default), 1 debug
        self.verbosity = verbosity
        self.config_path = config_path
        # The account's record name in the fleet store ([profiles.NAME] fleet); None: local only.
        self.fleet = fleet
        # Where the account's credentials live (launcher/stores/): "auto" (where its CLI keeps
        # them here), "file", "keychain" or "keyring"; a per-profile config key.
        self.store = store

    def for_file(self, path: str) -> Settings:
        """These settings for another file of the same profile: what resolve() gives with
        credentials_path=PATH when nothing else differs (no setting depends on the file), so
        that `status` resolves a profile's settings once, not once per account."""
        other = Settings.__new__(Settings)
        for name in Settings.__slots__:
            setattr(other, name, getattr(self, name))
        other.credentials = os.path.expanduser(path)
        return other


def parse_duration(text: str, source: str) -> float:
    """'7d', '36h', '90m', '45s' (any case) or plain seconds; raise UsageError naming SOURCE."""
    raw = text.strip().lower()
    number, unit = (raw[:-1], raw[-1]) if raw and raw[-1] in _UNITS else (raw, "s")
    try:
        value = float(number)
    except ValueError:
        value = -1.0
    if not number or value < 0 or value != value or value == float("inf"):
        raise UsageError(f"invalid duration {text!r} ({source}): {_DURATION_FORMS}")
    seconds = value * _UNITS[unit]
    if seconds > MAX_DURATION:
        raise UsageError(
            f"invalid duration {text!r} ({source}): longer than {MAX_DURATION // 86400}d; "
            f"{_DURATION_FORMS}"
        )
    return seconds


def parse_bool(text: str, source: str) -> bool:
    low = text.strip().lower()
    if low in _TRUE:
        return True
    if low in _FALSE:
        return False
    raise UsageError(f"invalid value {text!r} ({source}): use 1 or 0 (true/false, yes/no, on/off)")


def config_dir(env: Mapping[str, str]) -> str:
    return _platform_dir("config", env)


def state_dir(env: Mapping[str, str]) -> str:
    """wrap's state directory; a new empty one of this run's own when the real one is not
    trusted (store.untrusted_state): all of wrap's state (config cache, records, kept tokens,
    suspensions, pending recoveries) is read from it, and another user's must never be."""
    from launcher import store  # loaded already on every path that reaches here

    return store.trusted_state(_platform_dir("state", env))


def _platform_dir(kind: str, env: Mapping[str, str]) -> str:
    if sys.platform.startswith("linux"):
        return _xdg(kind, env)
    import platformdirs

    if kind == "config":
        return platformdirs.user_config_dir("wrap", appauthor=False)
    return platformdirs.user_state_dir("wrap", appauthor=False)


def _xdg(kind: str, env: Mapping[str, str]) -> str:
    # What platformdirs returns on Linux (XDG base directories), without its import cost on
    # every launch; tests/test_config.py checks that both agree.
    var, fallback = {
        "config": ("XDG_CONFIG_HOME", ".config"),
        "state": ("XDG_STATE_HOME", ".local/state"),
    }[kind]
    base = env.get(var, "").strip() or os.path.join(profiles.home_dir(env), fallback)
    return os.path.join(base, "wrap")


def load_config(env: Mapping[str, str]) -> tuple[str, dict[str, Any]]:
    """(path, table) of the config file; an empty table when the default file does not exist."""
    explicit = env.get("WRAP_CONFIG")
    path = explicit or os.path.join(config_dir(env), "config.toml")
    try:
        with open(path, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        if explicit:
            raise UsageError(
                f"config file {path} (from WRAP_CONFIG) does not exist: "
                "create it or unset WRAP_CONFIG"
            ) from None
        return path, {}
    except OSError as e:
        raise UsageError(f"cannot read config file {path}: {e.strerror}") from e
    table = _cached(path, data, env)
    if table is None:
        import tomllib

        try:
            table = tomllib.loads(data.decode("utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError, RecursionError) as e:
            raise UsageError(f"config file {path} is not valid TOML: {e}") from e
        _keep(path, data, table, env)
    _check_keys(path, table)
    return path, table


# The parsed config, kept in the state directory beside a digest of the bytes it came from:
# tomllib's import and parse cost a launch ~6 ms, reading this back ~0.1 ms. Keyed by content,
# not by mtime, so an edit is never missed; it is a cache, so any failure only means parsing.
def _cache_path(path: str, env: Mapping[str, str]) -> str:
    from launcher import state

    return os.path.join(state_dir(env), "config", state.key(path) + ".json")


def _cached(path: str, data: bytes, env: Mapping[str, str]) -> dict[str, Any] | None:
    import json

    from launcher import store
    from launcher.digest import sha256_hex

    try:
        kept = json.loads(store.read_private(_cache_path(path, env)))
    except (OSError, ValueError, RecursionError):
        return None
    if not isinstance(kept, dict) or kept.get("sha256") != sha256_hex(data):
        return None
    table = kept.get("table")
    return table if isinstance(table, dict) else None


def _keep(path: str, data: bytes, table: dict[str, Any], env: Mapping[str, str]) -> None:
    import json

    from launcher import store
    from launcher.digest import sha256_hex

    try:
        text = json.dumps({"sha256": sha256_hex(data), "table": table}, allow_nan=False)
        store.write_private(_cache_path(path, env), text.encode())
    except (OSError, TypeError, ValueError, RecursionError):
        # Values JSON cannot hold (TOML dates), a read-only or foreign state directory.
        pass


def _check_keys(path: str, table: Mapping[str, Any]) -> None:
    """A misspelt top-level key would otherwise be ignored without a word."""
    from launcher.custom import SETTING_KEYS

    accepted = _TOP_LEVEL_KEYS | SETTING_KEYS
    for key in table:
        if key not in accepted:
            raise UsageError(
                f"config file {path}: unknown key {key!r}; accepted at the top level: "
                f"{', '.join(sorted(accepted))}"
            )


def launched_settings(
    flags: Mapping[str, Any],
    env: Mapping[str, str],
    *,
    loaded: tuple[str, dict[str, Any]],
    known: Mapping[str, Profile],
) -> Settings | None:
    """What a plain `wrap` would gate on (the launched profile and file); None when unresolvable."""
    try:
        return resolve(flags, env, loaded=loaded, known=known)
    except UsageError:
        return None


def known_profiles(loaded: tuple[str, dict[str, Any]]) -> dict[str, Profile]:
    config_path, table = loaded
    if not table.get("profiles"):
        return profiles.BUILTIN
    from launcher import custom

    return custom.build(table, config_path)


def resolve(
    flags: Mapping[str, Any],
    env: Mapping[str, str],
    program: str | None = None,
    *,
    loaded: tuple[str, dict[str, Any]] | None = None,
    known: Mapping[str, Profile] | None = None,
    credentials_path: str | None = None,
    refresh_timeout: float = DEFAULT_REFRESH_TIMEOUT,
    launched: bool = True,
) -> Settings:
    """Merge flags (None = not given), environment and config file into Settings.

    REFRESH_TIMEOUT is the default when no flag, variable or config key sets one. LAUNCHED is
    False for the other accounts of `status` and `refresh --all`: the endpoint overrides of the
    flags, the environment and the config's top level are not theirs (see ENDPOINT_KEYS)."""
    config_path, table = loaded if loaded is not None else load_config(env)
    cfg = _Config(config_path, table)
    if known is None:
        known = known_profiles((config_path, table))

    profile_name = flags.get("profile") or env.get("WRAP_PROFILE") or cfg.text("profile")
    if profile_name:
        found = known.get(profile_name)
        if found is None:
            names = ", ".join(sorted(known))
            raise UsageError(f"unknown profile {profile_name!r}: use one of {names}")
        profile = found
    else:
        profile = (program and profiles.by_program(program, known)) or known["claude"]
    section = cfg.section(profile.name)

    def pick(flag: str, var: str, key: str) -> tuple[Any, str] | None:
        if key in ENDPOINT_KEYS and not launched:
            value = section.get(key)
            return None if value is None else (value, f"{key} in {config_path}")
        if flags.get(flag) is not None:
            return flags[flag], f"--{flag.replace('_', '-')}"
        if env.get(var):
            return env[var], var
        value = section.get(key, cfg.table.get(key))
        if value is not None:
            return value, f"{key} in {config_path}"
        return None

    def duration(flag: str, var: str, key: str, default: float) -> float:
        got = pick(flag, var, key)
        if got is None:
            return default
        value, source = got
        if isinstance(value, int | float) and not isinstance(value, bool):
            value = str(value)
        if not isinstance(value, str):
            raise UsageError(f"invalid {key} ({source}): {_DURATION_FORMS}")
        return parse_duration(value, source)

    def flag_bool(flag: str, var: str, key: str) -> bool:
        got = pick(flag, var, key)
        if got is None:
            return False
        value, source = got
        if isinstance(value, bool):
            return value
        return parse_bool(str(value), source)

    def text(flag: str, var: str, key: str, default: str | None) -> str | None:
        got = pick(flag, var, key)
        if got is None:
            return default
        value, source = got
        if not isinstance(value, str) or not value:
            raise UsageError(f"invalid {key} ({source}): expected a non-empty string")
        return value

    credentials = credentials_path or text("credentials", "WRAP_CREDENTIALS", "credentials", None)
    verbosity = int(flags.get("verbosity") or 0)
    if not verbosity and env.get("WRAP_LOG", "").lower() == "debug":
        verbosity = 1
    return Settings(
        profile=profile,
        credentials=os.path.expanduser(credentials) if credentials else profile.default_path(env),
        threshold=int(duration("threshold", "WRAP_THRESHOLD", "threshold", DEFAULT_THRESHOLD)),
        token_url=text("token_url", "WRAP_TOKEN_URL", "token_url", profile.token_url) or "",
        client_id=text("client_id", "WRAP_CLIENT_ID", "client_id", profile.client_id),
        strict=flag_bool("strict", "WRAP_STRICT", "strict"),
        refresh_timeout=duration(
            "refresh_timeout", "WRAP_REFRESH_TIMEOUT", "refresh_timeout", refresh_timeout
        ),
        lock_timeout=duration(
            "lock_timeout", "WRAP_LOCK_TIMEOUT", "lock_timeout", DEFAULT_LOCK_TIMEOUT
        ),
        login_timeout=duration(
            "login_timeout", "WRAP_LOGIN_TIMEOUT", "login_timeout", DEFAULT_LOGIN_TIMEOUT
        ),
        login_warning=duration(
            "login_warning", "WRAP_LOGIN_WARNING", "login_warning", DEFAULT_LOGIN_WARNING
        ),
        setup_token=_choice(
            text("setup_token", "WRAP_SETUP_TOKEN", "setup_token", "file"),
            ("file", "env"),
            "setup_token",
        ),
        refresh_via=_choice(
            text("refresh_via", "WRAP_REFRESH_VIA", "refresh_via", "auto"),
            ("auto", "direct", "cli"),
            "refresh_via",
        ),
        no_browser=flag_bool("no_browser", "WRAP_NO_BROWSER", "no_browser"),
        verbosity=verbosity,
        config_path=config_path if table else None,
        fleet=_fleet_name(section, config_path),
        store=_store_choice(section.get("store", "auto"), profile.name, config_path),
    )


def _fleet_name(section: dict[str, Any], config_path: str) -> str | None:
    name = section.get("fleet")
    if name is None:
        return None
    if not isinstance(name, str) or not name:
        raise UsageError(f"config file {config_path}: fleet must be a record name (a string)")
    return name


def _choice(value: str | None, accepted: tuple[str, ...], key: str) -> str:
    if value not in accepted:
        raise UsageError(f"invalid {key} {value!r}: use {', '.join(accepted)}")
    return value


def _store_choice(value: object, profile: str, config_path: str) -> str:
    choices = ("auto", "file", "keychain", "keyring")
    if value not in choices:
        raise UsageError(
            f"invalid store {value!r} for profiles.{profile} in {config_path}: use "
            + ", ".join(choices)
        )
    return str(value)


class _Config:
    __slots__ = ("path", "table")

    def __init__(self, path: str, table: dict[str, Any]) -> None:
        self.path = path
        self.table = table

    def text(self, key: str) -> str | None:
        value = self.table.get(key)
        if value is not None and not isinstance(value, str):
            raise UsageError(f"config file {self.path}: {key} must be a string")
        return value

    def section(self, name: str) -> dict[str, Any]:
        sections = self.table.get("profiles", {})
        if not isinstance(sections, dict):
            raise UsageError(
                f"config file {self.path}: 'profiles' must be a table ([profiles.NAME])"
            )
        section = sections.get(name, {})
        if not isinstance(section, dict):
            raise UsageError(f"config file {self.path}: profiles.{name} must be a table")
        return section
