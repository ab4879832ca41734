"""Settings: flag > environment > config file > profile default.

Imported on the hot path, so tomllib is imported only when a config file exists, and the
platform directories come from platformdirs only off Linux (see `gate.xdg_dir`).
"""

from __future__ import annotations

import os
import stat  # loaded with os already (genericpath)
import sys

from launcher import gate, profiles
from launcher.errors import UsageError

TYPE_CHECKING = False  # typing itself costs ~4 ms of import on the launch path
if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping
    from typing import Any

    from launcher.profiles import Profile

DEFAULT_THRESHOLD = gate.DEFAULT_THRESHOLD
DEFAULT_REFRESH_TIMEOUT = 15.0
# `wrap refresh` holds no launch, so unless told otherwise it may wait longer than the gate.
COMMAND_REFRESH_TIMEOUT = 60.0
DEFAULT_LOCK_TIMEOUT = 30.0
DEFAULT_LOGIN_TIMEOUT = 180.0
DEFAULT_LOGIN_WARNING = gate.DEFAULT_LOGIN_WARNING

# systemd's and Go's compound forms too (`1h30m`, `15min`, `2 days`): gate.duration, one rule.
_DURATION_FORMS = "use seconds or numbers with units: 7d, 36h, 90m, 45s, 1h30m, 15min"
MAX_DURATION = gate.MAX_DURATION
# Top-level keys besides the settings a profile section may also carry (custom.SETTING_KEYS);
# notify_webhook is read by launcher/keepalive/notify.py, [fleet] by launcher/fleet/settings.py.
# A new top-level key (a [table] of its own too) goes here, or it is refused as a misspelling.
_TOP_LEVEL_KEYS = frozenset(
    {"profile", "profiles", "token_url", "client_id", "fleet", "notify_webhook"}
)


# Where a refresh token (and a client secret) is sent: an override meant for the launched
# profile must never send another account's tokens to its URL.
ENDPOINT_KEYS = frozenset({"token_url", "client_id"})


