"""The launch, whole: read the credentials, decide, exec the program; refresh only when due.

With a fresh token this runs on every launch of the aliased CLI, so that path (`fresh_path`,
`exec_marked`) is this module alone: the standard library's builtins, the profiles' launch data
as literals (`LAUNCH`, kept equal to launcher/profiles.py by tests/test_gate_fast.py) and
JSON through the C scanner, which loads neither `re` nor `json.decoder`. It decides only what it
is sure of: a fresh token by the raw threshold, with nothing to say. Anything else (a config
file, a setting it does not check, a file it cannot read, a token not fresh, a login that ends
soon) goes to the full model below, which imports the rest of wrap lazily, decides again from
the start and does what the contract says. tests/test_gate_fast.py feeds both the same cases.

The full model fails open: whatever goes wrong that was not foreseen (a bug, Ctrl-C during a
refresh or a lock wait) is one line on stderr and a launch (under --strict, the contract's exit
code); the traceback goes to a crash report in the state directory, never to the terminal.
"""

from __future__ import annotations

import os
import sys
import time

TYPE_CHECKING = False  # typing itself costs ~4 ms of import on the launch path
if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, MutableMapping, Sequence
    from typing import Any, ClassVar

    from launcher import credentials
    from launcher.config import Settings
    from launcher.errors import WrapError
    from launcher.log import Log
    from launcher.stores import Store


class Launch:
    """What a fresh launch needs of a built-in profile (launcher/profiles.py has the rest)."""

    __slots__ = (
        "access",
        "account_fields",
        "account_file",
        "expiry",
        "id_token",
        "login_field",
        "login_unit",
        "paths",
        "programs",
        "refresh",
        "store",
        "unit",
        "variant_field",
        "variants",
    )

    def __init__(
        self,
        programs: tuple[str, ...],
        paths: tuple[str, ...],
        access: str,
        refresh: str,
        expiry: str,
        unit: str,
        *,
        login_field: str | None = None,
        login_unit: str = "ms",
        store: str | None = None,
        variant_field: str | None = None,
        variants: dict[str, tuple[str, str, str]] | None = None,
        account_fields: tuple[str, ...] = ("alias", "email", "name", "account_id"),
        id_token: str | None = None,
        account_file: tuple[tuple[str, ...], str] | None = None,
    ) -> None:
        self.programs = programs
        self.paths = paths
        self.access = access
        self.refresh = refresh
        self.expiry = expiry
        self.unit = unit
        self.login_field = login_field
        self.login_unit = login_unit
        # Whose convention for a store other than the file applies (profile.secure_store).
        self.store = store
        # The variants that move the three fields, by the value of the variant field.
        self.variant_field = variant_field
        self.variants = variants or {}
        # Where the account's name is (profile.account_fields, id_token_field, account_file).
        self.account_fields = account_fields
        self.id_token = id_token
        self.account_file = account_file


# The built-in profiles' launch data as literals: importing launcher/profiles.py would cost a
# launch more than reading its file. tests/test_gate_fast.py keeps the two equal.
LAUNCH = {
    "claude": Launch(
        ("claude",),
        (
            "${CLAUDE_SECURESTORAGE_CONFIG_DIR}/.credentials.json",
            "${CLAUDE_CONFIG_DIR}/.credentials.json",
            "~/.claude/.credentials.json",
        ),
        "claudeAiOauth.accessToken",
        "claudeAiOauth.refreshToken",
        "claudeAiOauth.expiresAt",
        "ms",
        login_field="claudeAiOauth.refreshTokenExpiresAt",
        store="claude",
        account_file=(
            ("${CLAUDE_CONFIG_DIR}/.claude.json", "~/.claude.json"),
            "oauthAccount.emailAddress",
        ),
    ),
    "gemini": Launch(
        ("gemini",),
        ("${GEMINI_CLI_HOME}/.gemini/oauth_creds.json", "~/.gemini/oauth_creds.json"),
        "access_token",
        "refresh_token",
        "expiry_date",
        "ms",
        store="gemini",
        variant_field="serverName",
        variants={"main-account": ("token.accessToken", "token.refreshToken", "token.expiresAt")},
        id_token="id_token",
    ),
    "qwen": Launch(
        ("qwen",),
        ("${QWEN_HOME}/oauth_creds.json", "~/.qwen/oauth_creds.json"),
        "access_token",
        "refresh_token",
        "expiry_date",
        "ms",
    ),
    "codex": Launch(
        ("codex",),
        ("${CODEX_HOME}/auth.json", "~/.codex/auth.json"),
        "tokens.access_token",
        "tokens.refresh_token",
        "tokens.access_token",
        "jwt",
        store="codex",
        account_fields=("alias", "email", "name", "tokens.account_id"),
        id_token="tokens.id_token",
    ),
    "kiro": Launch(
        ("kiro", "kiro-cli", "q"),
        ("~/.aws/sso/cache/kiro-auth-token.json",),
        "accessToken",
        "refreshToken",
        "expiresAt",
        "iso",
        variant_field="authMethod",
        variants={"IdC": ("accessToken", "refreshToken", "expiresAt")},
    ),
    "iflow": Launch(
        ("iflow",),
        ("~/.iflow/oauth_creds.json",),
        "access_token",
        "refresh_token",
        "expiry_date",
        "ms",
    ),
}

