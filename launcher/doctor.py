"""`wrap doctor`: what wrap sees on this machine, one finding a line, safe to paste into an issue.

Each check is a function of a Context returning findings; CHECKS (machine-wide) and
PROFILE_CHECKS (once per profile in use here) are the whole list, so adding a row is adding a
function. No finding carries a token value: paths, modes, owners, names and outcomes only.
"""

from __future__ import annotations

import os
import stat
import sys
import time
from typing import TYPE_CHECKING, Any

from launcher import config, exitcodes, report
from launcher.errors import CredentialsError, WrapError

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from launcher.profiles import Profile

OK = "ok"
INFO = "info"  # worth knowing, nothing to do
WARN = "warn"  # the user should look
FAIL = "fail"  # wrap cannot do its work here
NEEDS_USER = frozenset({WARN, FAIL})
PROXY_VARS = ("HTTPS_PROXY", "HTTP_PROXY", "ALL_PROXY", "NO_PROXY")


class Finding:
    __slots__ = ("check", "detail", "fix", "profile", "status")

    def __init__(
        self, check: str, status: str, detail: str, fix: str | None = None, profile: str = ""
    ) -> None:
        self.check = check
        self.status = status
        self.detail = detail
        self.fix = fix
        self.profile = profile

    def to_json(self) -> dict[str, Any]:
        return {
            "check": self.check,
            "profile": self.profile or None,
            "status": self.status,
            "detail": self.detail,
            "fix": self.fix,
        }


class Context:
    """What every check may use; the side effects are parameters (tests pass their own)."""

    def __init__(
        self,
        env: Mapping[str, str],
        *,
        now: float,
        network: bool,
        reach: Callable[[str, Mapping[str, str]], str] | None = None,
    ) -> None:
        self.env = env
        self.now = now
        self.network = network
        self.reach = reach or reach_url
        self.uid = os.getuid()
        self.loaded: tuple[str, dict[str, Any]] | None = None


def run(ctx: Context) -> list[Finding]:
    """Every check, in order; a check that breaks is one finding, never a traceback."""
    findings: list[Finding] = []
    for check in CHECKS:
        findings += _guarded(check.__name__, check, ctx)
    for profile in _guarded_profiles(ctx, findings):
        for pcheck in PROFILE_CHECKS:
            findings += _guarded(pcheck.__name__, pcheck, ctx, profile)
    return findings


def _guarded_profiles(ctx: Context, findings: list[Finding]) -> list[Profile]:
    try:
        return profiles_in_use(ctx)
    except WrapError:
        return []  # the config check has said why


def exit_code(findings: list[Finding]) -> int:
    return exitcodes.NEEDS_USER if any(f.status in NEEDS_USER for f in findings) else 0


def lines(findings: list[Finding]) -> list[str]:
    out = []
    for f in findings:
        what = f"{f.profile}: {f.detail}" if f.profile else f.detail
        fix = f"; {f.fix}" if f.fix else ""
        out.append(f"{f.status:<4}  {f.check:<11} {what}{fix}")
    return out


def _guarded(name: str, call: Callable[..., list[Finding]], *args: Any) -> list[Finding]:
    try:
        return call(*args)
    except WrapError as e:
        return [Finding(name.removeprefix("check_"), FAIL, str(e))]
    except Exception as e:  # a doctor that breaks must still print the rest
        return [Finding(name.removeprefix("check_"), FAIL, f"could not check: {type(e).__name__}")]


def _mode_owner(path: str, ctx: Context, *, private: int) -> tuple[str, str | None]:
    """("0600, yours", None) or a description and what to do when others could read or write
    it (PRIVATE: the bits nobody else may have) or it belongs to another user."""
    st = os.stat(path)
    mode = stat.S_IMODE(st.st_mode)
    mine = st.st_uid == ctx.uid
    text = f"{mode:04o}, {'yours' if mine else f'owned by uid {st.st_uid}'}"
    if not mine:
        return text, f"it must be yours: chown {os.getuid()} {report.tilde(path, ctx.env)}"
    if mode & private:
        wanted = "700" if stat.S_ISDIR(st.st_mode) else "600"
        return text, f"others can reach it: chmod {wanted} {report.tilde(path, ctx.env)}"
    return text, None


# --- the machine -------------------------------------------------------------------------


def check_config(ctx: Context) -> list[Finding]:
    path = ctx.env.get("WRAP_CONFIG") or os.path.join(config.config_dir(ctx.env), "config.toml")
    ctx.loaded = config.load_config(ctx.env)  # a UsageError is the finding: file, key, fix
    if not os.path.exists(path):
        return [Finding("config", INFO, f"{report.tilde(path, ctx.env)} absent: built-in defaults")]
    return [Finding("config", OK, f"{report.tilde(path, ctx.env)} parses")]


