"""What `wrap keepalive`, `install`, `remove` and `status` do; cli.py only parses for them."""

from __future__ import annotations

import os
import shutil
import time
from typing import TYPE_CHECKING, Any

from launcher import config, exitcodes, report, status
from launcher.errors import UsageError, WrapError
from launcher.keepalive import foreground, notify, passes, record, units

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from launcher.log import Log


def interval(every: str | None, env: Mapping[str, str]) -> float:
    """--every, else the interval the scheduler runs passes at (the unit says), else 15 min."""
    if every is not None:
        text, source = every, "--every"
    elif env.get(units.INTERVAL_VAR):
        text, source = env[units.INTERVAL_VAR], units.INTERVAL_VAR
    else:
        return passes.DEFAULT_INTERVAL
    seconds = config.parse_duration(text, source)
    if seconds < 1:
        raise UsageError(f"invalid interval {text!r} ({source}): at least 1 s")
    return seconds


def keepalive(
    flags: Mapping[str, Any],
    env: Mapping[str, str],
    *,
    every: str | None,
    log: Log,
    echo: Callable[[str], None],
) -> int:
    """One pass, or with EVERY passes in the foreground until SIGTERM."""
    try:
        seconds = interval(every, env)
    except WrapError as e:
        log.warn(str(e))
        return e.exit_code
    stop = foreground.Stop().install()

    def one(next_at: float | None) -> int:
        return one_pass(flags, env, seconds, stop, log=log, echo=echo, next_at=next_at)

    if every is None:
        return one(None)
    return foreground.loop(one, seconds, stop)


def one_pass(
    flags: Mapping[str, Any],
    env: Mapping[str, str],
    seconds: float,
    stop: foreground.Stop,
    *,
    log: Log,
    echo: Callable[[str], None],
    next_at: float | None = None,
    now: Callable[[], float] = time.time,
) -> int:
    state_dir = config.state_dir(env)
    started = now()
    with record.pass_lock(state_dir) as mine:
        if not mine:
            log.info("another keepalive pass is running; this one is skipped")
            return exitcodes.FRESH
        try:
            loaded = config.load_config(env)
            webhook = notify.webhook_from(loaded[1], loaded[0])
            entries = status.collect(flags, env, started, config.COMMAND_REFRESH_TIMEOUT)
        except WrapError as e:
            log.warn(str(e))
            _save(state_dir, log, started, now(), "configuration error", e.exit_code, seconds)
            return e.exit_code
        from launcher.refresh import pool

        notifier = notify.Notifier(env=env, log=log, webhook=webhook)
        renew = _Renew()
        try:
            result = passes.run(
                entries,
                state_dir=state_dir,
                env=env,
                interval=seconds,
                now=now,
                renew=renew,
                notifier=notifier,
                echo=echo,
                log=log,
                sleep=stop.sleep,
                workers=pool.WORKERS,
                noted=stop.request,
            )
        finally:
            renew.close()
        if result.stopped:
            summary = "stopped"
        elif result.exit_code == exitcodes.USAGE:
            summary = "configuration error"
        elif result.exit_code:
            summary = "a refresh failed"
        else:
            summary = "ok"
        _save(
            state_dir,
            log,
            started,
            now(),
            summary,
            result.exit_code,
            seconds,
            outcomes=[o.to_json() for o in result.outcomes],
            untouched=result.untouched,
            next_at=None if result.stopped else next_at,
        )
    log.debug(f"keepalive pass done: {summary}, {len(entries)} accounts")
    return exitcodes.FRESH if result.stopped else result.exit_code


class _Renew:
    """renew() with one HTTP client per token endpoint and worker thread for the whole pass:
    building one loads the CA bundle (~70 ms), which 50 due accounts would otherwise pay 50
    times. A client serves one account at a time (its cookies are cleared between them), so
    the accounts refreshed at once never share one. httpx and the refresh machinery load only
    when an account is due: most passes have none."""

    def __init__(self) -> None:
        self.clients: dict[tuple[int, str, str | None, int | None], Any] = {}

    def _client(self, url: str) -> Any:
        import contextlib
        import threading
        from urllib.parse import urlsplit

        from launcher.refresh import http

        parts = urlsplit(url)
        # Each thread writes only its own keys: no two threads ever touch one entry.
        key = (threading.get_ident(), parts.scheme, parts.hostname, parts.port)
        if key not in self.clients:
            self.clients[key] = http.client_for(url)  # its proxy and CA choice, made once
        client = self.clients[key]
        # No account's cookies reach another account's request.
        client.cookies.clear()
        return contextlib.nullcontext(client)  # renew's `with` must not close it

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        from launcher.refresh.route import renew

        return renew(*args, client_factory=self._client, **kwargs)

    def close(self) -> None:
        for client in list(self.clients.values()):
            client.close()