DEFAULT_THRESHOLD = 7 * 86400
# Claude Code itself warns three days ahead, but only inside a session.
DEFAULT_LOGIN_WARNING = 3 * 86400.0
# Longer than any token lives or anyone waits; past it, sums with `now` stop being dates.
MAX_DURATION = 36500 * 86400
# Year 9999 in epoch seconds: anything later is a corrupted or mis-scaled value.
LATEST_EXPIRY = 253402300799
# Credentials files are a few KiB; anything past this is not one (and must not fill memory).
MAX_READ = 1 << 20
# Every JSON object wrap prints says which shape it has (report.dumps); raised only when a key
# changes meaning or goes away (new keys may appear without it).
SCHEMA = 1
# The units of systemd's and Go's durations (`1h30m`, `15min`, `2 days`), any case.
_UNITS = {
    **dict.fromkeys(("w", "week", "weeks"), 604800),
    **dict.fromkeys(("d", "day", "days"), 86400),
    **dict.fromkeys(("h", "hr", "hrs", "hour", "hours"), 3600),
    **dict.fromkeys(("m", "min", "mins", "minute", "minutes"), 60),
    **dict.fromkeys(("s", "sec", "secs", "second", "seconds"), 1),
    "ms": 0.001,
}
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}
# The settings the fast path checks the way config.resolve does: (flag, variable, kind).
# A setting not here (WRAP_SETUP_TOKEN, anything from a config file) sends it to the full model.
_CHECKED = (
    ("threshold", "WRAP_THRESHOLD", "duration"),
    ("refresh_timeout", "WRAP_REFRESH_TIMEOUT", "duration"),
    ("lock_timeout", "WRAP_LOCK_TIMEOUT", "duration"),
    ("login_timeout", "WRAP_LOGIN_TIMEOUT", "duration"),
    ("login_warning", "WRAP_LOGIN_WARNING", "duration"),
    ("strict", "WRAP_STRICT", "bool"),
    ("no_browser", "WRAP_NO_BROWSER", "bool"),
    ("refresh_via", "WRAP_REFRESH_VIA", "refresh_via"),
    ("token_url", "WRAP_TOKEN_URL", "text"),
    ("client_id", "WRAP_CLIENT_ID", "text"),
    ("credentials", "WRAP_CREDENTIALS", "text"),
    ("setup_token", "WRAP_SETUP_TOKEN", None),
)
# The variables of wrap the fast path knows to change nothing it decides, or checks itself;
# any other WRAP_* sends the launch to the full model.
_KNOWN_VARIABLES = frozenset(
    {
        "WRAP_ACTIVE",
        "WRAP_CLAUDE_BIN",
        "WRAP_CONFIG",
        "WRAP_LOG",
        "WRAP_PROFILE",
        "WRAP_KEEPALIVE_INTERVAL",
        "WRAP_FLEET_URL",  # the fleet store serves accounts a config file names
        "WRAP_FLEET_TOKEN",
        "WRAP_FLEET_USER",
        "WRAP_FLEET_PASSWORD",
        *(var for _, var, _ in _CHECKED),
    }
)
# Set just before exec: "<pid>:<depth>:<name>:<path>[:<path>...]", the programs this process
# chain exec'd for NAME. A wrap that starts with its own pid there was re-entered: what it
# exec'd (WRAP_CLAUDE_BIN=wrap-claude, a `claude` script that execs wrap-claude) leads back here.
ACTIVE = "WRAP_ACTIVE"
# A script that runs wrap-claude as a child instead (no exec) makes a chain of processes, each
# the child of the last: that many in a row is a loop too. Claude running claude from a tool
# nests once or twice.
MAX_DEPTH = 8
# A console script that pip wrote for this package names the module it runs.
SIGNATURE = b"launcher.gate"


def duration(text: str, limit: float = MAX_DURATION) -> float | None:
    """'7d', '36h', '90m', '45s', the compound forms of systemd and Go ('1h30m', '1h 30min',
    '15min', '2 days'), any case, or plain seconds, in seconds; None when it is not one or is
    longer than LIMIT (config.parse_duration says which)."""
    seconds = _seconds(text.strip().lower())
    return None if seconds is None or seconds > limit else seconds


def _seconds(raw: str) -> float | None:
    """RAW (lowercase) in seconds: a plain number, or terms of a number and a unit; None for
    anything else. By hand: `re` would cost the launch path its import."""
    if raw.replace(".", "", 1).isdigit():
        return float(raw)
    total = 0.0
    i, n = 0, len(raw)
    if not n:
        return None
    while i < n:
        start = i
        while i < n and (raw[i].isdigit() or raw[i] == "."):
            i += 1
        number = raw[start:i]
        while i < n and raw[i] == " ":
            i += 1
        begin = i
        while i < n and raw[i].isalpha():
            i += 1
        unit = _UNITS.get(raw[begin:i])
        if not number or number.count(".") > 1 or number == "." or unit is None:
            return None
        total += float(number) * unit
        while i < n and raw[i] == " ":
            i += 1
    return total


def boolean(text: str) -> bool | None:
    low = text.strip().lower()
    return True if low in _TRUE else False if low in _FALSE else None


def finite(x: float) -> bool:
    # Not math.isfinite: math is a shared library here, and loading it cost every launch ~0.3 ms.
    # inf - inf and nan - nan are nan, which equals nothing.
    return x - x == 0


_scan: Callable[[str, int], tuple[Any, int]] | None = None


def loads(data: bytes | str) -> Any:
    """json.loads(DATA), through the standard library's C scanner when it can: `json` itself
    imports its decoder, and the decoder `re` (~1.5 ms on every launch). Anything the scanner
    does not take as a whole (a byte order mark, UTF-16, an error, trailing data) is json.loads'
    to answer, so the result and every error are json.loads'."""
    global _scan
    try:
        text = data if isinstance(data, str) else data.decode("utf-8")
        if _scan is None:
            _scan = _scanner()
        start = len(text) - len(text.lstrip(" \t\n\r"))
        value, end = _scan(text, start)
        if text[end:].strip(" \t\n\r"):
            raise ValueError("extra data")
    except Exception:
        import json

        return json.loads(data)
    return value


def _scanner() -> Callable[[str, int], tuple[Any, int]]:
    import _json

    class Context:
        # What json.JSONDecoder gives its scanner (json/decoder.py, the defaults of json.loads).
        strict = True
        object_hook = None
        object_pairs_hook = None
        parse_float = float
        parse_int = int
        parse_constant = {
            "-Infinity": float("-inf"),
            "Infinity": float("inf"),
            "NaN": float("nan"),
        }.__getitem__
        memo: ClassVar[dict[str, str]] = {}

    scanner: Callable[[str, int], tuple[Any, int]] = _json.make_scanner(Context())  # type: ignore[arg-type]
    return scanner


def home_dir(env: Mapping[str, str]) -> str:
    # HOME from the given environment first, so tests and sudo-less setups can point it anywhere.
    return env.get("HOME") or os.path.expanduser("~")


def xdg_dir(kind: str, env: Mapping[str, str]) -> str:
    """wrap's XDG base directory of KIND ("config", "state") on Linux, what platformdirs says
    there, without its import cost on every launch; tests/test_config.py checks that both agree."""
    var, fallback = {
        "config": ("XDG_CONFIG_HOME", ".config"),
        "state": ("XDG_STATE_HOME", ".local/state"),
    }[kind]
    base = env.get(var, "").strip() or os.path.join(home_dir(env), fallback)
    return os.path.join(base, "wrap")


def path_candidates(patterns: Sequence[str], env: Mapping[str, str]) -> list[str]:
    """PATTERNS with "~" as HOME and "${VAR}/rest" with VAR (skipped when VAR is not set)."""
    home = home_dir(env)
    out = []
    for pattern in patterns:
        if pattern.startswith("${"):
            var, _, rest = pattern[2:].partition("}")
            if not env.get(var):
                continue
            pattern = env[var] + rest
        elif pattern.startswith("~"):
            pattern = home + pattern[1:]
        out.append(pattern)
    return out


