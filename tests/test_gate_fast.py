"""The fast path of a fresh launch (gate.fresh_path) against the full model: fed the same cases
(every fixture, the fuzz corpus, edge cases of expiry units, missing fields, the lifetime rule,
the login warning window, cooldowns, settings), whenever the fast path launches a program, the
full model launches the same program and does nothing else (no line, no refresh, no state).
When the fast path is not sure it leaves the launch to the full model, so that is always
allowed; the edge cases also say which of them the fast path must decide alone.

And its JSON reader (gate.loads, the C scanner) against json.loads, errors included."""

from __future__ import annotations

import base64
import io
import json
import os
import random
from pathlib import Path
from typing import Any

import pytest
from conftest import DAY, FIXTURES, Home
from test_fuzz import FILES, _case

from launcher import config, execute, gate, profiles
from launcher.errors import ExecError, WrapError
from launcher.log import Log

T0 = 1_900_000_000.0
PROGRAMS = ("claude", "gemini", "qwen", "codex", "kiro", "iflow")


def _bin(home: Home) -> Path:
    where = home.root / "progs"
    if not where.exists():
        where.mkdir()
        for name in PROGRAMS:
            (where / name).write_text("#!/bin/sh\nexit 0\n")
            (where / name).chmod(0o755)
    return where


def _env(home: Home, **extra: str) -> dict[str, str]:
    env = home.env(**extra)
    env["PATH"] = f"{_bin(home)}{os.pathsep}{env['PATH']}"
    return env