class Settings:
    """Resolved settings for one run; plain values only."""

    __slots__ = (
        "_values",
        "bound",
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
        bound: Bound | None = None,
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
        # The named account this run uses and why ([profiles.NAME.accounts] and .dirs), or a
        # bad binding to report; None when the profile names no accounts.
        self.bound = bound
        # What for_file() copies, read on its first call (settings are never changed after).
        self._values: list[tuple[str, Any]] | None = None

    def program_env(self, env: Mapping[str, str]) -> Mapping[str, str]:
        """ENV as the account's CLI sees it: with the bound account's directory variable set
        (the Keychain service name and the CLI's own reads follow it)."""
        bound = self.bound
        if bound is None or bound.variable is None or bound.directory is None:
            return env
        return {**env, bound.variable: bound.directory}

    def for_file(self, path: str) -> Settings:
        """These settings for another file of the same profile: what resolve() gives with
        credentials_path=PATH when nothing else differs (no setting depends on the file, but
        a named account's directory and fleet record, which `status` resolves for each), so
        that `status` resolves a profile's settings once, not once per account."""
        values = self._values
        if values is None:  # read once: thousands of files copy the same settings
            values = self._values = [(n, getattr(self, n)) for n in _COPIED]
        other = Settings.__new__(Settings)
        for name, value in values:
            setattr(other, name, value)
        other._values = values
        other.credentials = os.path.expanduser(path) if path.startswith("~") else path
        return other


# The settings for_file() copies from one file's to another's: all but the file itself.
_COPIED = tuple(n for n in Settings.__slots__ if n not in ("_values", "credentials"))


def parse_duration(text: str, source: str) -> float:
    """A duration (gate.duration: 7d, 1h30m, 15min, plain seconds); UsageError naming SOURCE."""
    seconds = gate.duration(text)
    if seconds is not None:
        return seconds
    if gate.duration(text, limit=float("inf")) is not None:
        raise UsageError(
            f"invalid duration {text!r} ({source}): longer than {MAX_DURATION // 86400}d; "
            f"{_DURATION_FORMS}"
        )
    raise UsageError(f"invalid duration {text!r} ({source}): {_DURATION_FORMS}")


def parse_bool(text: str, source: str) -> bool:
    value = gate.boolean(text)
    if value is None:
        raise UsageError(
            f"invalid value {text!r} ({source}): use 1 or 0 (true/false, yes/no, on/off)"
        )
    return value


def config_dir(env: Mapping[str, str], platform: str = sys.platform) -> str:
    return _platform_dir("config", env, platform)


def state_dir(env: Mapping[str, str], platform: str = sys.platform) -> str:
    """wrap's state directory; a new empty one of this run's own when the real one is not
    trusted (store.untrusted_state): all of wrap's state (config cache, records, kept tokens,
    suspensions, pending recoveries) is read from it, and another user's must never be."""
    from launcher import store  # loaded already on every path that reaches here

    return store.trusted_state(state_path(env, platform))


def state_path(env: Mapping[str, str], platform: str = sys.platform) -> str:
    """Where wrap's state directory is, trusted or not (for `wrap doctor` to look at)."""
    return _platform_dir("state", env, platform)


def _platform_dir(kind: str, env: Mapping[str, str], platform: str) -> str:
    if platform.startswith("linux"):
        return gate.xdg_dir(kind, env)
    if platform == "darwin":
        # platformdirs' macOS rule (an absolute XDG_CONFIG_HOME / XDG_STATE_HOME wins, else
        # ~/Library/Application Support/wrap for both), from ENV rather than os.environ, and
        # the same whichever platformdirs version is installed (older ones ignore XDG there).
        var = "XDG_CONFIG_HOME" if kind == "config" else "XDG_STATE_HOME"
        xdg = env.get(var, "")
        if os.path.isabs(xdg):
            return os.path.join(xdg, "wrap")
        return os.path.join(profiles.home_dir(env), "Library", "Application Support", "wrap")
    import platformdirs

    if kind == "config":
        return platformdirs.user_config_dir("wrap", appauthor=False)
    return platformdirs.user_state_dir("wrap", appauthor=False)


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
    cwd: str | None = None,
) -> Settings:
    """Merge flags (None = not given), environment and config file into Settings.

    REFRESH_TIMEOUT is the default when no flag, variable or config key sets one. LAUNCHED is
    False for the other accounts of `status` and `refresh --all`: the endpoint overrides of the
    flags, the environment and the config's top level are not theirs (see ENDPOINT_KEYS).
    CWD (default: the working directory) chooses the bound account ([profiles.NAME.dirs])."""
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

    explicit = credentials_path or text("credentials", "WRAP_CREDENTIALS", "credentials", None)
    bound = None
    if "accounts" in section or "dirs" in section or env.get(ACCOUNT_ENV):
        bound = bound_account(
            section,
            profile,
            env,
            config_path,
            chosen=credentials_path,
            given=bool(flags.get("credentials") or env.get("WRAP_CREDENTIALS")),
            cwd=cwd,
        )
    credentials = bound.credentials if bound is not None and bound.credentials else explicit
    verbosity = int(flags.get("verbosity") or 0)
    if not verbosity and env.get("WRAP_LOG", "").lower() == "debug":
        verbosity = 1
    settings = Settings(
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
        fleet=bound.fleet
        if bound is not None and bound.name
        else _fleet_name(section, config_path),
        store=_store_choice(section.get("store", "auto"), profile.name, config_path),
        bound=bound,
    )
    _check_fleet_store(settings, config_path)
    return settings