def default_path(patterns: Sequence[str], env: Mapping[str, str]) -> str:
    """The first existing of the (non-glob) candidates, else the first of them, else ""."""
    candidates = [c for c in path_candidates(patterns, env) if not any(ch in c for ch in "*?[")]
    for candidate in candidates:
        if os.path.exists(candidate):
            return candidate
    return candidates[0] if candidates else ""


def peek(doc: Any, dotted: str) -> object:
    node: object = doc
    for key in dotted.split("."):
        if not isinstance(node, dict):
            return None
        node = node.get(key)
    return node


def jwt_claims(token: object) -> dict[str, Any] | None:
    """The payload of a JWT, decoded without verification (we only read our own token's exp
    and email, never trust it for anything else). None when it is not a JWT."""
    if not isinstance(token, str) or token.count(".") != 2:
        return None
    import binascii

    payload = token.split(".")[1]
    payload += "=" * (-len(payload) % 4)
    try:
        raw = binascii.a2b_base64(payload.replace("-", "+").replace("_", "/").encode("ascii"))
        claims = loads(raw)
    except (ValueError, binascii.Error, UnicodeError):
        return None
    return claims if isinstance(claims, dict) else None


def parse_iso(text: str) -> float | None:
    import datetime as dt

    try:
        when = dt.datetime.fromisoformat(text)
    except ValueError:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return when.timestamp()


def decode_deadline(raw: object, unit: str) -> float | None:
    """The login deadline in epoch seconds; None for anything unreadable. It only informs (a
    warning, a report), so a bad value makes it unknown rather than the whole file invalid."""
    if unit == "iso":
        seconds = parse_iso(raw) if isinstance(raw, str) else None
    elif isinstance(raw, int | float) and not isinstance(raw, bool):
        seconds = raw / 1000 if unit == "ms" else float(raw)
    else:
        seconds = None
    if seconds is None or not finite(seconds) or not 0 < seconds <= LATEST_EXPIRY:
        return None
    return seconds


class _Unsure(Exception):
    """The fast path cannot decide this one alone: the full model will."""


def fresh_path(
    flags: Mapping[str, Any],
    program: str,
    env: Mapping[str, str],
    now: float,
    *,
    skip_self: bool = True,
    real_name: str | None = None,
) -> str | None:
    """The program to exec when the launch needs nothing but that (a fresh token, nothing to
    say), else None: then the full model decides. FLAGS as config.resolve takes them."""
    try:
        return _fresh_path(flags, program, env, now, skip_self, real_name)
    except (Exception, KeyboardInterrupt):
        return None


def _fresh_path(
    flags: Mapping[str, Any],
    program: str,
    env: Mapping[str, str],
    now: float,
    skip_self: bool,
    real_name: str | None,
) -> str | None:
    read = _read_account(flags, program, env)
    if read is None:
        return None
    if read.login_ends is not None and read.login_ends - now <= read.login_warning:
        return None  # the full model says so, once a day
    # The lifetime rule can only lower the threshold: fresh by the raw one is fresh.
    if read.expires_at is not None and read.expires_at - now <= read.threshold:
        return None
    return _program_path(program, env, skip_self, real_name)


class _Account:
    """What the fast path read of the launched account: its settings, file and token."""

    __slots__ = (
        "doc",
        "expires_at",
        "login_ends",
        "login_warning",
        "name",
        "path",
        "profile",
        "refresh",
        "threshold",
    )

    def __init__(
        self,
        *,
        doc: dict[str, Any],
        expires_at: float | None,
        login_ends: float | None,
        login_warning: float,
        name: str,
        path: str,
        profile: Launch,
        refresh: str | None,
        threshold: int,
    ) -> None:
        self.doc = doc
        self.expires_at = expires_at
        self.login_ends = login_ends
        self.login_warning = login_warning
        self.name = name
        self.path = path
        self.profile = profile
        self.refresh = refresh
        self.threshold = threshold


def _read_account(
    flags: Mapping[str, Any], program: str | None, env: Mapping[str, str]
) -> _Account | None:
    """The launched account's settings and token, as config.resolve, the store and
    credentials.parse would give them; None (or _Unsure) for anything the fast path leaves to
    the full model to say."""
    # The config file may set anything, and naming accounts by directory lives there too:
    # with one (or off Linux, where its folder is platformdirs'), the full model decides.
    if env.get("WRAP_CONFIG") or not sys.platform.startswith("linux"):
        return None
    if os.path.lexists(os.path.join(xdg_dir("config", env), "config.toml")):
        return None
    for var in env:
        if var.startswith("WRAP_") and var not in _KNOWN_VARIABLES:
            return None  # a setting newer than this list (an account's name, say)
    values = _checked_settings(flags, env)
    name = flags.get("profile") or env.get("WRAP_PROFILE")
    if not name:
        base = os.path.basename(program or "")
        name = next((n for n, p in LAUNCH.items() if base in p.programs), "claude")
    profile = LAUNCH.get(name)
    if profile is None:
        return None
    path = values.get("credentials")
    path = os.path.expanduser(path) if path else default_path(profile.paths, env)
    if not path or not _plain_file_store(profile.store, path, env):
        return None
    doc = loads(_read(path))
    if not isinstance(doc, dict):
        return None
    access, refresh, expiry = profile.access, profile.refresh, profile.expiry
    if profile.variant_field is not None:
        variant = profile.variants.get(str(doc.get(profile.variant_field)))
        if variant is not None:
            access, refresh, expiry = variant
    token = _field(doc, access)
    if not isinstance(token, str) or not token:
        return None
    refresh_token = _field(doc, refresh)
    if not isinstance(refresh_token, str | None):
        return None
    expires_at = _expiry(_field(doc, expiry), profile.unit)
    login_ends = None
    if profile.login_field:
        login_ends = decode_deadline(peek(doc, profile.login_field), profile.login_unit)
    return _Account(
        doc=doc,
        expires_at=expires_at,
        login_ends=login_ends,
        login_warning=values.get("login_warning", DEFAULT_LOGIN_WARNING),
        name=name,
        path=path,
        profile=profile,
        refresh=refresh_token,
        threshold=int(values.get("threshold", DEFAULT_THRESHOLD)),
    )


