"""`wrap`: thin click commands: parse, call one core function, map the result to an exit code."""

from __future__ import annotations

import os
import sys
import time
from typing import Any

import click

from launcher import actions, config, exitcodes, redact
from launcher.errors import Terminated, UsageError, WrapError
from launcher.log import Log

HELP_OPTIONS = ["-h", "--help"]
CONTEXT: dict[str, Any] = {"help_option_names": HELP_OPTIONS, "max_content_width": 100}


class SuggestingGroup(click.Group):
    """A group whose unknown subcommand is a usage error naming the nearest one."""

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        name = args[0] if args else None
        if name is not None and not name.startswith("-") and name not in self.commands:
            raise click.UsageError(f"no command {name!r}{near(name, self.visible())}", ctx)
        return super().resolve_command(ctx, args)

    def visible(self) -> list[str]:
        return [n for n, c in self.commands.items() if not c.hidden]


def near(name: str, choices: list[str]) -> str:
    """ " (did you mean 'x'?)" for a NAME close to one of CHOICES, else " (choices: a, b)"."""
    import difflib

    match = difflib.get_close_matches(name, choices, n=1, cutoff=0.6)
    return f" (did you mean {match[0]!r}?)" if match else f" (choices: {', '.join(choices)})"


class WrapGroup(SuggestingGroup):
    """`wrap [OPTIONS] [--] PROGRAM [ARGS]...` with subcommands.

    A first argument that names a subcommand is that subcommand; anything else (and anything
    after `--`) is a program to gate and exec, so `wrap -- status` runs a program called status.
    """

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        ctx.meta["wrap.program_after_dashdash"] = _dashdash_first(self, args)
        return super().parse_args(ctx, args)

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        name = args[0] if args else None
        if name is not None and (
            ctx.meta.get("wrap.program_after_dashdash") or name not in self.commands
        ):
            return "run", self.commands["run"], args
        ctx.meta["wrap.typed_run"] = name == "run"
        return click.Group.resolve_command(self, ctx, args)


def _dashdash_first(cmd: click.Command, args: list[str]) -> bool:
    """Whether `--` comes before the first positional argument."""
    takes_value = {
        opt
        for p in cmd.params
        if isinstance(p, click.Option) and not p.is_flag and not p.count
        for opt in p.opts
    }
    skip = False
    for arg in args:
        if skip:
            skip = False
        elif arg == "--":
            return True
        elif arg.startswith("-") and arg != "-":
            skip = arg in takes_value
        else:
            return False
    return False


def _looks_like_path(text: str) -> bool:
    return text.startswith(("/", "~", ".")) or os.sep in text