def _save(
    state_dir: str,
    log: Log,
    started: float,
    finished: float,
    summary: str,
    code: int,
    seconds: float,
    **more: Any,
) -> None:
    value = {
        "started": started,
        "finished": finished,
        "result": summary,
        "exit_code": code,
        "interval": seconds,
        **more,
    }
    try:
        record.save(state_dir, record.LAST_PASS, value)
    except OSError as e:
        log.warn(f"could not record the pass in {record.folder(state_dir)}: {e.strerror}")


def program_path(argv0: str, env: Mapping[str, str]) -> str:
    """The `wrap` the scheduler should start: this one, by an absolute path (a scheduler's PATH
    is not the shell's). Not resolved through symlinks, so a pipx shim keeps upgrades working."""
    if os.sep in argv0:
        return os.path.abspath(argv0)
    return shutil.which(argv0, path=env.get("PATH")) or shutil.which("wrap") or argv0


def install(
    env: Mapping[str, str],
    *,
    every: str | None,
    argv0: str,
    log: Log,
    echo: Callable[[str], None],
    run: units.Run = units.run_command,
) -> int:
    try:
        seconds = units.check_interval(interval(every, {}))
        known = config.known_profiles(config.load_config(env)).values()
        carried = units.carried_env(env, known)
        scheduler = units.detect(env, run)
        program = program_path(argv0, env)
        lines = scheduler.install(program, seconds, carried)
    except WrapError as e:
        log.warn(str(e))
        return e.exit_code
    if isinstance(scheduler, units.Cron):
        log.warn(
            f"{scheduler.why}: nothing was installed. Add this line to your crontab "
            f"(crontab -e), or run 'wrap keepalive --every {every or '15m'}' under your "
            "container's entrypoint or supervisor:"
        )
    for line in lines:
        echo(line)
    # A script running `wrap keepalive install && ...` must learn that nothing is scheduled.
    return exitcodes.NEEDS_USER if isinstance(scheduler, units.Cron) else exitcodes.FRESH


def remove(
    env: Mapping[str, str],
    *,
    log: Log,
    echo: Callable[[str], None],
    run: units.Run = units.run_command,
) -> int:
    try:
        lines = units.detect(env, run).remove()
    except WrapError as e:
        log.warn(str(e))
        return e.exit_code
    for line in lines:
        echo(line)
    return exitcodes.FRESH


def describe(
    flags: Mapping[str, Any],
    env: Mapping[str, str],
    *,
    now: float,
    run: units.Run = units.run_command,
) -> dict[str, Any]:
    """`wrap keepalive status` as one object: scheduler, last pass, next pass, accounts."""
    state_dir = config.state_dir(env)
    sched = units.detect(env, run).status()
    last = record.load(state_dir, record.LAST_PASS)
    seconds = last.get("interval") or interval(None, env)
    next_pass = sched.get("next_pass") or last.get("next_at")
    if next_pass is None and sched["installed"] and last.get("started"):
        next_pass = last["started"] + seconds
    did = {o.get("path"): o for o in last.get("outcomes", []) if isinstance(o, dict)}
    rows = []
    for e in status.collect(flags, env, now):
        r = e.report
        o = did.get(e.account.path)
        if o is not None:
            action, detail = o.get("action"), o.get("detail")
        elif last:
            action, detail = "nothing due", None
        else:
            action, detail = None, None
        left = r["expires_in_seconds"]
        due_at = None
        if left is not None:
            due_at = now + left - r["threshold_seconds"] - seconds - passes.MARGIN
        rows.append(
            {
                "account": r["account"],
                "profile": r["profile"],
                "path": r["path"],
                "state": r["state"],
                "last_pass": action,
                "detail": detail,
                "due_from": report.iso(max(due_at, now)) if due_at is not None else None,
            }
        )
    return {
        **sched,
        "interval_seconds": seconds,
        "last_pass": report.iso(last.get("started")) if last else None,
        "last_result": last.get("result"),
        "next_pass": report.iso(next_pass),
        "accounts": rows,
    }


def status_lines(obj: dict[str, Any]) -> list[str]:
    yes = {True: "yes", False: "no"}
    lines = [
        f"scheduler: {obj['scheduler']}"
        + (f" ({obj['note']})" if obj.get("note") else "")
        + f"; installed: {yes[obj['installed']]}, enabled: {yes[obj['enabled']]}",
        f"every: {report.human_duration(obj['interval_seconds'])}",
        f"last pass: {obj['last_pass'] or 'never'}"
        + (f" ({obj['last_result']})" if obj["last_result"] else ""),
        f"next pass: {obj['next_pass'] or '-'}",
    ]
    for row in obj["accounts"]:
        did = row["last_pass"] or "not seen by a pass yet"
        if row["detail"]:
            did += f": {row['detail']}"
        elif row["last_pass"] == "nothing due" and row["due_from"]:
            did += f" (due from {row['due_from']})"
        lines.append(f"  {row['account']} ({row['profile']}, {row['state']}): {did}")
    return lines