def _checked_settings(flags: Mapping[str, Any], env: Mapping[str, str]) -> dict[str, Any]:
    """The given settings (flag, else variable) the fast path checks as config.resolve does;
    _Unsure for any value config.resolve would refuse, and for one it does not check."""
    out: dict[str, Any] = {}
    for flag, var, kind in _CHECKED:
        value = flags.get(flag)
        if value is None:
            value = env.get(var) or None
        if value is None:
            continue
        if kind is None or not isinstance(value, str | bool):
            raise _Unsure(flag)
        if kind == "duration":
            if not isinstance(value, str) or (seconds := duration(value)) is None:
                raise _Unsure(flag)
            out[flag] = seconds
        elif kind == "bool":
            if isinstance(value, str) and boolean(value) is None:
                raise _Unsure(flag)
        elif kind == "refresh_via":
            if value not in ("auto", "direct", "cli"):
                raise _Unsure(flag)
        elif not isinstance(value, str):
            raise _Unsure(flag)
        else:
            out[flag] = value
    return out


def _plain_file_store(vendor: str | None, path: str, env: Mapping[str, str]) -> bool:
    """Whether the account is in its file for sure, as launcher/stores/ would choose "auto"."""
    if vendor == "claude":
        return sys.platform != "darwin"
    if vendor == "gemini":
        return env.get("GEMINI_FORCE_ENCRYPTED_FILE_STORAGE") != "true"
    if vendor == "codex":
        try:
            with open(os.path.join(os.path.dirname(path), "config.toml"), "rb") as f:
                return b"cli_auth_credentials_store" not in f.read()
        except OSError:
            return True
    return vendor is None


def _read(path: str) -> bytes:
    """The file's bytes when it is a regular file of at most MAX_READ bytes (store.read_bytes
    says what is wrong with anything else)."""
    import stat

    if not stat.S_ISREG(os.stat(path).st_mode):
        raise _Unsure(path)
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise _Unsure(path)
        data = read_capped(fd)
    finally:
        os.close(fd)
    if data is None:
        raise _Unsure(path)
    return data


def read_capped(fd: int, limit: int = MAX_READ) -> bytes | None:
    """What FD holds, or None when it is more than LIMIT bytes. Read to the cap, not to
    fstat's size: the file may grow while it is read."""
    chunks = []
    size = 0
    while size <= limit:
        chunk = os.read(fd, limit + 1 - size)
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    return None if size > limit else b"".join(chunks)


def _field(doc: dict[str, Any], dotted: str) -> object:
    """DOC's dotted field; _Unsure where a parent is not an object (the file is invalid)."""
    node: object = doc
    for key in dotted.split("."):
        if node is None:
            return None
        if not isinstance(node, dict):
            raise _Unsure(dotted)
        node = node.get(key)
    return node


def _expiry(raw: object, unit: str) -> float | None:
    """The token's expiry in epoch seconds, None when the file has none; _Unsure for a value
    that makes the file invalid (credentials.parse says how)."""
    if raw is None:
        return None
    if unit == "jwt":
        claims = jwt_claims(raw)
        exp = claims.get("exp") if claims else None
        if not isinstance(exp, int | float) or isinstance(exp, bool):
            return None
        seconds = float(exp)
    elif unit == "iso":
        parsed = parse_iso(raw) if isinstance(raw, str) else None
        if parsed is None:
            raise _Unsure(unit)
        seconds = parsed
    elif unit in ("ms", "s") and isinstance(raw, int | float) and not isinstance(raw, bool):
        seconds = raw / 1000 if unit == "ms" else float(raw)
    else:
        raise _Unsure(unit)
    if not finite(seconds) or seconds < 0 or seconds > LATEST_EXPIRY:
        raise _Unsure(unit)
    return seconds


def _program_path(
    program: str, env: Mapping[str, str], skip_self: bool, real_name: str | None
) -> str | None:
    real = real_name or os.path.basename(program)
    if looped(env.get(ACTIVE), real) is not None:
        return None  # a loop: the full model says so and finds the real one
    if os.sep in program:
        return program
    return which(program, env, set() if skip_self else None)


def which(name: str, env: Mapping[str, str], skip: set[str] | None) -> str | None:
    """The first executable NAME on PATH; SKIP (real paths) and wrap's own launchers passed
    over unless SKIP is None."""
    me = os.path.realpath(sys.argv[0]) if sys.argv and sys.argv[0] else ""
    for directory in env.get("PATH", os.defpath).split(os.pathsep):
        candidate = os.path.join(directory or ".", name)
        if not os.path.isfile(candidate) or not os.access(candidate, os.X_OK):
            continue
        if skip is not None and (os.path.realpath(candidate) in skip or _launcher(candidate, me)):
            continue
        return candidate
    return None


def _launcher(candidate: str, me: str) -> bool:
    if os.path.realpath(candidate) == me:
        return True
    try:
        with open(candidate, "rb") as f:
            head = f.read(1024)
    except OSError:
        return False
    return head.startswith(b"#!") and SIGNATURE in head


def _chain(raw: str | None) -> tuple[int, int, str, list[str]] | None:
    if not raw:
        return None
    parts = raw.split(os.pathsep)
    try:
        return int(parts[0]), int(parts[1]), parts[2], parts[3:]
    except (ValueError, IndexError):
        return None


def looped(raw: str | None, name: str) -> set[str] | None:
    """The programs that led back here when this wrap was re-entered for NAME; else None."""
    chain = _chain(raw)
    if chain is None or chain[2] != name:
        return None
    pid, depth, _, paths = chain
    if pid == os.getpid() or (pid == os.getppid() and depth >= MAX_DEPTH):
        return set(paths)
    return None


def mark(name: str, path: str, env: MutableMapping[str, str]) -> None:
    """Record in ENV (the one exec passes on) that this process is about to exec PATH for NAME."""
    chain = _chain(env.get(ACTIVE))
    depth, paths = 1, []
    if chain is not None and chain[2] == name:
        if chain[0] == os.getpid():
            depth, paths = chain[1], chain[3]
        elif chain[0] == os.getppid():
            depth, paths = chain[1] + 1, chain[3]
    real = os.path.realpath(path)
    paths = paths if real in paths else [*paths, real]
    env[ACTIVE] = os.pathsep.join([str(os.getpid()), str(depth), name, *paths])


def exec_marked(
    path: str,
    argv0: str,
    args: Sequence[str],
    *,
    name: str | None,
    execv: Callable[[str, list[str]], object] = os.execvp,
    environ: MutableMapping[str, str] = os.environ,
) -> OSError:
    """Replace this process with PATH (the one call of exec in wrap); what it raised when it
    could not, with ENVIRON as it was. NAME (the program's own name) goes into ENVIRON's ACTIVE,
    which exec passes on, so that a PATH that leads back to wrap is caught at once."""
    before = environ.get(ACTIVE)
    if name is not None:
        mark(name, path, environ)
    sys.stdout.flush()
    sys.stderr.flush()
    try:
        execv(path, [argv0, *args])
    except OSError as e:
        error = e
    else:
        error = OSError(f"exec of {path} returned")
    if before is None:
        environ.pop(ACTIVE, None)
    else:
        environ[ACTIVE] = before
    return error