def _check_fleet_store(settings: Settings, config_path: str) -> None:
    """A fleet account's machines keep access-only copies in the credentials file, and the
    record is made from that file: an account kept in the Keychain or the OS keyring is
    refused here (exit 2), not half served by writes that bypass its store."""
    if settings.fleet and settings.store in ("keychain", "keyring"):
        raise UsageError(
            f"config file {config_path}: profiles.{settings.profile.name} sets both fleet and "
            f"store = {settings.store!r}, but a fleet account lives in its credentials file; "
            'remove one of them (or set store = "file")'
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


# -- Named accounts, and the working directories bound to them --------------------------------
# [profiles.NAME.accounts] names each account by its CLI's directory (CLAUDE_CONFIG_DIR, ...);
# [profiles.NAME.dirs] binds working directories to them. On the launch path this is a few
# stats and string comparisons on the table already read, and only for a profile that has them.

ACCOUNT_ENV = "WRAP_ACCOUNT"


class Bound:
    """The named account a run uses and WHY (said under -v); or, with PROBLEM, a bad binding:
    the gate says it in one line and launches with the profile's default account."""

    __slots__ = ("credentials", "directory", "fleet", "name", "problem", "variable", "why")

    def __init__(
        self,
        *,
        name: str | None = None,
        directory: str | None = None,
        variable: str | None = None,
        credentials: str | None = None,
        fleet: str | None = None,
        why: str = "",
        problem: str | None = None,
    ) -> None:
        self.name = name
        # The account's directory, and the variable that hands it to the program (None when
        # the environment already holds the directory the program will use).
        self.directory = directory
        self.variable = variable
        # Its credentials file, when this choice decides which file the run uses.
        self.credentials = credentials
        self.fleet = fleet
        self.why = why
        self.problem = problem


def binding_warning(settings: Settings) -> str | None:
    """The one line a launch or a check says about a bad binding, before using the default."""
    bound = settings.bound
    if bound is None or not bound.problem:
        return None
    return f"{bound.problem}; using the default account ({settings.credentials})"


def account_file(profile: Profile, directory: str) -> str | None:
    """The credentials file of the account whose directory is DIRECTORY: the profile's path
    under its directory variable (`${CLAUDE_CONFIG_DIR}/.credentials.json`)."""
    var = profile.config_dir_env
    if var:
        head = "${" + var + "}"
        for pattern in profile.default_paths:
            if pattern.startswith(head):
                return directory + pattern[len(head) :]
    return None


def dir_variables(profile: Profile) -> list[str]:
    """The variables that choose the profile's directory (Claude's CLAUDE_SECURESTORAGE_CONFIG_DIR
    wins over CLAUDE_CONFIG_DIR): one already set wins over the bindings."""
    return [p[2:].partition("}")[0] for p in profile.default_paths if p.startswith("${")]


def named_accounts(
    section: Mapping[str, Any], profile: Profile, config_path: str, home: str
) -> dict[str, tuple[str, str | None]]:
    """name -> (directory, fleet record) from [profiles.NAME.accounts]; a value is a directory
    or a table {dir = "...", fleet = "..."}. UsageError naming the key."""
    table = section.get("accounts", {})
    where = f"profiles.{profile.name}.accounts"
    if not isinstance(table, dict):
        raise UsageError(f"config file {config_path}: {where} must be a table of name = directory")
    if table and account_file(profile, "") is None:
        raise UsageError(
            f"config file {config_path}: {where}: the {profile.name} profile has no directory "
            'variable; name it with dir_env = "VAR" and a path under ${VAR}'
        )
    out: dict[str, tuple[str, str | None]] = {}
    seen: dict[object, str] = {}
    for name, value in table.items():
        key = f"{where}.{name}"
        raw: object = value
        fleet: str | None = None
        if isinstance(value, dict):
            unknown = sorted(set(value) - {"dir", "fleet"})
            if unknown:
                raise UsageError(
                    f"config file {config_path}: {key}: unknown key {unknown[0]!r}; accepted: "
                    "dir, fleet"
                )
            raw, record = value.get("dir"), value.get("fleet")
            if record is not None and (not isinstance(record, str) or not record):
                raise UsageError(f"config file {config_path}: {key}.fleet must be a record name")
            fleet = record
        directory = _absolute(raw, home)
        if directory is None:
            raise UsageError(
                f"config file {config_path}: {key} must be a directory (an absolute path or ~/...)"
            )
        same = _identity(directory)
        if same in seen:
            raise UsageError(
                f"config file {config_path}: {where}.{seen[same]} and {key} share the directory "
                f"{directory}; give each account a directory of its own"
            )
        seen[same] = name
        out[name] = (directory, fleet)
    return out


def bindings(
    section: Mapping[str, Any],
    profile: Profile,
    accounts: Mapping[str, tuple[str, str | None]],
    config_path: str,
    home: str,
) -> dict[tuple[int, int], tuple[str, str]]:
    """{(device, inode) of the directory: (key, account)} of [profiles.NAME.dirs]; UsageError
    naming the key for an unknown account, a directory that does not exist, or one directory
    bound to two accounts. One stat each: a symlinked key is the directory it points to."""
    table = section.get("dirs", {})
    where = f"profiles.{profile.name}.dirs"
    if not isinstance(table, dict):
        raise UsageError(
            f"config file {config_path}: {where} must be a table of directory = account"
        )
    out: dict[tuple[int, int], tuple[str, str]] = {}
    for key, name in table.items():
        full = f'{where}."{key}"'
        if not isinstance(name, str) or name not in accounts:
            names = ", ".join(sorted(accounts)) or f"none: add [profiles.{profile.name}.accounts]"
            raise UsageError(
                f"config file {config_path}: {full} = {name!r} is not an account of "
                f"profiles.{profile.name}.accounts; use one of {names}"
            )
        directory = _absolute(key, home)
        try:
            st = os.stat(directory) if directory is not None else None
        except OSError:
            st = None
        if st is None or not stat.S_ISDIR(st.st_mode):
            raise UsageError(
                f"config file {config_path}: {full}: no such directory; create it or fix the key"
            )
        found = (st.st_dev, st.st_ino)
        other = out.get(found)
        if other is not None and other[1] != name:
            raise UsageError(
                f'config file {config_path}: {where}."{other[0]}" and {full} are one directory '
                f"bound to two accounts ({other[1]}, {name}); keep one"
            )
        out[found] = (key, name)
    return out


def unknown_account(wanted: str, profile: str, config_path: str, names: Iterable[str]) -> str:
    """What to say of a WRAP_ACCOUNT naming no account of PROFILE (the gate, status, doctor)."""
    return (
        f"{ACCOUNT_ENV}={wanted} is not an account of profiles.{profile}.accounts "
        f"({config_path}); use one of {', '.join(sorted(names)) or 'none'}"
    )


def bound_account(
    section: Mapping[str, Any],
    profile: Profile,
    env: Mapping[str, str],
    config_path: str,
    *,
    chosen: str | None = None,
    given: bool = False,
    cwd: str | None = None,
) -> Bound:
    """Which named account this run uses. Precedence: --credentials > WRAP_ACCOUNT > the
    directory variable already set > the longest bound directory holding CWD > the default.

    CHOSEN is a file named by path (status, login): the account whose file it is."""
    home = profiles.home_dir(env)
    try:
        accounts = named_accounts(section, profile, config_path, home)
    except UsageError as e:
        return Bound(problem=str(e))
    variable = profile.config_dir_env

    def handed(directory: str) -> str | None:
        # The CLI's own default directory is not handed over: Claude names its Keychain item
        # after CLAUDE_CONFIG_DIR whenever it is set, even to ~/.claude.
        return None if _is_default(profile, directory, home) else variable

    if chosen is not None:
        real = os.path.realpath(os.path.expanduser(chosen))
        for name, (directory, fleet) in accounts.items():
            if os.path.realpath(account_file(profile, directory) or "") == real:
                return Bound(
                    name=name, directory=directory, variable=handed(directory), fleet=fleet
                )
        return Bound()
    if given:
        return Bound(why="--credentials (or WRAP_CREDENTIALS) wins over the account bindings")
    wanted = env.get(ACCOUNT_ENV)
    if wanted:
        if wanted not in accounts:
            return Bound(problem=unknown_account(wanted, profile.name, config_path, accounts))
        directory, fleet = accounts[wanted]
        return Bound(
            name=wanted,
            directory=directory,
            variable=handed(directory),
            credentials=account_file(profile, directory),
            fleet=fleet,
            why=f"{ACCOUNT_ENV}={wanted} chooses the account",
        )
    for var in dir_variables(profile):
        value = env.get(var)
        if value:
            same = _identity(value)
            for name, (directory, fleet) in accounts.items():
                if _identity(directory) == same:
                    return Bound(name=name, fleet=fleet, why=f"{var} is set: account {name}")
            return Bound(why=f"{var} is set: it wins over the account bindings")
    try:
        bound = bindings(section, profile, accounts, config_path, home)
        # getcwd is the physical path already (the kernel's): symlinks are resolved.
        here = os.getcwd() if cwd is None else os.path.realpath(cwd)
    except UsageError as e:
        return Bound(problem=str(e))
    except OSError:  # the working directory is gone: nothing is bound to it
        return Bound(why="the working directory is gone: the profile's default account")
    hit = _innermost(here, bound)
    if hit is None:
        return Bound(why=f"no bound directory holds {here}: the profile's default account")
    key, name = hit
    directory, fleet = accounts[name]
    return Bound(
        name=name,
        directory=directory,
        variable=handed(directory),
        credentials=account_file(profile, directory),
        fleet=fleet,
        why=f'{here} is in "{key}" (profiles.{profile.name}.dirs): account {name}',
    )


def _innermost(
    here: str, bound: Mapping[tuple[int, int], tuple[str, str]]
) -> tuple[str, str] | None:
    """The binding of HERE or of its nearest ancestor (the longest bound directory holding
    it), by identity: `~/work2` is not under `~/work`. A stat per level, from HERE up."""
    path = here
    while True:
        try:
            st = os.stat(path)
        except OSError:
            pass
        else:
            hit = bound.get((st.st_dev, st.st_ino))
            if hit is not None:
                return hit
        parent = os.path.dirname(path)
        if parent == path:
            return None
        path = parent


def _identity(path: str) -> tuple[int, int] | str:
    """(device, inode) of an existing PATH (links followed), else its normalized string."""
    try:
        st = os.stat(path)
    except OSError:
        return os.path.normpath(path)
    return (st.st_dev, st.st_ino)


def _is_default(profile: Profile, directory: str, home: str) -> bool:
    """Whether DIRECTORY, as written, is where the profile's CLI looks when no variable is set
    (as written: Claude names the Keychain item after the variable's string, not its target)."""
    own = profile.path_candidates({"HOME": home})
    file = account_file(profile, directory)
    return bool(own) and file is not None and os.path.normpath(file) == os.path.normpath(own[0])


def _absolute(value: object, home: str) -> str | None:
    """VALUE with ~ expanded and no trailing separator, or None when it is no absolute path."""
    if not isinstance(value, str) or not value:
        return None
    if value == "~" or value.startswith("~/"):
        value = home + value[1:]
    if not os.path.isabs(value):
        return None
    return value.rstrip(os.sep) or os.sep