def complete_profiles(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[Any]:
    """Profile names (built-in and the config's); a path when the word looks like one."""
    from click.shell_completion import CompletionItem

    if _looks_like_path(incomplete):
        return [CompletionItem(incomplete, type="file")]
    try:
        names = sorted(config.known_profiles(config.load_config(os.environ)))
    except Exception:  # completion must never print a traceback into the user's prompt
        return []
    return [CompletionItem(n) for n in names if n.startswith(incomplete)]


def complete_accounts(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[Any]:
    """Profile names and the accounts `wrap status` lists; a path when the word looks like one."""
    from click.shell_completion import CompletionItem

    if _looks_like_path(incomplete):
        return [CompletionItem(incomplete, type="file")]
    names = {item.value for item in complete_profiles(ctx, param, "")}
    try:
        from launcher import status

        entries = status.collect({}, os.environ, time.time())
    except Exception:  # profiles alone, rather than a traceback in the prompt
        entries = []
    names |= {str(e.report["account"]) for e in entries}
    return [CompletionItem(n) for n in sorted(names) if n.startswith(incomplete)]


def _settings_options(f: Any) -> Any:
    options = [
        click.option(
            "--profile",
            metavar="NAME",
            shell_complete=complete_profiles,
            help="Credentials profile [env WRAP_PROFILE; default: claude, "
            "or the one matching PROGRAM].",
        ),
        click.option(
            "--credentials",
            metavar="PATH",
            type=click.Path(),
            help="Credentials file [env WRAP_CREDENTIALS; default: the profile's].",
        ),
        click.option(
            "--threshold",
            metavar="DURATION",
            help="Refresh when the token expires within this: 7d, 36h, 1h30m, 15min or seconds; "
            "0 = only when expired [env WRAP_THRESHOLD; default 7d].",
        ),
        click.option(
            "--token-url",
            metavar="URL",
            help="OAuth token endpoint (https, or http on loopback) [env WRAP_TOKEN_URL].",
        ),
        click.option("--client-id", metavar="ID", help="OAuth client id [env WRAP_CLIENT_ID]."),
        click.option(
            "--strict",
            is_flag=True,
            default=None,
            help="Do not launch with an expired, missing or invalid token [env WRAP_STRICT=1].",
        ),
        click.option(
            "--refresh-timeout",
            metavar="DURATION",
            help="Longest the gate may hold a launch for a refresh, retries included "
            "[env WRAP_REFRESH_TIMEOUT; default 15s].",
        ),
        click.option(
            "--login-warning",
            metavar="DURATION",
            help="Warn (once a day) when the login itself ends within this "
            "[env WRAP_LOGIN_WARNING; default 3d].",
        ),
        click.option(
            "--no-browser",
            is_flag=True,
            default=None,
            help="Never open a browser for login [env WRAP_NO_BROWSER=1].",
        ),
        click.option(
            "--check-only",
            is_flag=True,
            help="Report freshness and exit (0 fresh, 1 expiring, 3 expired, "
            "4 missing/invalid; 1/3 also when the login itself ends within the threshold or "
            "has ended); change nothing, launch nothing.",
        ),
        click.option(
            "--refresh-token",
            "force_refresh",
            is_flag=True,
            help="Refresh now even if fresh (exit 5 on failure), then exec PROGRAM if given.",
        ),
        click.option("--json", "as_json", is_flag=True, help="With --check-only: one JSON object."),
        click.option("-q", "--quiet", is_flag=True, help="Only errors."),
        click.option("-v", "--verbose", is_flag=True, help="Debug messages [env WRAP_LOG=debug]."),
    ]
    for option in reversed(options):
        f = option(f)
    return f


@click.group(
    cls=WrapGroup,
    invoke_without_command=True,
    context_settings={**CONTEXT, "allow_interspersed_args": False},
    epilog=(
        "Exit codes: 0 fresh/refreshed, 1 expiring, 2 usage error, 3 expired, 4 no usable "
        "credentials, 5 refresh failed, 6 fleet store unreachable or refused wrap, 7 fleet "
        "record holds another login, 126/127 program not executable/not found, 130 "
        "interrupted. Once the program is launched (exec, same PID) its exit code is the "
        "process's."
    ),
)
@_settings_options
@click.version_option(
    package_name="wrap-launcher", prog_name="wrap", message="%(prog)s %(version)s"
)
@click.pass_context
def wrap(ctx: click.Context, /, **opts: Any) -> None:
    """Gate a CLI on a fresh OAuth token, then exec it.

    \b
      wrap [OPTIONS] [--] PROGRAM [ARGS]...   refresh if due, then exec PROGRAM
      wrap --check-only [--json]              report freshness (CI pre-step)
      wrap --refresh-token [PROGRAM ...]      refresh now, then exec PROGRAM if given
      wrap status [--json] [--expiring]       every account on this machine
      wrap refresh [NAME | --all]             refresh accounts now
      wrap login [NAME]                       log in again (setup command or browser)
      wrap keepalive [install|remove|status]  refresh every account ahead of expiry
      wrap fleet push|pull|status             one account on several machines
      wrap doctor [--json] [--network]        what wrap sees here, to paste into an issue
      wrap forget [NAME | --all]              remove what wrap keeps for an account

    The profile (claude, gemini, qwen, codex, kiro, iflow, or one from config.toml) is
    --profile, else the one whose program is PROGRAM (`wrap gemini` uses gemini), else claude.
    """
    ctx.obj = opts
    if ctx.invoked_subcommand is None:
        sys.exit(_act(opts, None, []))


@wrap.command(
    "run",
    context_settings={**CONTEXT, "ignore_unknown_options": True, "allow_interspersed_args": False},
    add_help_option=False,
    hidden=True,  # what `wrap PROGRAM` means; not a command of its own to learn
)
@click.argument("program")
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
@click.pass_context
def run(ctx: click.Context, program: str, args: tuple[str, ...]) -> None:
    """Gate on the token, then exec PROGRAM with ARGS (what `wrap PROGRAM ...` does)."""
    if ctx.meta.get("wrap.typed_run") and program in HELP_OPTIONS:
        # `wrap run --help` asks for help; `wrap -- --help` still runs a program so named.
        click.echo(ctx.get_help())
        sys.exit(exitcodes.FRESH)
    sys.exit(_act(ctx.obj, program, list(args)))


@wrap.command("status", context_settings=CONTEXT)
@click.option("--json", "as_json", is_flag=True, help="A JSON list, one object per account.")
@click.option(
    "--expiring",
    is_flag=True,
    help="Only expiring and expired accounts; exit 1 (expiring) or 3 (expired) if any.",
)
@click.option("--wide", is_flag=True, help="Every column, whole, however wide the terminal.")
@click.pass_obj
def status_cmd(opts: dict[str, Any], as_json: bool, expiring: bool, wide: bool) -> None:
    """Every known credential file and account: state, expiry, time left, last refresh."""

    def echo(text: str) -> None:
        # JSON escapes every control character: no escape sequence for click to look for and
        # strip (a pass over megabytes at 10,000 accounts). Names in the table may hold some.
        forced = actions.wants_color(os.environ, tty=False)
        click.echo(text, color=True if as_json or forced else None)

    sys.exit(actions.status(opts, as_json=as_json, expiring=expiring, echo=echo, wide=wide))


@wrap.command("refresh", context_settings=CONTEXT)
@click.argument("name", required=False, shell_complete=complete_accounts)
@click.option("--all", "everything", is_flag=True, help="Refresh every known account.")
@click.pass_obj
def refresh_cmd(opts: dict[str, Any], name: str | None, everything: bool) -> None:
    """Refresh one account now (or --all); NAME is a profile, an account's name or a path.

    Without NAME or --all: the default profile's file (what the gate would refresh)."""
    from launcher import status

    log = _log(opts)
    env = os.environ
    try:
        wait = config.COMMAND_REFRESH_TIMEOUT
        if name is None and not everything:
            settings = config.resolve(_flags(opts), env, refresh_timeout=wait)
            sys.exit(_force_refresh(settings, env, log, quiet=False))
        if name is not None and everything:
            raise UsageError("give NAME or --all, not both")
        entries = status.select(status.collect(_flags(opts), env, time.time(), wait), name)
    except WrapError as e:
        log.warn(str(e))
        sys.exit(e.exit_code)
    # Each line may carry a server's error text: redacted like every log line.
    sys.exit(status.refresh_all(entries, env=env, log=log, echo=_echo_redacted))


@wrap.command("login", context_settings=CONTEXT)
@click.argument("name", required=False, shell_complete=complete_profiles)
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
@click.pass_obj
def login_cmd(opts: dict[str, Any], name: str | None, args: tuple[str, ...]) -> None:
    """Log in again interactively: the vendor's own login under a pty (`claude auth login`,
    `codex login`), or a browser with PKCE and a loopback redirect (gemini). NAME is a profile
    or a file path; without it, the default profile. ARGS after -- go to the vendor's login
    command (wrap login claude -- --email a@b). NAME may be a named account
    ([profiles.NAME.accounts]). Needs a terminal."""
    from launcher import login

    if name is not None and name.startswith("-"):
        # `wrap login -- --sso`: no NAME, everything is for the CLI.
        args, name = (name, *args), None
    log = _log(opts)
    env = os.environ
    flags = _flags(opts)
    try:
        path = None
        if name is not None:
            from launcher import accounts_dirs

            loaded = config.load_config(env)
            known = config.known_profiles(loaded)
            account = None if name in known else accounts_dirs.find(name, loaded, known, env)
            if name in known:
                flags["profile"] = name
            elif account is not None:
                flags["profile"], path = account.profile.name, account.file
            elif os.sep in name or os.path.exists(name):
                flags["credentials"] = name
            else:
                # A typo must not start the default login and then fail on a file "nosuch".
                names = sorted({*known, *(n.name for n in accounts_dirs.named(loaded, known, env))})
                raise UsageError(
                    f"no profile or account named {name!r}{near(name, names)}; "
                    "name one, or a file path"
                )
        settings = config.resolve(flags, env, credentials_path=path)
        interactive = sys.stdin.isatty() and sys.stdout.isatty()
        login.login(settings, env=env, log=log, interactive=interactive, args=args)
    except WrapError as e:
        log.warn(str(e))
        sys.exit(e.exit_code)
    sys.exit(exitcodes.REFRESHED)


@wrap.group("keepalive", cls=SuggestingGroup, invoke_without_command=True, context_settings=CONTEXT)
@click.option(
    "--every",
    metavar="DURATION",
    help="Run passes in the foreground every DURATION (15m, 1h) until SIGTERM.",
)
@click.pass_context
def keepalive_cmd(ctx: click.Context, every: str | None) -> None:
    """One pass: refresh every account that is due before the next pass, and tell the user
    what needs them (desktop, notify_webhook, stderr). Never logs in. Exit 5 if a refresh
    failed, 2 for a configuration error.

    \b
      wrap keepalive install [--every 15m]   schedule passes (systemd timer, LaunchAgent)
      wrap keepalive remove                  undo install
      wrap keepalive status [--json]         scheduler, last and next pass, accounts
    """
    if ctx.invoked_subcommand is not None:
        return
    from launcher.keepalive import commands

    opts = ctx.obj
    code = commands.keepalive(
        _flags(opts), os.environ, every=every, log=_log(opts), echo=click.echo
    )
    sys.exit(code)


@keepalive_cmd.command("install", context_settings=CONTEXT)
@click.option("--every", metavar="DURATION", help="How often passes run [default: 15m].")
@click.pass_obj
def keepalive_install_cmd(opts: dict[str, Any], every: str | None) -> None:
    """Schedule passes: a systemd user timer, a LaunchAgent on macOS, else a crontab line."""
    from launcher.keepalive import commands

    log = _log(opts)
    code = commands.install(os.environ, every=every, argv0=sys.argv[0], log=log, echo=click.echo)
    sys.exit(code)


@keepalive_cmd.command("remove", context_settings=CONTEXT)
@click.pass_obj
def keepalive_remove_cmd(opts: dict[str, Any]) -> None:
    """Undo `wrap keepalive install`."""
    from launcher.keepalive import commands

    sys.exit(commands.remove(os.environ, log=_log(opts), echo=click.echo))


@keepalive_cmd.command("status", context_settings=CONTEXT)
@click.option("--json", "as_json", is_flag=True, help="One JSON object.")
@click.pass_obj
def keepalive_status_cmd(opts: dict[str, Any], as_json: bool) -> None:
    """Installed and enabled, the last pass (time, result), the next one, and per account what
    the last pass did."""
    from launcher.keepalive import commands

    try:
        obj = commands.describe(_flags(opts), os.environ, now=time.time())
    except WrapError as e:
        _log(opts).warn(str(e))
        sys.exit(e.exit_code)
    if as_json:
        from launcher import report

        click.echo(report.dumps(obj))
    else:
        click.echo("\n".join(commands.status_lines(obj)))
    sys.exit(exitcodes.FRESH)


@wrap.command(
    "daemon",
    context_settings={**CONTEXT, "ignore_unknown_options": True},
    add_help_option=False,
    hidden=True,  # only so that `wrap daemon` says where the feature is, not a program "daemon"
)
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def daemon_cmd(args: tuple[str, ...]) -> None:
    """Background refresh ahead of expiry (not built yet)."""
    Log().warn(
        "there is no daemon: 'wrap keepalive install' schedules passes with the system's "
        "scheduler, and 'wrap keepalive --every 15m' runs them in the foreground"
    )
    sys.exit(exitcodes.USAGE)


@wrap.command("doctor", context_settings=CONTEXT)
@click.option("--json", "as_json", is_flag=True, help="One JSON object.")
@click.option(
    "--network", is_flag=True, help="Also try to reach each token endpoint (no token is sent)."
)
def doctor_cmd(as_json: bool, network: bool) -> None:
    """What wrap sees here, to read when something is off or paste into an issue (no token
    values): each profile's program, credentials (mode, owner), the config and state
    directory, keyring or Keychain, keepalive, fleet store, proxies and CA store. Exit 0 when
    nothing needs you, 1 otherwise."""
    from launcher import doctor, report

    findings = doctor.run(doctor.Context(os.environ, now=time.time(), network=network))
    code = doctor.exit_code(findings)
    if as_json:
        obj = {"checks": [f.to_json() for f in findings], "needs_user": bool(code)}
        click.echo(report.dumps(obj))
    else:
        click.echo("\n".join(doctor.lines(findings)))
    sys.exit(code)


@wrap.command("forget", context_settings=CONTEXT)
@click.argument("name", required=False, shell_complete=complete_accounts)
@click.option("--all", "everything", is_flag=True, help="Every account, and wrap's shared state.")
@click.option("-n", "--dry-run", is_flag=True, help="Only say what would be removed.")
@click.option("-y", "--yes", is_flag=True, help="Do not ask on a terminal.")
@click.pass_obj
def forget_cmd(
    opts: dict[str, Any], name: str | None, everything: bool, dry_run: bool, yes: bool
) -> None:
    """Remove what wrap keeps for an account (NAME: a profile, an account's name or a path;
    without it, the default profile's): its state, backups (whole refresh tokens), a kept
    setup token, and the lock files wrap created. Says what it removes first. The credentials
    themselves are never touched: log out with the CLI for that."""
    from launcher import forget, status

    log = _log(opts)
    env = os.environ
    try:
        if name is not None and everything:
            raise UsageError("give NAME or --all, not both")
        if everything or name is not None:
            entries = status.collect(_flags(opts), env, time.time())
            try:
                paths = [e.account.path for e in status.select(entries, name)]
            except UsageError:
                if name is None or os.sep not in name:
                    raise
                paths = [os.path.expanduser(name)]  # an account whose file is gone already
        else:
            paths = [config.resolve(_flags(opts), env).credentials]
    except WrapError as e:
        log.warn(str(e))
        sys.exit(e.exit_code)
    state_dir = config.state_dir(env)
    doomed = forget.plan(state_dir, paths, everything=everything)
    guarded = forget.guarded(state_dir, None if everything else paths)
    for path in guarded:
        click.echo(
            f"kept: {path} (remembers a refresh token that may have rotated, or a pending "
            "recovery: forgetting it could replay a spent token)"
        )
    if not doomed:
        click.echo(f"nothing to remove: wrap keeps nothing for {name or 'this account'}")
        sys.exit(exitcodes.FRESH)
    click.echo(f"{'would remove' if dry_run else 'removing'} what wrap keeps ({len(doomed)}):")
    for path in doomed:
        click.echo(f"  {path}")
    for path in forget.kept(state_dir) if everything else []:
        click.echo(f"  kept: {path} (may hold the only copy of a refresh token: look, then rm)")
    if dry_run:
        sys.exit(exitcodes.FRESH)
    asking = not yes and sys.stdin.isatty() and sys.stdout.isatty()
    if asking and not click.confirm("remove them?", default=False):
        click.echo("nothing removed")
        sys.exit(exitcodes.FRESH)
    left = forget.remove(doomed, say=log.warn)
    click.echo("the credentials themselves are untouched")
    sys.exit(exitcodes.FRESH if not left else exitcodes.NEEDS_USER)


def _echo_redacted(line: str) -> None:
    click.echo(redact.text(line))


# --- wrap fleet: one account on several machines (launcher/fleet/) -------------------------


@wrap.group("fleet", cls=SuggestingGroup, context_settings=CONTEXT)
def fleet_group() -> None:
    """One account on several machines: its record in etcd, Redis or OpenBao/Vault.

    Exit codes: 6 the store cannot be reached or refused wrap, or a record is unreadable;
    7 (push) the record holds another login."""


@fleet_group.command("pull", context_settings=CONTEXT)
@click.argument("name", required=False, shell_complete=complete_accounts)
@click.option("--all", "everything", is_flag=True, help="Every account with `fleet` set.")
@click.pass_obj
def fleet_pull(opts: dict[str, Any], name: str | None, everything: bool) -> None:
    """A fresh access token from the fleet record into this machine's file (no refresh token).

    NAME is a profile or a record name; without it, the default profile."""
    from launcher.fleet import commands

    _fleet_exit(
        opts,
        lambda log: commands.pull(
            _flags(opts), os.environ, name, everything, log=log, echo=click.echo
        ),
    )


@fleet_group.command("push", context_settings=CONTEXT)
@click.argument("name", required=False, shell_complete=complete_accounts)
@click.option("--force", is_flag=True, help="Replace a record that holds another login.")
@click.pass_obj
def fleet_push(opts: dict[str, Any], name: str | None, force: bool) -> None:
    """Make this machine's login the account's fleet record; the file then keeps no refresh
    token."""
    from launcher.fleet import commands

    _fleet_exit(
        opts,
        lambda log: commands.push(_flags(opts), os.environ, name, force, log=log, echo=click.echo),
    )


@fleet_group.command("status", context_settings=CONTEXT)
@click.option("--json", "as_json", is_flag=True, help="A JSON list, one object per record.")
@click.pass_obj
def fleet_status(opts: dict[str, Any], as_json: bool) -> None:
    """Every fleet record: state, expiry, login deadline, last refresh, rejection, lock holder."""
    from launcher.fleet import commands

    def show(log: Log) -> int:
        entries = commands.status(os.environ, log=log)
        if as_json:
            from launcher import report

            click.echo(report.dumps(entries))
        else:
            click.echo(commands.table(entries) if entries else "no fleet records")
        return exitcodes.FRESH

    _fleet_exit(opts, show)


def _fleet_exit(opts: dict[str, Any], run: Any) -> None:
    log = _log(opts)
    try:
        code = run(log)
    except WrapError as e:
        log.warn(str(e))
        code = e.exit_code
    sys.exit(code)


def _log(opts: dict[str, Any]) -> Log:
    return actions.log_for(opts)


def _flags(opts: dict[str, Any]) -> dict[str, Any]:
    return actions.flags(opts)


def _act(opts: dict[str, Any], program: str | None, args: list[str]) -> int:
    return actions.act(opts, program, args, show_help=short_usage)


def _force_refresh(settings: config.Settings, env: Any, log: Log, *, quiet: bool) -> int:
    return actions.force_refresh(settings, env, log, quiet=quiet)


def main(argv: list[str] | None = None) -> int:
    try:
        code = wrap.main(args=argv, prog_name="wrap", standalone_mode=False)
    except SystemExit as e:
        return e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    except click.ClickException as e:
        # One error style for every message: click's own (a bad flag, a missing value) too.
        Log().warn(usage_message(e))
        return e.exit_code
    except click.exceptions.Abort:
        Log().warn("interrupted; nothing was changed")  # Ctrl-C at a prompt, or before one
        return exitcodes.INTERRUPTED
    except Terminated as e:
        # SIGTERM/SIGHUP: any answer in flight was saved and the locks released on the way out.
        Log().warn(f"stopped by signal {e.signum}")
        return 128 + e.signum
    except Exception as e:
        # status, refresh, login: a bug there is one line and exit 5, never a traceback.
        return actions.internal_error(e, os.environ, Log(), exitcodes.REFRESH_FAILED)
    return code if isinstance(code, int) else 0


def usage_message(error: click.ClickException) -> str:
    """click's error as wrap's one line: what happened, then where to read more."""
    text = error.format_message().replace("\n", " ").rstrip(".")
    text = text[:1].lower() + text[1:]
    ctx = error.ctx if isinstance(error, click.UsageError) else None
    where = ctx.command_path if ctx is not None else "wrap"
    return f"{text}; see '{where} --help'"


def short_usage() -> str:
    """What bare `wrap` prints: the forms, not the whole help."""
    names = ", ".join(SuggestingGroup.visible(wrap))
    return (
        "usage: wrap [OPTIONS] [--] PROGRAM [ARGS]...   or   wrap COMMAND [ARGS]...\n"
        f"commands: {names}; 'wrap --help' for everything"
    )