def check_state_dir(ctx: Context) -> list[Finding]:
    from launcher import store

    path = config.state_path(ctx.env)
    untrusted = store.untrusted_state(path)
    if untrusted is not None:
        where, why = untrusted
        mend = f"chown $(id -u) {where} && chmod 700 {where}, or set XDG_STATE_HOME elsewhere"
        return [Finding("state", WARN, f"{report.tilde(where, ctx.env)} {why}: not used", mend)]
    if not os.path.exists(path):
        return [Finding("state", INFO, f"{report.tilde(path, ctx.env)} not created yet")]
    text, fix = _mode_owner(path, ctx, private=0o022)
    return [Finding("state", WARN if fix else OK, f"{report.tilde(path, ctx.env)} {text}", fix)]


def check_secure_store(ctx: Context) -> list[Finding]:
    if sys.platform == "darwin":
        from launcher.stores.keychain import SECURITY

        if os.access(SECURITY, os.X_OK):
            return [Finding("keychain", OK, f"security at {SECURITY}")]
        return [Finding("keychain", WARN, f"no {SECURITY}", "reinstall the command line tools")]
    import importlib.util

    bus = ctx.env.get("DBUS_SESSION_BUS_ADDRESS")
    lib = importlib.util.find_spec("secretstorage") is not None
    if bus and lib:
        return [Finding("keyring", OK, "a session bus for the Secret Service; secretstorage")]
    why = "no session bus (DBUS_SESSION_BUS_ADDRESS)" if not bus else "secretstorage missing"
    return [Finding("keyring", INFO, f"{why}: keyring accounts cannot be read here")]


def check_keepalive(ctx: Context) -> list[Finding]:
    from launcher.keepalive import commands

    obj = commands.describe({}, ctx.env, now=ctx.now)
    if not obj["installed"]:
        return [Finding("keepalive", INFO, f"not installed ({obj['scheduler']})")]
    last = obj["last_pass"] or "never"
    result = obj.get("last_result")
    detail = f"{obj['scheduler']}, last pass {last}" + (f" ({result})" if result else "")
    if not obj["enabled"]:
        return [Finding("keepalive", WARN, detail + ", not enabled", "wrap keepalive install")]
    failed = isinstance(result, str) and result not in ("ok", "nothing due")
    fix = "journalctl --user -u wrap-keepalive" if failed else None
    return [Finding("keepalive", WARN if failed else OK, detail, fix)]


def check_fleet(ctx: Context) -> list[Finding]:
    loaded = ctx.loaded if ctx.loaded is not None else config.load_config(ctx.env)
    if "fleet" not in loaded[1] and not ctx.env.get("WRAP_FLEET_URL"):
        return [Finding("fleet", INFO, "not configured")]
    from launcher.fleet import account
    from launcher.log import Log

    fs = account.fleet_settings_for(ctx.env)
    records = account.status(ctx.env, now=time.time, log=Log(-1))
    return [Finding("fleet", OK, f"{fs.where} reachable, {len(records)} record(s)")]


def check_proxies(ctx: Context) -> list[Finding]:
    found = []
    for name in PROXY_VARS:
        value = ctx.env.get(name) or ctx.env.get(name.lower())
        if value:
            found.append(f"{name}={_without_userinfo(value)}")
    return [Finding("proxy", INFO, ", ".join(found) if found else "none (direct connections)")]


def check_ca_store(ctx: Context) -> list[Finding]:
    from launcher.refresh import http

    http.ssl_context(ctx.env)  # what every request uses; a UsageError is the finding
    for name in ("SSL_CERT_FILE", "SSL_CERT_DIR"):
        if ctx.env.get(name):
            return [Finding("ca", OK, f"{name}={ctx.env[name]}")]
    paths = __import__("ssl").get_default_verify_paths()
    where = paths.cafile or paths.capath
    if where and os.path.exists(where):
        return [Finding("ca", OK, f"the system store ({where})")]
    return [Finding("ca", OK, "certifi's bundle (no system store)")]


def _without_userinfo(url: str) -> str:
    scheme, sep, rest = url.partition("://")
    if not sep or "@" not in rest.split("/", 1)[0]:
        return url
    return f"{scheme}://***@{rest.split('@', 1)[1]}"


CHECKS: tuple[Callable[[Context], list[Finding]], ...] = (
    check_config,
    check_state_dir,
    check_secure_store,
    check_keepalive,
    check_fleet,
    check_proxies,
    check_ca_store,
)


# --- each profile in use here ------------------------------------------------------------


