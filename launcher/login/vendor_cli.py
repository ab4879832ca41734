"""Log in with the vendor's own login command (`claude auth login`, `codex login`) under a pty.

The CLI does the whole login (a new refresh chain, every scope) and writes its file itself,
under its own locks: wrap writes nothing. Afterwards wrap checks the result offline with the
CLI's status command and by reading the file again. wrap never runs a logout: Claude's and
codex's revoke the login on every machine (openai/codex #22577).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import subprocess
from typing import TYPE_CHECKING

from launcher import credentials, report, state
from launcher.errors import CredentialsError, ExecError, LoginError, UsageError
from launcher.execute import find_program
from launcher.login import setup
from launcher.login.mask import Masker
from launcher.refresh.outcome import record_success

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from launcher.config import Settings
    from launcher.log import Log
    from launcher.stores import Store

# Claude reads its token from this variable instead of the file whenever it is set, so neither
# the login nor its check may see it: `auth status` would say "logged in" whatever the file.
TOKEN_ENV = state.ENV_TOKEN
CHECK_TIMEOUT = 30.0
# CSI and OSC sequences (2.1.330 prints its link as an OSC 8 hyperlink), then other controls.
_ESCAPES = re.compile(rb"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b.")
_CONTROLS = re.compile(rb"[\x00-\x08\x0b-\x1f\x7f]")


def login(
    settings: Settings,
    *,
    env: Mapping[str, str],
    log: Log,
    now: float,
    state_dir: str,
    source: Store,
    args: Sequence[str] = (),
    headless: bool = False,
    stdin_fd: int = 0,
    stdout_fd: int = 1,
) -> None:
    """Run the profile's login_command with ARGS under the pty; raise LoginError unless its
    login_check then passes and the file holds a usable new login."""
    profile = settings.profile
    path = settings.credentials
    command = profile.login_command
    if not command:
        raise UsageError(f"profile {profile.name} has no login_command")
    program = program_for(command[0], env, profile.login_hint)
    if profile.vendor_lock == "codex":
        from launcher.vendors import codex

        held = codex.sign_in_in_progress(path)
        if held is not None:
            raise LoginError(
                f"another sign-in for {path} is in progress ({held} is held); finish or "
                "cancel it, then retry"
            )
    extra = [a for a in profile.login_args_headless if headless and a not in args]
    argv = [program, *command[1:], *extra, *args]
    shown = " ".join([command[0], *argv[1:]])
    child_env = _child_env(settings, env)
    # The CLI writes where it keeps the account (its file, or the Keychain or keyring).
    before = source.fingerprint()
    try:
        setup.run_pty(
            argv,
            env=child_env,
            timeout=settings.login_timeout,
            stdin_fd=stdin_fd,
            stdout_fd=stdout_fd,
        )
    except setup.Failed as e:
        # Its last line: what went wrong (the lines before echo the pasted code).
        raise LoginError(
            f"'{shown}' failed (exit status {e.status}): {said(e.output, lines=1).rstrip('.')}; "
            f"wrap left {source.where} as it was"
        ) from None
    _check(profile.login_check, env, child_env, shown)
    creds = _reread(settings, source, before, shown)
    if creds.expires_at is not None and creds.expires_at > now:
        record_success(state_dir, path, now, creds.expires_at - now, log)
    _drop_kept_token(state_dir, path, log)
    if env.get(TOKEN_ENV) and command[0] == "claude":
        log.warn(
            f"{TOKEN_ENV} is set: claude uses it instead of {source.where} while it is; "
            "unset it to use this login"
        )
    until = f" until {report.iso(creds.login_expires_at)}" if creds.login_expires_at else ""
    log.info(f"logged in: {source.where} holds a new login{until}")


def _child_env(settings: Settings, env: Mapping[str, str]) -> dict[str, str]:
    """ENV for the CLI, pointed at the file being logged in to: a file in another directory
    than the CLI's own (a second account, `~/.claude-work/.credentials.json`) gets the CLI's
    config-dir variable, and the variables that would win over it are dropped."""
    child = {k: v for k, v in env.items() if k != TOKEN_ENV}
    profile, path = settings.profile, settings.credentials
    var, default = profile.config_dir_env, profile.default_path(env)
    bound = settings.bound
    if bound is not None and bound.variable and bound.directory:
        # A named account ([profiles.NAME.accounts]): its directory as a launch hands it over
        # (gemini's GEMINI_CLI_HOME is the parent of the file's own folder).
        var, directory = bound.variable, bound.directory
    else:
        if not var or not default or os.path.basename(path) != os.path.basename(default):
            return child
        here = os.path.dirname(os.path.realpath(path))
        if here == os.path.dirname(os.path.realpath(default)):
            return child
        directory = os.path.dirname(os.path.abspath(path))
    child[var] = directory
    for pattern in profile.default_paths:
        if pattern.startswith("${" + var + "}"):
            break
        if pattern.startswith("${"):
            child.pop(pattern[2:].partition("}")[0], None)
    return child


def program_for(name: str, env: Mapping[str, str], fix: str) -> str:
    """Found like the program itself: WRAP_CLAUDE_BIN for claude, else the first NAME on PATH
    that is not wrap (with wrap-claude installed as `claude`, that is wrap itself)."""
    explicit = env.get("WRAP_CLAUDE_BIN") if name == "claude" else None
    if explicit:
        # Looked up (in its own directory) passing over wrap: a WRAP_CLAUDE_BIN that is wrap
        # would wait for this very login's lock. Then PATH, as for the program itself.
        where = {"PATH": os.path.dirname(explicit) or "."} if os.sep in explicit else env
        with contextlib.suppress(ExecError):
            return find_program(os.path.basename(explicit), where, skip_self=True)
    return find_program(name, env, skip_self=True, fix=fix)


def _check(
    command: Sequence[str] | None,
    env: Mapping[str, str],
    child_env: Mapping[str, str],
    shown: str,
) -> None:
    """The CLI's offline status check: exit 0, and `"loggedIn": true` when it answers JSON."""
    if not command:
        return
    program = program_for(command[0], env, "")
    check = " ".join(command)
    try:
        done = subprocess.run(
            [program, *command[1:]],
            env=dict(child_env),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=CHECK_TIMEOUT,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as e:
        raise LoginError(f"'{shown}' finished, but '{check}' could not run ({e})") from None
    answer: object = None
    with contextlib.suppress(ValueError):
        answer = json.loads(done.stdout)
    logged_in = not isinstance(answer, dict) or answer.get("loggedIn", True) is True
    if done.returncode != 0 or not logged_in:
        what = said(done.stdout + b"\n" + done.stderr) or f"exit status {done.returncode}"
        raise LoginError(f"'{shown}' finished, but '{check}' says it is not logged in: {what}")


def _reread(
    settings: Settings, source: Store, before: str | None, shown: str
) -> credentials.Credentials:
    try:
        data = source.read()
        _, creds = credentials.parse(settings.profile, data, source.where)
    except CredentialsError as e:
        raise LoginError(f"'{shown}' finished, but {e}") from None
    if source.fingerprint() == before:
        raise LoginError(
            f"'{shown}' finished, but {source.where} did not change: the login went "
            "elsewhere (another config directory or store)"
        )
    return creds


def _drop_kept_token(state_dir: str, path: str, log: Log) -> None:
    """A setup token wrap kept for the program (setup_token = "env") would be handed to claude
    as CLAUDE_CODE_OAUTH_TOKEN at every launch, hiding this login: it goes."""
    kept = state.env_token_path(state_dir, path)
    with contextlib.suppress(FileNotFoundError):
        os.unlink(kept)
        log.info("removed the setup token wrap kept for the program: the new login replaces it")


def said(output: bytes, lines: int = 3, limit: int = 300) -> str:
    """The last few lines a program printed, without escapes, tokens or control characters."""
    masker = Masker()
    text = masker.feed(_ESCAPES.sub(b"", output)) + masker.flush()
    text = text.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
    kept = [
        _CONTROLS.sub(b"", line).strip().decode("utf-8", "replace")
        for line in text.split(b"\n")
        if _CONTROLS.sub(b"", line).strip()
    ][-lines:]
    out = " / ".join(kept)
    return out if len(out) <= limit else "…" + out[-limit:]
