"""What the top-level `wrap` command does once its options are read, without click.

Both readers of `wrap`'s arguments end here: the standard-library one in launcher/main.py (plain
launches and --check-only, on every launch of an aliased CLI) and click's in launcher/cli.py
(help, subcommands, errors). One code path, so the two cannot drift apart.
"""

from __future__ import annotations

import os
import sys
import time

from launcher import config, exitcodes, main
from launcher.errors import UsageError, WrapError
from launcher.log import Log

TYPE_CHECKING = False  # typing itself costs ~4 ms of import on the launch path
if TYPE_CHECKING:
    from collections.abc import Callable, Mapping
    from typing import Any

# The flag and log readers live with the fast reader, which must not import this module.
flags = main.flags
log_for = main.log_for


def echo(text: str, err: bool = False) -> None:
    stream = sys.stderr if err else sys.stdout
    stream.write(text + "\n")
    stream.flush()


def act(
    opts: Mapping[str, Any],
    program: str | None,
    args: list[str],
    *,
    show_help: Callable[[], str] | None = None,
) -> int:
    """`wrap [OPTIONS] [PROGRAM ARGS...]`: gate and exec, --check-only or --refresh-token.

    SHOW_HELP gives the help text printed when there is nothing to do (click's reader only)."""
    env = os.environ
    log = log_for(opts)
    if program is not None and not opts["check_only"] and not opts["force_refresh"]:
        from launcher import gate

        return gate.launch_program(flags(opts), program, args, env=env, log=log)
    try:
        return _gate_or_check(opts, program, args, env, log, show_help)
    except (Exception, KeyboardInterrupt) as e:
        # A report or a forced refresh: one line and the contract's code (a plain launch fails
        # open in gate.launch_program).
        return internal_error(e, env, log, _failure_code(opts))


def _failure_code(opts: Mapping[str, Any]) -> int:
    # Never 1 (CI reads it as "expiring") nor 0: --check-only cannot tell, a refresh did not happen.
    return exitcodes.NO_CREDENTIALS if opts["check_only"] else exitcodes.REFRESH_FAILED


def internal_error(error: BaseException, env: Mapping[str, str], log: Log, code: int) -> int:
    """One line and CODE for a failure nobody foresaw; the traceback goes to a crash report."""
    if isinstance(error, KeyboardInterrupt):
        log.warn("interrupted")
        return exitcodes.INTERRUPTED
    from launcher import crash

    log.warn(crash.describe(error, crash.report(config.state_dir(env), error)))
    return code


def _gate_or_check(
    opts: Mapping[str, Any],
    program: str | None,
    args: list[str],
    env: Mapping[str, str],
    log: Log,
    show_help: Callable[[], str] | None,
) -> int:
    try:
        settings = config.resolve(flags(opts), env, program=program)
        warning = config.binding_warning(settings)
        if warning:
            log.warn(warning)
        if opts["check_only"]:
            return check(settings, env, as_json=opts["as_json"])
        if opts["force_refresh"]:
            code = force_refresh(settings, env, log, quiet=program is not None)
            if code != exitcodes.REFRESHED or program is None:
                return code
        elif program is None:
            log.warn("no program given: name a PROGRAM to launch, or a command")
            if show_help is not None:
                echo(show_help(), err=True)
            return exitcodes.USAGE
    except WrapError as e:
        log.warn(str(e))
        return e.exit_code
    assert program is not None
    from launcher import gate

    return gate.launch(settings, program, args, env=env, log=log)


def check(
    settings: config.Settings,
    env: Mapping[str, str],
    *,
    as_json: bool,
    now: Callable[[], float] = time.time,
) -> int:
    """`--check-only [--json]`: the contract's line or object, and its exit code."""
    from launcher import accounts, report

    table = config.load_config(env)[1]
    aliases: dict[str, str] = {}
    if table.get("profiles"):
        from launcher import custom

        aliases = custom.aliases(table, env)
    account = accounts.Account(
        settings.profile,
        settings.credentials,
        aliases.get(os.path.realpath(settings.credentials))
        or accounts.alias_from_name(settings.credentials),
    )

    def name(doc: dict[str, Any] | None) -> str:
        return accounts.display_name(account, doc, env)

    obj, problem = report.describe(settings, config.state_dir(env), now(), name, env)
    if as_json:
        echo(report.dumps(obj))
    else:
        echo(report.summary_line(obj, settings.threshold))
        if problem:
            from launcher import redact

            echo(f"wrap: {redact.text(problem)}", err=True)
    return report.exit_code(obj, settings.threshold)


def status(
    opts: Mapping[str, Any],
    *,
    as_json: bool,
    expiring: bool,
    echo: Callable[[str], None],
    wide: bool = False,
) -> int:
    """`wrap status [--json] [--expiring]`: every account, as a table or the contract's JSON."""
    from launcher import status as accounts_status

    log = log_for(opts)
    try:
        entries = accounts_status.collect(flags(opts), os.environ, time.time())
    except WrapError as e:
        log.warn(str(e))
        return e.exit_code
    if expiring:
        entries = [e for e in entries if accounts_status.expiring(e)]
    tty = sys.stdout.isatty()
    color = wants_color(os.environ, tty=tty)
    # On a terminal the table fits its width (--wide: every column, whole); a pipe gets it all.
    width = None
    if tty and not wide and not as_json:
        import shutil

        width = shutil.get_terminal_size().columns
    shown = accounts_status.render(
        entries, as_json=as_json, expiring=expiring, tty=tty, color=color, width=width
    )
    echo(shown)
    return accounts_status.expiring_exit_code(entries) if expiring else exitcodes.FRESH


def wants_color(env: Mapping[str, str], *, tty: bool) -> bool:
    """NO_COLOR (any value) off; FORCE_COLOR / CLICOLOR_FORCE (anything but 0) on, even into a
    pipe; TERM=dumb off; else only on a terminal (no-color.org, bixense.com/clicolors)."""
    if env.get("NO_COLOR"):
        return False
    if any(env.get(v, "0") not in ("", "0") for v in ("FORCE_COLOR", "CLICOLOR_FORCE")):
        return True
    return tty and env.get("TERM") != "dumb"


def force_refresh(
    settings: config.Settings, env: Mapping[str, str], log: Log, *, quiet: bool
) -> int:
    """`--refresh-token` and `wrap refresh`: refresh now whatever the expiry; exit 0 or 5."""
    from launcher import report
    from launcher.refresh.route import renew

    try:
        # --refresh-token is what the "got no answer" line offers: it may resend that token.
        creds = renew(
            settings, config.state_dir(env), now=time.time, log=log, forced=True, resend=True
        )
    except WrapError as e:
        if isinstance(e, UsageError):
            raise
        log.warn(f"could not refresh the token in {settings.credentials}: {e}")
        return e.exit_code
    when = report.iso(creds.expires_at) or "no expiry"
    message = f"refreshed {settings.credentials} (expires {when})"
    if quiet:
        log.info(message)
    else:
        echo(message)
    return exitcodes.REFRESHED
