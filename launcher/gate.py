"""The hot path: read the credentials, decide, refresh only when due, exec the program.

Standard library only: with a fresh token this runs on every launch of the aliased CLI. The
refresh machinery (httpx and friends) is imported only when a refresh is due.

It fails open: whatever goes wrong that was not foreseen (a bug, Ctrl-C during a refresh or a
lock wait) is one line on stderr and a launch (under --strict, the contract's exit code); the
traceback goes to a crash report in the state directory, never to the terminal.
"""

from __future__ import annotations

import os
import sys
import time

from launcher import config, credentials, exitcodes, policy, store, stores
from launcher.errors import CredentialsError, ExecError, Terminated, UsageError, WrapError
from launcher.execute import exec_program, find_program, reentered
from launcher.log import Log

TYPE_CHECKING = False  # typing itself costs ~4 ms of import on the launch path
if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence
    from typing import Any

    from launcher.config import Settings
    from launcher.stores import Store


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
    from launcher import crash

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
    from launcher import state

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
    if remembered.blocked(t, source.fingerprint()):
        # The endpoint's firewall refused wrap: the CLI refreshes by itself when it must.
        log.debug(f"the token endpoint refused wrap recently; launching {program} at once")
        return None
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
    try:
        exec_program(path, program, args, name=name)
    except ExecError as e:
        log.warn(str(e))
        return e.exit_code
    return exitcodes.CANNOT_EXECUTE  # pragma: no cover - exec does not return


def _hand_over_setup_token(settings: Settings, env: Mapping[str, str], t: float) -> None:
    """Give the program the token a setup-command login kept for it (Claude documents
    CLAUDE_CODE_OAUTH_TOKEN for setup tokens); a token the user exported wins."""
    from launcher import state

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
    log = Log()
    explicit = env.get("WRAP_CLAUDE_BIN")
    program = explicit or "claude"
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