def _tree(root: Path) -> dict[str, bytes]:
    if not root.exists():
        return {}
    return {str(p): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def full_model(
    flags: dict[str, Any],
    program: str,
    env: dict[str, str],
    now: float,
    *,
    skip_self: bool = True,
    real_name: str | None = None,
) -> str | None:
    """The program the full model launches with nothing else to do; None when it does anything
    else (a line on stderr, a refresh, a state write, a usage error, an ungated run)."""
    err = io.StringIO()
    log = Log(stream=err)
    name = real_name or os.path.basename(program)
    try:
        settings = config.resolve(flags, env, program=program)
        path = execute.find_program(program, env, skip_self=skip_self, real_name=name, say=log.warn)
    except (WrapError, ExecError):
        return None
    if settings.setup_token != "file" or execute.reentered(name, env):
        return None
    refreshed: list[object] = []

    def renew(*args: Any, **kwargs: Any) -> Any:
        refreshed.append(args)
        raise WrapError("no refresh in this test")

    state = Path(config.state_dir(env))
    before = _tree(state)
    code = gate.gate(
        settings, env=env, now=lambda: now, log=log, program=os.path.basename(program), renew=renew
    )
    if code is not None or err.getvalue() or refreshed or _tree(state) != before:
        return None
    return path


def _both(
    flags: dict[str, Any], program: str, env: dict[str, str], now: float, **kw: Any
) -> tuple[str | None, str | None]:
    return gate.fresh_path(flags, program, env, now, **kw), full_model(
        flags, program, env, now, **kw
    )


def _agree(
    flags: dict[str, Any], program: str, env: dict[str, str], now: float, **kw: Any
) -> str | None:
    fast, full = _both(flags, program, env, now, **kw)
    if fast is not None:
        assert fast == full, (flags, program, fast, full)
    return fast


# --- the literals are the profiles' ------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(profiles.BUILTIN))
def test_the_launch_literals_are_the_profiles_data(name: str) -> None:
    p = profiles.BUILTIN[name]
    launch = gate.LAUNCH[name]
    assert launch.programs == p.programs
    assert launch.paths == p.default_paths
    assert (launch.access, launch.refresh, launch.expiry) == (
        p.access_field,
        p.refresh_field,
        p.expiry_field,
    )
    assert launch.unit == p.expiry_unit
    assert (launch.login_field, launch.login_unit) == (p.login_expiry_field, p.login_expiry_unit)
    assert launch.store == p.secure_store
    assert launch.variant_field == p.variant_field
    for key, variant in p.variants.items():
        moved = p.replace(variants={}, variant_field=None, **variant)
        fields = (moved.access_field, moved.refresh_field, moved.expiry_field)
        assert launch.variants[key] == fields
        assert moved.expiry_unit == p.expiry_unit
        assert moved.login_expiry_field == p.login_expiry_field
    assert set(launch.variants) == set(p.variants)
    assert set(gate.LAUNCH) == set(profiles.BUILTIN)


# --- every fixture, at every distance from the threshold ---------------------------------------


FIXTURE_FILES = {**FILES, "codex": "codex.auth.json", "kiro-idc": "kiro-auth-token.idc.json"}
OFFSETS = (None, -60, 10, 3 * DAY, 7 * DAY, 7 * DAY + 1, 30 * DAY, 400 * DAY)


def _jwt(exp: object) -> str:
    def part(obj: object) -> str:
        return base64.urlsafe_b64encode(json.dumps(obj).encode()).rstrip(b"=").decode()

    return f"{part({'alg': 'none'})}.{part({'exp': exp})}.c2ln"


def _with_expiry(name: str, offset: int | None) -> dict[str, Any]:
    profile_name = name.split("-")[0]
    doc = json.loads((FIXTURES / FIXTURE_FILES[name]).read_text())
    profile = profiles.BUILTIN[profile_name].for_doc(doc)
    if profile.expiry_unit == "jwt":
        doc["tokens"]["access_token"] = _jwt(None if offset is None else T0 + offset)
    else:
        *parents, leaf = profile.expiry_field.split(".")
        node = doc
        for key in parents:
            node = node[key]
        if offset is None:
            node.pop(leaf, None)
        elif profile.expiry_unit == "iso":
            from launcher.credentials import format_iso

            node[leaf] = format_iso(T0 + offset)
        else:
            node[leaf] = int((T0 + offset) * 1000)
    return doc


@pytest.mark.parametrize("name", sorted(FIXTURE_FILES))
def test_every_fixture_at_every_distance_from_the_threshold(home: Home, name: str) -> None:
    profile = name.split("-")[0]
    path = home.root / FIXTURE_FILES[name]
    env = _env(home)
    decided = 0
    for offset in OFFSETS:
        path.write_text(json.dumps(_with_expiry(name, offset)))
        for flags in ({"profile": profile}, {}):
            flags = {**flags, "credentials": str(path)}
            fast = _agree(flags, profile, env, T0)
            fresh = offset is None or offset > 7 * DAY
            if "refreshTokenExpiresAt" in path.read_text() and fresh:
                # The fixture's login ended long ago: the full model warns, so must not the fast.
                fresh = False
            assert (fast is not None) == fresh, (name, offset, flags)
            decided += fast is not None
    assert decided or name == "claude"


# --- the fuzz corpus ---------------------------------------------------------------------------


def test_the_fuzz_corpus_gets_the_same_decision(home: Home) -> None:
    rng = random.Random(20261208)
    env = _env(home)
    launched = 0
    for i in range(300):
        name, data = _case(rng, i)
        path = home.root / f"case-{i}.json"
        path.write_bytes(data)
        for now in (T0 - 40 * DAY, T0):
            launched += (
                _agree({"profile": name, "credentials": str(path)}, name, env, now) is not None
            )
    assert launched >= 30  # not vacuous: the fast path decided many of them alone


# --- edge cases, each saying whether the fast path decides it alone ----------------------------


def _claude(home: Home, **oauth: Any) -> Path:
    doc = json.loads((FIXTURES / "claude.credentials.json").read_text())
    doc["claudeAiOauth"].pop("refreshTokenExpiresAt", None)
    doc["claudeAiOauth"]["expiresAt"] = int((T0 + 30 * DAY) * 1000)
    for key, value in oauth.items():
        if value is _DROP:
            doc["claudeAiOauth"].pop(key, None)
        else:
            doc["claudeAiOauth"][key] = value
    home.creds.write_text(json.dumps(doc))
    return home.creds


_DROP = object()

EDGES: list[tuple[str, dict[str, Any], dict[str, str], dict[str, Any], bool]] = [
    # (what, file fields, environment, flags, the fast path launches alone)
    ("fresh", {}, {}, {}, True),
    ("no expiry: fresh", {"expiresAt": _DROP}, {}, {}, True),
    ("expiry as a string", {"expiresAt": "soon"}, {}, {}, False),
    ("expiry a bool", {"expiresAt": True}, {}, {}, False),
    ("expiry past year 9999", {"expiresAt": 10**16}, {}, {}, False),
    ("expiry out of float range", {"expiresAt": 10**400}, {}, {}, False),
    ("expiry in seconds, read as ms", {"expiresAt": int(T0 + 30 * DAY)}, {}, {}, False),
    ("no access token", {"accessToken": _DROP}, {}, {}, False),
    ("empty access token", {"accessToken": ""}, {}, {}, False),
    ("access token a number", {"accessToken": 5}, {}, {}, False),
    ("no refresh token", {"refreshToken": _DROP}, {}, {}, True),
    ("refresh token an object", {"refreshToken": {"a": 1}}, {}, {}, False),
    ("login ends in 2 days", {"refreshTokenExpiresAt": int((T0 + 2 * DAY) * 1000)}, {}, {}, False),
    ("login ends in 20 days", {"refreshTokenExpiresAt": int((T0 + 20 * DAY) * 1000)}, {}, {}, True),
    ("login deadline unreadable", {"refreshTokenExpiresAt": "x"}, {}, {}, True),
    (
        "login ends in 2 d, 1 d window",
        {"refreshTokenExpiresAt": int((T0 + 2 * DAY) * 1000)},
        {"WRAP_LOGIN_WARNING": "1d"},
        {},
        True,
    ),
    ("threshold 60d: expiring", {}, {"WRAP_THRESHOLD": "60d"}, {}, False),
    ("threshold 1d by flag", {}, {}, {"threshold": "1d"}, True),
    ("threshold 0", {}, {"WRAP_THRESHOLD": "0"}, {}, True),
    ("bad threshold", {}, {"WRAP_THRESHOLD": "soon"}, {}, False),
    ("threshold too long", {}, {"WRAP_THRESHOLD": "40000d"}, {}, False),
    ("bad strict", {}, {"WRAP_STRICT": "maybe"}, {}, False),
    ("strict", {}, {"WRAP_STRICT": "1"}, {"strict": True}, True),
    ("bad refresh_via", {}, {"WRAP_REFRESH_VIA": "x"}, {}, False),
    ("refresh_via cli", {}, {"WRAP_REFRESH_VIA": "cli"}, {}, True),
    ("bad refresh timeout", {}, {}, {"refresh_timeout": "-1"}, False),
    ("bad lock timeout", {}, {"WRAP_LOCK_TIMEOUT": "x"}, {}, False),
    ("setup token handed over", {}, {"WRAP_SETUP_TOKEN": "env"}, {}, False),
    ("unknown profile", {}, {"WRAP_PROFILE": "nope"}, {}, False),
    (
        "token url and client id",
        {},
        {"WRAP_TOKEN_URL": "http://127.0.0.1:9/t"},
        {"client_id": "x"},
        True,
    ),
    ("an explicit config file", {}, {"WRAP_CONFIG": "/nonexistent.toml"}, {}, False),
    ("a setting the fast path does not know", {}, {"WRAP_ACCOUNT": "work"}, {}, False),
    ("the log level", {}, {"WRAP_LOG": "debug"}, {}, True),
]


@pytest.mark.parametrize(
    ("what", "fields", "env_extra", "flags", "alone"), EDGES, ids=[e[0] for e in EDGES]
)
def test_edge_cases(
    home: Home,
    what: str,
    fields: dict[str, Any],
    env_extra: dict[str, str],
    flags: dict[str, Any],
    alone: bool,
) -> None:
    _claude(home, **fields)
    env = _env(home, **env_extra)
    fast = _agree(flags, "claude", env, T0)
    assert (fast is not None) == alone, what
    if alone:
        assert fast == str(_bin(home) / "claude")


def test_the_lifetime_rule_and_a_cooldown_are_the_full_models(home: Home) -> None:
    # Expiring by the raw threshold: the state (a short lifetime, a cooldown) decides, and only
    # the full model reads it; fresh by the raw threshold stays fresh whatever the state says.
    from launcher import state

    env = _env(home)
    remembered = state.CredState(str(home.creds))
    remembered.lifetime = 8 * 3600
    remembered.blocked_until = T0 + 3600
    remembered.blocked_version = "x"
    state.save(config.state_dir(env), remembered)
    _claude(home, expiresAt=int((T0 + 5 * 3600) * 1000))
    fast, full = _both({}, "claude", env, T0)
    assert (fast, full) == (None, str(_bin(home) / "claude"))  # 5 h left of 8: fresh by L/2
    _claude(home)
    assert _agree({}, "claude", env, T0) == str(_bin(home) / "claude")


def test_a_config_file_leaves_the_decision_to_the_full_model(home: Home) -> None:
    _claude(home)
    (home.root / "config" / "wrap").mkdir(parents=True)
    (home.root / "config" / "wrap" / "config.toml").write_text('threshold = "60d"\n')
    assert _both({}, "claude", _env(home), T0) == (None, None)


def test_the_directory_variables_and_program_paths(home: Home) -> None:
    other = home.root / "other-claude"
    other.mkdir()
    doc = json.loads(home.creds.read_text()) if home.creds.exists() else None
    _claude(home, expiresAt=int((T0 - 60) * 1000))  # the default file: expired
    (other / ".credentials.json").write_text(
        json.dumps(
            {"claudeAiOauth": {"accessToken": "a", "expiresAt": int((T0 + 30 * DAY) * 1000)}}
        )
    )
    env = _env(home, CLAUDE_CONFIG_DIR=str(other))
    assert _agree({}, "claude", env, T0) == str(_bin(home) / "claude")
    assert _agree({}, "claude", _env(home), T0) is None
    explicit = str(_bin(home) / "claude")
    got = _agree({"profile": "claude"}, explicit, env, T0, skip_self=False, real_name="claude")
    assert got == explicit
    assert doc is None
    assert _agree({}, "no-such-program", env, T0) is None


def test_a_re_entered_launch_is_the_full_models(home: Home) -> None:
    _claude(home)
    env = _env(home, WRAP_ACTIVE=f"{os.getpid()}:1:claude:/x/claude")
    assert gate.fresh_path({}, "claude", env, T0) is None


def test_a_keyring_store_for_gemini_or_codex_is_the_full_models(home: Home) -> None:
    gemini = home.root / ".gemini"
    gemini.mkdir()
    (gemini / "oauth_creds.json").write_text(json.dumps(_with_expiry("gemini", 30 * DAY)))
    env = _env(home)
    assert _agree({}, "gemini", env, T0) == str(_bin(home) / "gemini")
    forced = _env(home, GEMINI_FORCE_ENCRYPTED_FILE_STORAGE="true")
    assert gate.fresh_path({}, "gemini", forced, T0) is None
    codex = home.root / ".codex"
    codex.mkdir()
    (codex / "auth.json").write_text(json.dumps(_with_expiry("codex", 30 * DAY)))
    assert _agree({}, "codex", env, T0) == str(_bin(home) / "codex")
    (codex / "config.toml").write_text('cli_auth_credentials_store = "keyring"\n')
    assert gate.fresh_path({}, "codex", env, T0) is None


def test_files_that_are_not_regular_files_are_the_full_models(home: Home) -> None:
    os.mkfifo(home.creds)
    assert _agree({}, "claude", _env(home), T0) is None
    home.creds.unlink()
    home.creds.mkdir()
    assert _agree({}, "claude", _env(home), T0) is None
    home.creds.rmdir()
    home.creds.write_bytes(b"{" + b" " * (gate.MAX_READ + 1) + b"}")
    assert _agree({}, "claude", _env(home), T0) is None


# --- the JSON reader ---------------------------------------------------------------------------


JSON_CASES = [
    b'{"a": 1}',
    b'  \r\n\t{"a": [1, 2.5, -3e2, true, false, null, "x\\u00e9\\ud83d\\ude00"]}\n',
    '{"é": "ü"}'.encode(),
    b'\xef\xbb\xbf{"bom": 1}',
    '{"utf16": 1}'.encode("utf-16"),
    '{"utf16": 1}'.encode("utf-16-le"),
    b'{"nan": NaN, "inf": Infinity, "-inf": -Infinity}',
    b'{"a": 1} trailing',
    b'{"a": 1}{"b": 2}',
    b"",
    b"   ",
    b"[" * 100_000,
    b'{"a": "\\ud83d"}',
    b'"\xed\xa0\xbd"',
    b'{"a": "x\ny"}',
    b"{'a': 1}",
    b'{"a": 1,}',
    b"\xff\xfe\x00",
    b"12345678901234567890123456789",
    b'{"dup": 1, "dup": 2}',
    b"null",
]


@pytest.mark.parametrize("data", JSON_CASES)
def test_loads_is_json_loads_results_and_errors(data: bytes) -> None:
    def outcome(fn: Any, arg: bytes | str) -> tuple[str, str]:
        try:
            return "ok", repr(fn(arg))
        except (ValueError, RecursionError) as e:
            return type(e).__name__, str(e)

    for arg in (data, data.decode("utf-8", "replace")):
        assert outcome(gate.loads, arg) == outcome(json.loads, arg)


def test_a_variant_moves_the_fields_the_fast_path_reads(home: Home) -> None:
    # gemini-cli's keyring shape, kept in a file: the token lives under `token`.
    path = home.root / "gemini-keyring.json"
    token = {"accessToken": "a", "refreshToken": "r", "expiresAt": int((T0 + 30 * DAY) * 1000)}
    path.write_text(json.dumps({"serverName": "main-account", "token": token}))
    flags = {"profile": "gemini", "credentials": str(path)}
    assert _agree(flags, "gemini", _env(home), T0) == str(_bin(home) / "gemini")
    token["expiresAt"] = int((T0 + DAY) * 1000)
    path.write_text(json.dumps({"serverName": "main-account", "token": token}))
    assert _agree(flags, "gemini", _env(home), T0) is None


# --- --check-only: the same object and line, the same exit code --------------------------------


def full_check(
    flags: dict[str, Any], program: str | None, env: dict[str, str], now: float, as_json: bool
) -> tuple[int, str]:
    from launcher import actions

    out = io.StringIO()
    settings = config.resolve(flags, env, program=program)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr("sys.stdout", out)
        mp.setattr("sys.stderr", out)
        code = actions.check(settings, env, as_json=as_json, now=lambda: now)
    return code, out.getvalue()


def _check_agrees(
    flags: dict[str, Any], program: str | None, env: dict[str, str], now: float
) -> bool:
    """Whether the fast check answered alone (both forms); when it did, as the full one."""
    alone = []
    for as_json in (True, False):
        fast = gate.fresh_check(flags, program, env, now, as_json=as_json)
        if fast is not None:
            code, line = fast
            assert (code, line + "\n") == full_check(flags, program, env, now, as_json)
        alone.append(fast is not None)
    assert alone[0] == alone[1]
    return alone[0]


@pytest.mark.parametrize("name", sorted(FIXTURE_FILES))
def test_check_every_fixture_at_every_distance(home: Home, name: str) -> None:
    profile = name.split("-")[0]
    path = home.root / FIXTURE_FILES[name]
    env = _env(home)
    for offset in OFFSETS:
        path.write_text(json.dumps(_with_expiry(name, offset)))
        for flags in ({"profile": profile}, {"profile": profile, "threshold": "40d"}):
            assert _check_agrees({**flags, "credentials": str(path)}, None, env, T0)


def test_check_the_fuzz_corpus(home: Home) -> None:
    rng = random.Random(20261209)
    env = _env(home)
    alone = 0
    for i in range(300):
        name, data = _case(rng, i)
        path = home.root / f"case-{i}.json"
        path.write_bytes(data)
        alone += _check_agrees({"profile": name, "credentials": str(path)}, None, env, T0)
    assert alone >= 60


def _save_state(env: dict[str, str], path: Path, **values: Any) -> None:
    from launcher import state

    remembered = state.CredState(os.path.realpath(path))
    for key, value in values.items():
        setattr(remembered, key, value)
    state.save(config.state_dir(env), remembered)


STATES: list[tuple[str, dict[str, Any], bool]] = [
    (
        "counts and last refresh",
        {"refresh_count": 3, "consecutive_failures": 2, "last_refreshed": T0 - 3600},
        True,
    ),
    ("the lifetime rule", {"lifetime": 8 * 3600.0}, True),
    ("a lifetime longer than the threshold", {"lifetime": 30 * DAY}, True),
    ("a cooldown over", {"blocked_until": T0 - 1, "blocked_version": "x"}, True),
    ("a cooldown running", {"blocked_until": T0 + 60, "blocked_version": "x"}, False),
    ("wrong types", {"refresh_count": True, "lifetime": "8h", "last_refreshed": "x"}, True),
]


@pytest.mark.parametrize(("what", "values", "alone"), STATES, ids=[s[0] for s in STATES])
@pytest.mark.parametrize("left", [5 * 3600, 3 * DAY, 30 * DAY, -60])
def test_check_with_wraps_state(
    home: Home, what: str, values: dict[str, Any], alone: bool, left: int
) -> None:
    _claude(home, expiresAt=int((T0 + left) * 1000))
    env = _env(home)
    _save_state(env, home.creds, **values)
    assert _check_agrees({}, None, env, T0) == alone, what


def test_check_with_a_damaged_state_file(home: Home) -> None:
    _claude(home)
    env = _env(home)
    _save_state(env, home.creds, refresh_count=1)
    [kept] = (Path(config.state_dir(env)) / "credentials").iterdir()
    for damage in (b"{", b"[]", b"null", b'{"refresh_count": 1e999}'):
        kept.write_bytes(damage)
        assert _check_agrees({}, None, env, T0)


ACCOUNTS: list[tuple[str, dict[str, Any], str | None, str]] = [
    # (what, file fields at the top, ~/.claude.json, the name)
    ("the profile's own file", {}, None, "claude"),
    ("an email in the file", {"email": "me@example.com"}, None, "me@example.com"),
    ("an alias in the file", {"alias": "work", "email": "me@example.com"}, None, "work"),
    ("an empty email", {"email": ""}, None, "claude"),
    ("claude's account file", {}, '{"oauthAccount": {"emailAddress": "a@b.c"}}', "a@b.c"),
    ("an unreadable account file", {}, "{", "claude"),
    ("an account file of another shape", {}, '{"oauthAccount": 5}', "claude"),
]


@pytest.mark.parametrize(
    ("what", "top", "account_file", "shown"), ACCOUNTS, ids=[a[0] for a in ACCOUNTS]
)
def test_check_names_the_account_as_status_does(
    home: Home, what: str, top: dict[str, Any], account_file: str | None, shown: str
) -> None:
    _claude(home)
    doc = json.loads(home.creds.read_text())
    doc.update(top)
    home.creds.write_text(json.dumps(doc))
    if account_file is not None:
        (home.root / ".claude.json").write_text(account_file)
    env = _env(home)
    assert _check_agrees({}, None, env, T0)
    _, line = gate.fresh_check({}, None, env, T0, as_json=True) or (None, "{}")
    assert json.loads(line)["account"] == shown


def test_check_names_other_files_by_their_name_or_leaves_aliases_to_the_full_model(
    home: Home,
) -> None:
    env = _env(home)
    _claude(home)
    other = home.root / "elsewhere.json"
    other.write_bytes(home.creds.read_bytes())
    assert _check_agrees({"credentials": str(other)}, None, env, T0)
    aliased = home.root / "claude-oauth-1-work.json"
    aliased.write_bytes(home.creds.read_bytes())
    assert not _check_agrees({"credentials": str(aliased)}, None, env, T0)
    codex = home.root / "auth.json"
    doc = _with_expiry("codex", 30 * DAY)
    codex.write_text(json.dumps(doc))
    assert _check_agrees({"profile": "codex", "credentials": str(codex)}, None, env, T0)
    assert _check_agrees({"credentials": str(codex)}, "codex", env, T0)


@pytest.mark.parametrize("ends", [-DAY, 2 * DAY, 6 * DAY, 20 * DAY])
def test_check_says_what_the_login_deadline_says(home: Home, ends: int) -> None:
    _claude(home, refreshTokenExpiresAt=int((T0 + ends) * 1000))
    assert _check_agrees({}, None, _env(home), T0)


def test_the_exit_codes_are_the_contracts() -> None:
    from launcher import exitcodes

    assert gate.EXIT_FOR_STATE == {
        "fresh": exitcodes.FRESH,
        "expiring": exitcodes.EXPIRING,
        "expired": exitcodes.EXPIRED,
        "missing": exitcodes.NO_CREDENTIALS,
        "invalid": exitcodes.NO_CREDENTIALS,
    }


def test_the_state_fields_are_the_states() -> None:
    from launcher import state

    names = [name for name, _ in gate.STATE_FIELDS]
    assert set(names) == set(state._FIELDS) - {"path"}


@pytest.mark.parametrize(
    "obj",
    [
        {"a": None, "b": True, "c": False, "d": 0, "e": -5, "f": 10**30},
        {"s": 'é \x1b \ud83d "q" \\ \n', "ü": "x"},
        {},
    ],
)
def test_dumps_flat_is_json_dumps(obj: dict[str, Any]) -> None:
    assert gate.dumps_flat(obj) == json.dumps(obj)
