"""The `wrap` console script: plain launches and --check-only without loading click.

`wrap PROGRAM ...` runs before every launch of an aliased CLI (gemini, codex, qwen), and
`wrap --check-only` before every CI job: click's import alone would cost them more than the whole
gate. This reader accepts only the plain forms of the top-level options; anything else (help,
--version, a subcommand, --refresh-token, a malformed or unknown option, no program) goes to
click (launcher/cli.py), which parses it again from the start, so errors and help read the same.
"""

from __future__ import annotations

import sys

TYPE_CHECKING = False  # typing itself costs ~4 ms of import on the launch path
if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence
    from typing import Any

    from launcher.log import Log

# The top-level options that take a value, as launcher/cli.py declares them.
VALUE_OPTIONS = {
    "--profile": "profile",
    "--credentials": "credentials",
    "--threshold": "threshold",
    "--token-url": "token_url",
    "--client-id": "client_id",
    "--refresh-timeout": "refresh_timeout",
    "--login-warning": "login_warning",
}
# The flags this reader handles; --refresh-token is left to click (it is not a launch's path).
FLAGS = {
    "--strict": "strict",
    "--no-browser": "no_browser",
    "--check-only": "check_only",
    "--json": "as_json",
    "-q": "quiet",
    "--quiet": "quiet",
    "-v": "verbose",
    "--verbose": "verbose",
}
# The settings flags shared by every command (the contract's precedence: flag, env, config).
SETTINGS_KEYS = (
    "profile",
    "credentials",
    "threshold",
    "token_url",
    "client_id",
    "strict",
    "refresh_timeout",
    "no_browser",
    "login_warning",
)
# `wrap NAME` with one of these runs the subcommand: click's business (tests/test_main.py keeps
# this list equal to launcher/cli.py's).
SUBCOMMANDS = frozenset(
    {"daemon", "doctor", "fleet", "forget", "keepalive", "login", "refresh", "run", "status"}
)


def parse(argv: Sequence[str]) -> tuple[dict[str, Any], str | None, list[str]] | None:
    """(options as click would give them, PROGRAM, ARGS), or None when click must read ARGV."""
    opts: dict[str, Any] = dict.fromkeys(VALUE_OPTIONS.values())
    opts.update(strict=None, no_browser=None, check_only=False, force_refresh=False)
    opts.update(as_json=False, quiet=False, verbose=False)
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg == "--":
            i += 1
            break
        if not arg.startswith("-") or arg == "-":
            break
        name, eq, value = arg.partition("=")
        if name in VALUE_OPTIONS:
            if not eq:
                i += 1
                if i == len(argv):
                    return None
                value = argv[i]
            # An empty value or one that looks like an option: let click say what it makes of it.
            if not value or value.startswith("-"):
                return None
            opts[VALUE_OPTIONS[name]] = value
        elif arg in FLAGS:
            opts[FLAGS[arg]] = True
        else:
            return None
        i += 1
    else:
        # No PROGRAM: only --check-only has something to do without one.
        return (opts, None, []) if opts["check_only"] else None
    if i == len(argv):
        return (opts, None, []) if opts["check_only"] else None
    program = argv[i]
    if program in SUBCOMMANDS and argv[i - 1 : i] != ["--"]:
        return None
    return opts, program, list(argv[i + 1 :])


def parse_status(argv: Sequence[str]) -> tuple[dict[str, Any], bool, bool, bool] | None:
    """(options, --json, --expiring, --wide) for `wrap [OPTIONS] status [--json] [--expiring]
    [--wide]`; None for anything else (help, errors: click's). Loading click costs the table
    as much as listing a thousand accounts."""
    if "status" not in argv:
        return None
    i = list(argv).index("status")
    parsed = parse([*argv[:i], "--check-only"])
    rest = set(argv[i + 1 :])
    if parsed is None or parsed[1] is not None:
        return None
    if not rest <= {"--json", "--expiring", "--wide"}:
        return None
    as_json = "--json" in rest
    # click.echo writes the table as this does but for a stdout it cannot encode to (it
    # wraps that one): the table has names and markers beyond ASCII. JSON is ASCII.
    if not as_json and (getattr(sys.stdout, "encoding", None) or "").lower() not in UTF8:
        return None
    opts = parsed[0]
    if "--check-only" in argv[:i] or opts["as_json"]:
        return None  # options that mean nothing to status: click says so
    opts["check_only"] = False
    return opts, as_json, "--expiring" in rest, "--wide" in rest