def fresh_launch(
    flags: Mapping[str, Any],
    program: str,
    args: Sequence[str],
    *,
    env: Mapping[str, str] = os.environ,
    skip_self: bool = True,
    real_name: str | None = None,
) -> None:
    """Exec PROGRAM when the fast path is sure of a fresh token; return when it is not, or
    when the exec failed (the full model tries again, and says why)."""
    path = fresh_path(flags, program, env, time.time(), skip_self=skip_self, real_name=real_name)
    if path is not None:
        exec_marked(path, program, args, name=real_name or os.path.basename(program))


# --- --check-only, fast: the report of the launched account when nothing in it needs more ---

FRESH = "fresh"
EXPIRING = "expiring"
EXPIRED = "expired"
# --check-only's exit code for each state (launcher/exitcodes.py names them).
EXIT_FOR_STATE = {FRESH: 0, EXPIRING: 1, EXPIRED: 3, "missing": 4, "invalid": 4}
# What wrap's state file of an account may hold, and of which types (launcher/state.py).
STATE_FIELDS = (
    ("last_refreshed", (int, float)),
    ("lifetime", (int, float)),
    ("refresh_count", (int,)),
    ("consecutive_failures", (int,)),
    ("last_error", (str,)),
    ("last_failed", (int, float)),
    ("suspended_at_version", (str,)),
    ("unanswered", (str,)),
    ("pending_recovery", (str,)),
    ("pending_version", (str,)),
    ("blocked_until", (int, float)),
    ("blocked_count", (int,)),
    ("blocked_version", (str,)),
    ("unreachable_until", (int, float)),
    ("unreachable_count", (int,)),
    ("unreachable_url", (str,)),
    ("unreachable_version", (str,)),
    ("login_warned", (int, float)),
)


def token_state(expires_at: float | None, now: float, threshold: int) -> str:
    """fresh (time left > threshold), expiring (0 < left <= threshold) or expired."""
    if expires_at is None:
        return FRESH
    left = expires_at - now
    if left <= 0:
        return EXPIRED
    if left <= threshold:
        return EXPIRING
    return FRESH


def effective_threshold(threshold: int, lifetime: float | None) -> int:
    """The lifetime rule: a token that lives no longer than the threshold refreshes at half-life.

    Without it, an 8-hour token under a 7-day threshold would be refreshed on every launch,
    rotating the refresh token under every running session.
    """
    if lifetime is not None and 0 < lifetime <= threshold:
        return int(lifetime // 2)
    return threshold


def exit_state(token: str, login: str) -> str:
    """What --check-only exits with: the worse of the token's state and the login's."""
    order = (FRESH, EXPIRING, EXPIRED)
    if token not in order:
        return token  # missing or invalid: nothing to say about a login
    return max(token, login, key=order.index)


def iso(ts: float | None) -> str | None:
    if ts is None:
        return None
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))


def login_state(obj: Mapping[str, Any], threshold: int) -> str:
    """The login's deadline against THRESHOLD, the configured one: no refresh extends a login,
    so only a new login helps, and that needs warning well ahead (not the lifetime rule's)."""
    left = obj.get("login_expires_in_seconds")
    return token_state(None if left is None else float(left), 0.0, threshold)


def exit_code(obj: Mapping[str, Any], threshold: int) -> int:
    """--check-only's code: the token's state, or the login's when that is worse (a fresh
    token under a login that ends within THRESHOLD is 1, under one that has ended 3)."""
    return EXIT_FOR_STATE[exit_state(obj["state"], login_state(obj, threshold))]


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


def summary_line(obj: Mapping[str, Any], threshold: int | None = None) -> str:
    """One human line for a report object; THRESHOLD (the configured one) judges the login."""
    head = f"{obj['profile']}: {obj['state']}"
    unusable = obj["state"] in ("missing", "invalid")
    login = login_state(obj, obj["threshold_seconds"] if threshold is None else threshold)
    if not unusable and login != FRESH:
        head += ", login ended" if login == EXPIRED else ", login ending"
    if unusable:
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


def _login_words(obj: Mapping[str, Any], login: str) -> str:
    left = obj["login_expires_in_seconds"]
    if left is None:
        return ""
    renew = f": {login_command(obj['profile'], obj['path'])} renews it"
    if login == EXPIRED:
        return f"; the login ended {obj['login_expires_at']} ({human_duration(left)} ago){renew}"
    if login == EXPIRING:
        return f"; the login ends {obj['login_expires_at']} (in {human_duration(left)}){renew}"
    return f"; login ends {obj['login_expires_at']}"


def login_command(profile: str, path: str, default_path: str | None = None) -> str:
    """The one command that renews this account's login."""
    if default_path is None or os.path.realpath(path) == os.path.realpath(default_path):
        return f"'wrap login {profile}'"
    return f"'wrap --profile {profile} login {path}'"


def sha256_hex(data: bytes) -> str:
    """SHA-256 without loading OpenSSL: `hashlib` imports `_hashlib`, which maps libcrypto
    (about 2 ms and 4 MiB, to hash a file name). CPython builds its own (`_sha256` up to 3.11,
    `_sha2` from 3.12); those are private modules, so hashlib, which gives the same digest, is
    the fallback when neither is there. tests/test_digest.py checks both against hashlib."""
    global _sha256
    if _sha256 is None:
        _sha256 = _builtin_sha256()
    return str(_sha256(data).hexdigest())


_sha256: Callable[[bytes], Any] | None = None


def _builtin_sha256() -> Callable[[bytes], Any]:
    # This Python's name first: a failed import searches every folder of sys.path.
    names = ("_sha2", "_sha256") if sys.version_info >= (3, 12) else ("_sha256", "_sha2")
    for name in names:
        try:
            module = __import__(name)
        except ImportError:
            continue
        constructor = getattr(module, "sha256", None)
        if constructor is not None:
            return constructor  # type: ignore[no-any-return]
    import hashlib

    return hashlib.sha256


def state_key(real: str) -> str:
    """A short name for a credentials file (by its real path) in wrap's own directories: its
    base name, for people reading the directory, and a hash of the path, so any length fits."""
    digest = sha256_hex(real.encode("utf-8", "surrogateescape"))[:16]
    return f"{state_key_name(real)}-{digest}"