def profiles_in_use(ctx: Context) -> list[Profile]:
    """The profiles whose program is installed or whose credentials exist: the others would be
    one line each of "not here", which nobody pasting into an issue needs."""
    from launcher import execute

    loaded = ctx.loaded if ctx.loaded is not None else config.load_config(ctx.env)
    used = []
    for profile in config.known_profiles(loaded).values():
        settings = config.resolve({"profile": profile.name}, ctx.env)
        if os.path.exists(settings.credentials):
            used.append(profile)
            continue
        for program in profile.programs:
            try:
                execute.find_program(program, ctx.env)
            except WrapError:
                continue
            used.append(profile)
            break
    return used


def check_program(ctx: Context, profile: Profile) -> list[Finding]:
    from launcher import execute

    for program in profile.programs:
        try:
            path = execute.find_program(program, ctx.env)
        except WrapError:
            continue
        real = os.path.realpath(path)
        shown = report.tilde(path, ctx.env)
        if real != path:
            shown += f" -> {report.tilde(real, ctx.env)}"
        return [Finding("program", OK, shown, profile=profile.name)]
    names = ", ".join(profile.programs)
    missing = f"{names} not on PATH (besides wrap's own)"
    return [Finding("program", WARN, missing, profile=profile.name)]


def check_version(ctx: Context, profile: Profile) -> list[Finding]:
    """The installed CLI's version, from its package files (never by starting it), and whether
    wrap's vendor facts were checked with a version that new."""
    from launcher.vendors import installed

    version = installed.program_version(profile.programs, ctx.env)
    if version is None:
        return [Finding("version", INFO, "unknown", profile=profile.name)]
    newer = installed.newer_than_checked(profile.name, version)
    if newer is not None:
        return [Finding("version", WARN, version, newer, profile=profile.name)]
    return [Finding("version", OK, version, profile=profile.name)]


def check_account(ctx: Context, profile: Profile) -> list[Finding]:
    """The account a launch in this directory would use, and why (launcher.accounts_dirs)."""
    from launcher import accounts_dirs

    which = accounts_dirs.which({"profile": profile.name}, ctx.env, loaded=ctx.loaded)
    where = report.tilde(which.credentials, ctx.env)
    name = which.name or "the default"
    detail = f"{name}: {where}" + (f" ({which.why})" if which.why else "")
    if which.problem:
        problem = f"{which.problem}; a launch here uses the default: {where}"
        fix = "correct that key in the config file"
        return [Finding("account", WARN, problem, fix, profile=profile.name)]
    return [Finding("account", OK, detail, profile=profile.name)]


def check_credentials(ctx: Context, profile: Profile) -> list[Finding]:
    from launcher import stores

    settings = config.resolve({"profile": profile.name}, ctx.env)
    store = stores.for_settings(settings, ctx.env)
    where = report.tilde(store.where or settings.credentials, ctx.env)
    if store.kind != stores.FILE:
        # Reachable is what matters for a Keychain or keyring item: read it (the document stays
        # in this process; a locked keyring or a missing bus is the finding, in its own words).
        try:
            store.read()
        except CredentialsError as e:
            return [Finding("credentials", WARN, str(e), profile=profile.name)]
        # A fallback store says after the read which of its two it read.
        detail = f"{report.tilde(store.where, ctx.env)} ({store.kind}, readable)"
        return [Finding("credentials", OK, detail, profile=profile.name)]
    path = settings.credentials
    if not os.path.exists(path):
        fix = f"log in: wrap login {profile.name}"
        return [Finding("credentials", WARN, f"{where} missing", fix, profile=profile.name)]
    text, problem = _mode_owner(path, ctx, private=0o077)
    status = WARN if problem else OK
    return [Finding("credentials", status, f"{where} {text}", problem, profile=profile.name)]


def check_endpoint(ctx: Context, profile: Profile) -> list[Finding]:
    if not ctx.network:
        return []
    settings = config.resolve({"profile": profile.name}, ctx.env)
    url = settings.token_url
    if not url:
        return [Finding("endpoint", INFO, "no token endpoint", profile=profile.name)]
    outcome = ctx.reach(url, ctx.env)
    status = OK if outcome.startswith("HTTP ") else FAIL
    return [Finding("endpoint", status, f"{url}: {outcome}", profile=profile.name)]


def reach_url(url: str, env: Mapping[str, str]) -> str:
    """ "HTTP <status>" when something answered at URL (a GET with no token, no body), else why
    not. Any answer counts: a token endpoint refuses a GET, and that is the point."""
    import httpx

    from launcher.refresh import http

    try:
        with http.client_for(url, env) as client:
            return f"HTTP {client.get(url, timeout=10).status_code}"
    except httpx.HTTPError as e:
        return f"unreachable ({type(e).__name__})"


PROFILE_CHECKS: tuple[Callable[[Context, Profile], list[Finding]], ...] = (
    check_program,
    check_version,
    check_account,
    check_credentials,
    check_endpoint,
)
