"""`wrap fleet push|pull|status`: one core function each, returning the exit code (cli.py only
parses and prints)."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from launcher import config, exitcodes, redact, report
from launcher.errors import UsageError, WrapError
from launcher.fleet import account

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from launcher.log import Log


def pull(
    flags: Mapping[str, Any],
    env: Mapping[str, str],
    name: str | None,
    everything: bool,
    *,
    log: Log,
    echo: Callable[[str], None],
) -> int:
    chosen = account.resolve_accounts(flags, env, name, everything)
    state_dir = config.state_dir(env)
    codes = set()
    for settings in chosen:
        try:
            creds = account.pull(settings, state_dir, now=time.time, log=log, env=env)
        except UsageError:
            raise
        except WrapError as e:
            log.warn(f"could not pull {settings.fleet} into {settings.credentials}: {e}")
            codes.add(e.exit_code)
            continue
        when = report.iso(creds.expires_at) or "no expiry"
        echo(f"pulled {settings.fleet} into {settings.credentials} (expires {when})")
    return max(codes) if codes else exitcodes.FRESH


def push(
    flags: Mapping[str, Any],
    env: Mapping[str, str],
    name: str | None,
    force: bool,
    *,
    log: Log,
    echo: Callable[[str], None],
) -> int:
    (settings,) = account.resolve_accounts(flags, env, name, False)[:1]
    outcome = account.push(
        settings,
        config.state_dir(env),
        force=force,
        now=time.time,
        log=log,
        env=env,
        timeout=config.COMMAND_REFRESH_TIMEOUT,
    )
    said = {
        "pushed": f"pushed {settings.credentials} as the fleet record {settings.fleet}",
        "same": f"the fleet record {settings.fleet} already holds this login",
        "older": f"the fleet record {settings.fleet} already holds a newer token of this login",
    }[outcome]
    echo(f"{said}; this machine's file now keeps no refresh token")
    return exitcodes.FRESH


def status(env: Mapping[str, str], *, log: Log) -> list[dict[str, Any]]:
    return account.status(env, now=time.time, log=log)


def table(entries: list[dict[str, Any]]) -> str:
    header = ["RECORD", "PROFILE", "STATE", "EXPIRES", "LOGIN ENDS", "LAST REFRESH", "LOCK"]
    rows = []
    for e in entries:
        by = e.get("last_refreshed_by")
        holder = e.get("lock_holder") or {}
        rows.append(
            [
                e["name"],
                e.get("profile") or "-",
                e["state"],
                e.get("expires_at") or "-",
                e.get("login_expires_at") or "-",
                f"{e.get('last_refreshed') or '-'}{f' ({by})' if by else ''}",
                holder.get("machine") or "-",
            ]
        )
    rows = [redact.cells(row) for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(header)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)).rstrip()]
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    for e in entries:
        if e.get("rejected"):
            rj = e["rejected"]
            lines.append(f"{e['name']}: rejected on {rj.get('machine')}: {rj.get('error')}")
        if e["state"] == "stalled":
            mark = e.get("refreshing") or {}
            lines.append(
                f"{e['name']}: a refresh on {mark.get('machine')} (since {mark.get('since')}) "
                f"may have been lost: log in on one machine and run 'wrap fleet push {e['name']}'"
            )
    # The notes under the table quote other machines' words (machine names, a server's error).
    return "\n".join(redact.text(line) for line in lines)