def state_key_name(real: str) -> str:
    """state_key()'s readable part, before the last "-"."""
    name = os.path.basename(real)
    # Most names need no replacing, and checking that in C rather than a character at a time
    # was most of what a key cost status per account.
    if not (
        name.isascii() and name.replace(".", "a").replace("_", "a").replace("-", "a").isalnum()
    ):
        name = "".join(c if c.isalnum() or c in "._-" else "_" for c in name)
    return name.lstrip(".")[:40]


def state_values(raw: object) -> dict[str, Any]:
    """The fields of a state file's document that have their types; {} for anything else."""
    if not isinstance(raw, dict):
        return {}
    out = {}
    for name, kind in STATE_FIELDS:
        value = raw.get(name)
        if isinstance(value, kind) and not isinstance(value, bool):
            out[name] = value
    return out


def read_private(path: str, limit: int = 1 << 20) -> bytes:
    """A small file of wrap's own: never through a symlink, never a FIFO or device, bounded."""
    import stat

    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            import errno

            raise OSError(errno.EINVAL, f"{path} is not a regular file")
        if st.st_uid != os.geteuid():
            # Planted by another user: believing it could send the refresh token elsewhere.
            import errno

            raise OSError(errno.EPERM, f"{path} belongs to another user (uid {st.st_uid})")
        with os.fdopen(fd, "rb") as f:
            fd = -1
            return f.read(limit)
    finally:
        if fd >= 0:
            os.close(fd)


def untrusted_state(path: str) -> tuple[str, str] | None:
    """(directory, why) when PATH, or the directory it is in (which could replace it), cannot
    be trusted: it is another user's, or others may write in it. The directory above may be
    root's, writable by all when sticky (/tmp: no one renames another's entries), or writable
    by the user's own group."""
    import stat as _stat  # loaded with os already (genericpath)

    me = os.geteuid()
    for directory, own in ((path, True), (os.path.dirname(path), False)):
        try:
            st = os.lstat(directory)
            if _stat.S_ISLNK(st.st_mode) and st.st_uid == me:
                st = os.stat(directory)  # a link of the user's own: what it points to
        except OSError:
            continue  # absent: made 0700 when first written; unreadable: every use fails
        if st.st_uid != me and (own or st.st_uid != 0):
            return directory, f"belongs to another user (uid {st.st_uid})"
        others = st.st_mode & 0o022 if own else st.st_mode & 0o002
        if not own and st.st_mode & 0o020 and st.st_gid != os.getegid():
            others = 0o020
        if others and not (not own and st.st_mode & _stat.S_ISVTX):
            return directory, f"may be written by others (mode {_stat.S_IMODE(st.st_mode):03o})"
    return None


def load_state(state_dir: str, real: str) -> dict[str, Any]:
    """What wrap remembers of the account whose file's real path is REAL (state.load)."""
    path = os.path.join(state_dir, "credentials", state_key(real) + ".json")
    try:
        return state_values(loads(read_private(path)))
    except (OSError, ValueError):
        return {}


def fresh_check(
    flags: Mapping[str, Any],
    program: str | None,
    env: Mapping[str, str],
    now: float,
    *,
    as_json: bool,
) -> tuple[int, str] | None:
    """--check-only's exit code and line (the JSON object or the human line) when the fast
    path can give them alone; None: the full model (actions.check) answers."""
    if as_json and os.isatty(1):
        return None  # a person reads it: report.dumps indents it, as every command's JSON
    try:
        return _fresh_check(flags, program, env, now, as_json)
    except (Exception, KeyboardInterrupt):
        return None


def _fresh_check(
    flags: Mapping[str, Any],
    program: str | None,
    env: Mapping[str, str],
    now: float,
    as_json: bool,
) -> tuple[int, str] | None:
    read = _read_account(flags, program, env)
    if read is None:
        return None
    state_dir = xdg_dir("state", env)
    if untrusted_state(state_dir) is not None:
        return None  # the full model says so, in its one line, and reads no state
    remembered = load_state(state_dir, os.path.realpath(read.path))
    blocked = remembered.get("blocked_until")
    if blocked is not None and now < blocked:
        return None  # whether the cooldown still holds depends on the file's version
    account = _display_name(read, env)
    if account is None:
        return None
    threshold = effective_threshold(read.threshold, remembered.get("lifetime"))
    expires, ends = read.expires_at, read.login_ends
    obj = {
        "profile": read.name,
        "path": read.path,
        "account": account,
        "state": token_state(expires, now, threshold),
        "expires_at": iso(expires),
        "expires_in_seconds": None if expires is None else int(expires - now),
        "threshold_seconds": threshold,
        "has_refresh_token": bool(read.refresh),
        "last_refreshed": iso(remembered.get("last_refreshed")),
        "refresh_count": remembered.get("refresh_count", 0),
        "consecutive_failures": remembered.get("consecutive_failures", 0),
        "login_expires_at": iso(ends),
        "login_expires_in_seconds": None if ends is None else int(ends - now),
        "store": "file",
        "where": read.path,
        "refresh_blocked_until": None,
        "schema": SCHEMA,
    }
    line = dumps_flat(obj) if as_json else summary_line(obj, read.threshold)
    return exit_code(obj, read.threshold), line


def _display_name(read: _Account, env: Mapping[str, str]) -> str | None:
    """accounts.display_name for a file with no alias; None for a name that may hold one."""
    profile = read.profile
    if "-oauth-" in os.path.basename(read.path):
        return None  # <provider>-oauth-<n>-<alias>.json: accounts.alias_from_name's
    for field in profile.account_fields:
        value = peek(read.doc, field)
        if field == "email" and not value:
            claims = jwt_claims(peek(read.doc, profile.id_token or "id_token"))
            value = claims.get("email") if claims else None
        if isinstance(value, str) and value:
            return value
    if profile.account_file is not None:
        paths, field = profile.account_file
        for candidate in path_candidates(paths, env):
            value = read_field(candidate, field)
            if value:
                return value
    if not any(ch in read.path for ch in "*?[") and read.path in path_candidates(
        profile.paths, env
    ):
        return read.name
    return os.path.basename(read.path)


def read_field(path: str, field: str) -> str | None:
    """A non-empty string field of another JSON file (where a CLI names its account)."""
    try:
        with open(path, "rb") as f:
            doc = loads(f.read())
    except (OSError, ValueError):
        return None
    value = peek(doc, field) if isinstance(doc, dict) else None
    return value if isinstance(value, str) and value else None