UTF8 = ("utf-8", "utf8")


def flags(opts: Mapping[str, Any]) -> dict[str, Any]:
    """The settings part of the options, as config.resolve takes them."""
    out = {k: opts[k] for k in SETTINGS_KEYS}
    out["verbosity"] = 1 if opts["verbose"] else 0
    return out


def log_for(opts: Mapping[str, Any]) -> Log:
    import os

    from launcher.log import Log

    verbosity = -1 if opts["quiet"] else 1 if opts["verbose"] else 0
    if not verbosity and os.environ.get("WRAP_LOG", "").lower() == "debug":
        verbosity = 1
    return Log(verbosity)


def main(argv: Sequence[str] | None = None) -> int:
    return _run(sys.argv[1:] if argv is None else list(argv))[0]


def _run(args: list[str]) -> tuple[int, bool]:
    """(exit code, whether the answer is complete once stdout is flushed: a report, after
    which nothing of the interpreter's teardown is needed)."""
    try:
        parsed = parse(args)
        listing = None if parsed is not None else parse_status(args)
    except Exception:  # pragma: no cover - a bug here must not cost the launch: click reads it
        parsed = listing = None
    if listing is not None:
        from launcher import actions

        opts, as_json, expiring, wide = listing
        code = actions.status(
            opts, as_json=as_json, expiring=expiring, echo=actions.echo, wide=wide
        )
        return code, True
    if parsed is None:
        from launcher import cli

        return cli.main(args), False
    opts, program, rest = parsed
    if program is not None and not opts["check_only"]:
        from launcher import gate

        # A fresh token: exec'd from here, with nothing else of wrap loaded.
        gate.fresh_launch(flags(opts), program, rest)
    elif opts["check_only"]:
        import os
        import time

        from launcher import gate

        # The same for a report that needs nothing but the file and wrap's state.
        answer = gate.fresh_check(
            flags(opts), program, os.environ, time.time(), as_json=opts["as_json"]
        )
        if answer is not None:
            sys.stdout.write(answer[1] + "\n")
            return answer[0], True
    from launcher.errors import Terminated
    from launcher.log import Log

    try:
        if program is not None and not opts["check_only"]:
            # The launch of an aliased CLI: straight to the gate, as wrap-claude does.
            import os

            from launcher import gate

            log = log_for(opts)
            code = gate.launch_program(flags(opts), program, rest, env=os.environ, log=log)
            return code, False
        from launcher import actions

        return actions.act(opts, program, rest), bool(opts["check_only"])
    except Terminated as e:
        # SIGTERM/SIGHUP: any answer in flight was saved and the locks released on the way out.
        Log().warn(f"stopped by signal {e.signum}")
        return 128 + e.signum, False


def entry() -> None:
    """The console script: main(), then out without the interpreter's teardown when nothing
    else can run after it. Tearing down every module costs ~2 ms, as much as the whole check
    a CI job runs (and more after `status --json` built 10,000 objects); a launch never gets
    there (it execs), --check-only would."""
    code, complete = _run(sys.argv[1:])
    if complete:
        import os

        try:
            sys.stdout.flush()
            sys.stderr.flush()
        except (OSError, ValueError):
            # A closed or broken stdout: Python's own exit would report it as 120.
            code = 120
        os._exit(code)
    sys.exit(code)


if __name__ == "__main__":  # pragma: no cover
    entry()