def dumps_flat(obj: Mapping[str, object]) -> str:
    """json.dumps(OBJ) of a flat object of strings, ints, booleans and nulls, without `json`
    (whose import loads its decoder, and that `re`); _Unsure for any other value."""
    import _json

    quote = _json.encode_basestring_ascii
    parts = []
    for key, value in obj.items():
        if value is None:
            text = "null"
        elif value is True or value is False:
            text = "true" if value else "false"
        elif type(value) is int:
            text = int.__repr__(value)
        elif type(value) is str:
            text = quote(value)
        else:
            raise _Unsure(key)
        parts.append(f"{quote(key)}: {text}")
    return "{" + ", ".join(parts) + "}"


# The full model: every case, the rest of wrap imported as each step needs it.


def gate(
    settings: Settings,
    *,
    env: Mapping[str, str],
    now: Callable[[], float],
    log: Log,
    program: str,
    renew: Callable[..., credentials.Credentials] | None = None,
    interactive: bool = False,
) -> int | None:
    """Make the token usable if it can be; None means launch, an int means exit with it.

    INTERACTIVE (stdin and stdout are a terminal) allows a login when no refresh can help."""
    from launcher import credentials, exitcodes, policy, store, stores
    from launcher.errors import CredentialsError, WrapError

    path = settings.credentials
    profile = settings.profile
    try:
        # The file unless the account lives in the Keychain or the keyring (launcher/stores/).
        source = stores.for_settings(settings, env)
        _, doc, creds = store.read_parsed(profile, path, time.sleep, source)
    except Exception as e:
        if not isinstance(e, CredentialsError):
            # A bug in reading, not a bad file: as if it were unreadable, after a crash report.
            e = CredentialsError(f"cannot read {path}: {_unexpected(env, e)}", credentials.INVALID)
        if settings.strict:
            log.warn(f"{e} (--strict: not launching {program})")
            return exitcodes.NO_CREDENTIALS
        log.warn(f"{e}; launching {program} anyway")
        return None
    t = now()
    ends = creds.login_expires_at
    # The login's own deadline came with the read: a comparison, and no more while it is far.
    if ends is not None and ends - t <= settings.login_warning:
        from launcher import deadline

        deadline.warn_once_a_day(settings, doc, ends, env=env, now=t, say=log.warn)
    # Past the raw threshold the lifetime rule can only lower it: no state read on the hot path.
    current = policy.token_state(creds.expires_at, t, settings.threshold)
    if current == policy.FRESH:
        return None
    try:
        return _due(settings, env, now, log, program, renew, interactive, creds, t, source)
    except (Exception, KeyboardInterrupt) as e:
        why = "interrupted" if isinstance(e, KeyboardInterrupt) else _unexpected(env, e)
        return _failed(settings, log, WrapError(why), current, program, source.where)


def _unexpected(env: Mapping[str, str], error: BaseException) -> str:
    from launcher import config, crash

    return crash.describe(error, crash.report(config.state_dir(env), error))


def _due(
    settings: Settings,
    env: Mapping[str, str],
    now: Callable[[], float],
    log: Log,
    program: str,
    renew: Callable[..., credentials.Credentials] | None,
    interactive: bool,
    creds: credentials.Credentials,
    t: float,
    source: Store,
) -> int | None:
    """The token is not fresh by the raw threshold: the lifetime rule, then refresh or login."""
    from launcher import config, policy, state
    from launcher.errors import WrapError

    path = settings.credentials
    state_dir = config.state_dir(env)
    remembered = state.load(state_dir, path)
    threshold = policy.effective_threshold(settings.threshold, remembered.lifetime)
    current = policy.token_state(creds.expires_at, t, threshold)
    if current == policy.FRESH:
        return None
    if settings.refresh_via == "cli":
        log.debug(f"refresh_via = cli: {program} refreshes its own token")
        return None
    version = source.fingerprint()
    if remembered.blocked(t, version):
        # The endpoint's firewall refused wrap: the CLI refreshes by itself when it must.
        log.debug(f"the token endpoint refused wrap recently; launching {program} at once")
        return None
    if remembered.unreachable(t, settings.token_url, version):
        # No network a moment ago: a launch inside the cooldown does not wait for it again.
        if current == policy.EXPIRING:
            log.debug(f"{settings.token_url} could not be reached recently; launching {program}")
            return None
        from launcher.refresh.outcome import unreachable_error

        return _failed(
            settings, log, unreachable_error(remembered, settings.token_url), current, program,
            source.where,
        )  # fmt: skip
    if renew is None:
        # httpx and the rest of the refresh machinery load only when a refresh is due.
        from launcher.refresh.route import renew as renew_now

        renew = renew_now
    try:
        renew(settings, state_dir, now=now, log=log, env=env)
    except WrapError as e:
        if getattr(e, "rejected", False) and _login(settings, env, log, interactive, str(e)):
            return None
        return _failed(settings, log, e, current, program, source.where)
    log.debug(f"refreshed the token in {source.where}")
    return None


def _login(
    settings: Settings, env: Mapping[str, str], log: Log, interactive: bool, why: str
) -> bool:
    """Log in again, on a terminal only, when the profile knows how; True when it worked."""
    if not interactive or settings.profile.login_method is None:
        return False
    from launcher import login
    from launcher.errors import WrapError

    log.warn(why)
    log.warn("logging in again before the program starts")
    try:
        login.login(settings, env=env, log=log, interactive=True)
    except WrapError as e:
        log.warn(f"login failed: {e}")
        return False
    return True


def _failed(
    settings: Settings, log: Log, error: WrapError, current: str, program: str, path: str
) -> int | None:
    from launcher import exitcodes, policy
    from launcher.errors import UsageError

    # A rejected token's message already says how to log in again; a usage error how to fix it;
    # one the next launch will not send (no answer came, or the firewall's cooldown) says so.
    held = ("rejected", "held_back", "firewall", "blocked")
    retry = (
        ""
        if isinstance(error, UsageError) or any(getattr(error, a, False) for a in held)
        else "; the next launch tries again"
    )
    # What happened, then what wrap does about it, then what comes next: one line, kept short.
    from launcher.report import tilde

    what = f"could not refresh {tilde(path, os.environ)}: {error}"
    if current == policy.EXPIRED:
        if settings.strict:
            log.warn(f"{what}; not launching {program} with an expired token (--strict){retry}")
            return exitcodes.REFRESH_FAILED
        log.warn(f"{what}; launching {program} with an expired token{retry}")
    else:
        log.warn(f"{what}; launching {program} anyway, its token is valid for now{retry}")
    return None


def launch(
    settings: Settings,
    program: str,
    args: Sequence[str],
    *,
    env: Mapping[str, str],
    log: Log,
    now: Callable[[], float] = time.time,
    skip_self: bool = True,
    not_found_fix: str = "",
    real_name: str | None = None,
) -> int:
    """Gate, then exec PROGRAM with ARGS untouched; returns only when nothing was launched.

    REAL_NAME is the program's own name when PROGRAM is a path that may not say it (the
    WRAP_CLAUDE_BIN of wrap-claude): claude."""
    from launcher import exitcodes
    from launcher.errors import ExecError, Terminated
    from launcher.execute import find_program, reentered

    name = real_name or os.path.basename(program)
    try:
        # A program that is not there fails at once, before any credentials work.
        path = find_program(
            program, env, skip_self=skip_self, fix=not_found_fix, real_name=name, say=log.warn
        )
    except ExecError as e:
        log.warn(str(e))
        return e.exit_code
    if reentered(name, env):
        # What the first pass exec'd led back to wrap: that pass already gated.
        return run(path, name, args, log, name=name)
    env = _bound_dir(settings, env, log)
    try:
        code = gate(
            settings,
            env=env,
            now=now,
            log=log,
            program=os.path.basename(program),
            interactive=os.isatty(0) and os.isatty(1),
        )
        if code is not None:
            return code
        # The kept setup token is the profile's own program's (claude's), not any program's.
        if settings.setup_token == "env" and name in settings.profile.programs:
            _hand_over_setup_token(settings, env, now())
    except Terminated as e:
        # SIGTERM/SIGHUP during a refresh: its answer is saved and the locks are gone; the user
        # asked to stop, so nothing is launched.
        log.warn(f"stopped by signal {e.signum} before launching {name}")
        return 128 + e.signum
    except (Exception, KeyboardInterrupt) as e:
        # gate() handles its own failures; this is the last line of defence around it.
        why = "interrupted" if isinstance(e, KeyboardInterrupt) else _unexpected(env, e)
        if settings.strict:
            log.warn(f"{why} (--strict: not launching {name})")
            return exitcodes.REFRESH_FAILED
        log.warn(f"{why}; launching {name} anyway")
    return run(path, program, args, log, name=name)


def _bound_dir(settings: Settings, env: Mapping[str, str], log: Log) -> Mapping[str, str]:
    """The named account's directory ([profiles.NAME.dirs], WRAP_ACCOUNT) handed to the program
    in its directory variable, and why, under -v; a bad binding is one line, and the default."""
    from launcher import config

    bound = settings.bound
    if bound is None:
        return env
    warning = config.binding_warning(settings)
    if warning:
        log.warn(warning)
        return env
    if bound.why:
        log.debug(bound.why)
    if bound.variable is None or bound.directory is None:
        return env
    # exec passes os.environ on; the refresh (locks, Keychain service) reads ENV.
    os.environ[bound.variable] = bound.directory
    return settings.program_env(env)


def launch_program(
    flags: Mapping[str, Any], program: str, args: Sequence[str], *, env: Mapping[str, str], log: Log
) -> int:
    """`wrap [OPTIONS] PROGRAM [ARGS]...`: the settings, then launch(); a usage error is one line
    and its code, anything unforeseen launches PROGRAM ungated."""
    from launcher import config
    from launcher.errors import WrapError

    try:
        try:
            settings = config.resolve(flags, env, program=program)
        except WrapError as e:
            log.warn(str(e))
            return e.exit_code
        return launch(settings, program, args, env=env, log=log)
    except (Exception, KeyboardInterrupt) as e:
        return ungated(program, args, env=env, log=log, error=e)


def run(path: str, program: str, args: Sequence[str], log: Log, *, name: str) -> int:
    """Exec PATH as PROGRAM with ARGS; returns (126/127) only when that failed."""
    from launcher import exitcodes
    from launcher.errors import ExecError
    from launcher.execute import exec_program

    try:
        exec_program(path, program, args, name=name)
    except ExecError as e:
        log.warn(str(e))
        return e.exit_code
    return exitcodes.CANNOT_EXECUTE  # pragma: no cover - exec does not return


def _hand_over_setup_token(settings: Settings, env: Mapping[str, str], t: float) -> None:
    """Give the program the token a setup-command login kept for it (Claude documents
    CLAUDE_CODE_OAUTH_TOKEN for setup tokens); a token the user exported wins."""
    from launcher import config, state, store

    if env.get(state.ENV_TOKEN):
        return
    import json

    try:
        saved = json.loads(
            store.read_private(state.env_token_path(config.state_dir(env), settings.credentials))
        )
        token, expires_at = saved["token"], saved["expires_at"]
    except (OSError, ValueError, KeyError, TypeError):
        return
    if isinstance(token, str) and isinstance(expires_at, int | float) and expires_at > t:
        os.environ[state.ENV_TOKEN] = token


def main_claude(argv: Sequence[str] | None = None) -> int:
    """`wrap-claude [ARGS]...`: every argument belongs to claude; settings come from the env."""
    args = list(sys.argv[1:] if argv is None else argv)
    env = os.environ
    explicit = env.get("WRAP_CLAUDE_BIN")
    program = explicit or "claude"
    fresh_launch(
        {"profile": "claude"}, program, args, env=env, skip_self=not explicit, real_name="claude"
    )
    from launcher import config, exitcodes
    from launcher.errors import UsageError
    from launcher.log import Log

    log = Log()
    fix = "install Claude Code, or set WRAP_CLAUDE_BIN to the real claude"
    try:
        settings = config.resolve({"profile": "claude"}, env)
    except UsageError as e:
        log.warn(str(e))
        return exitcodes.USAGE
    except (Exception, KeyboardInterrupt) as e:
        return ungated(
            program, args, env=env, log=log, error=e, skip_self=not explicit, fix=fix,
            real_name="claude",
        )  # fmt: skip
    log.verbosity = settings.verbosity
    return launch(
        settings,
        program,
        args,
        env=env,
        log=log,
        skip_self=not explicit,
        not_found_fix=fix,
        real_name="claude",
    )


def ungated(
    program: str,
    args: Sequence[str],
    *,
    env: Mapping[str, str],
    log: Log,
    error: BaseException,
    skip_self: bool = True,
    fix: str = "",
    real_name: str | None = None,
) -> int:
    """Settings could not even be read, for a reason nobody foresaw: say so, launch anyway."""
    from launcher.errors import ExecError
    from launcher.execute import find_program

    why = "interrupted" if isinstance(error, KeyboardInterrupt) else _unexpected(env, error)
    name = real_name or os.path.basename(program)
    log.warn(f"{why} while reading wrap's settings; launching {name} without checking its token")
    try:
        path = find_program(program, env, skip_self=skip_self, fix=fix, real_name=name)
    except ExecError as e:
        log.warn(str(e))
        return e.exit_code
    return run(path, program, args, log, name=name)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main_claude())
