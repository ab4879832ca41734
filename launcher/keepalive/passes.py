"""One pass: every account `wrap status` lists, each refreshed if it is due, through renew().

Due means the token would enter its effective threshold before the next pass (plus a margin
for the timer's randomized delay and the pass's own run time), so a token that lives an hour
is refreshed while it still has half an hour left, and a proxy reading the file never sees it
expired. Fresh accounts cost a read and a comparison: no lock, no network, no write.
"""

from __future__ import annotations

import calendar
import json
import os
import re
import shlex
import time
from typing import TYPE_CHECKING, Any

from launcher import credentials, exitcodes, redact, report, state
from launcher.errors import RefreshError, UsageError, WrapError
from launcher.keepalive import notify
from launcher.keepalive.foreground import Stopped
from launcher.keepalive.notify import Notice

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from launcher.config import Settings
    from launcher.log import Log
    from launcher.profiles import Profile
    from launcher.status import Entry

DEFAULT_INTERVAL = 900.0
# The timer's randomized delay (at most a minute) and a pass's own run time.
MARGIN = 120.0
FAILURES_BEFORE_NOTICE = 3

REFRESHED = "refreshed"
FAILED = "refresh failed"
NEEDS_YOU = "needs you"
NOT_REACHED = "not reached (stopped)"
HELD_BACK = "held back"


def due(expires_at: float | None, now: float, threshold: float, ahead: float) -> bool:
    """Whether a token expiring at EXPIRES_AT enters THRESHOLD within AHEAD seconds of NOW."""
    return expires_at is not None and expires_at - threshold <= now + ahead


class Outcome:
    """What the pass did to one account; only the ones it did something to are kept."""

    __slots__ = ("account", "action", "detail", "path", "profile")

    def __init__(self, account: str, profile: str, path: str, action: str, detail: str) -> None:
        self.account = account
        self.profile = profile
        self.path = path
        self.action = action
        self.detail = redact.text(detail)  # printed and kept in last-pass.json

    def to_json(self) -> dict[str, str]:
        return {name: getattr(self, name) for name in self.__slots__}


class Result:
    __slots__ = ("exit_code", "outcomes", "stopped", "untouched")

    def __init__(self) -> None:
        self.exit_code = exitcodes.FRESH
        self.outcomes: list[Outcome] = []
        self.untouched = 0
        self.stopped = False


def run(
    entries: list[Entry],
    *,
    state_dir: str,
    env: Mapping[str, str],
    interval: float,
    now: Callable[[], float],
    renew: Callable[..., credentials.Credentials],
    notifier: notify.Notifier,
    echo: Callable[[str], None],
    log: Log,
    sleep: Callable[[float], None],
    workers: int = 1,
    noted: Callable[[], None] | None = None,
) -> Result:
    """Refresh what is due, WORKERS accounts at once, and tell what needs the user; one line
    per account it did that for. NOTED is called as soon as a stop signal arrives while the
    workers run (launcher/refresh/pool.py); SLEEP raises Stopped once one was asked for."""
    from launcher import status
    from launcher.keepalive import record
    from launcher.refresh import pool

    result = Result()
    ahead = interval + MARGIN
    codes: set[int] = set()
    current: dict[str, list[Notice]] = {}

    def attempt(entry: Entry) -> tuple[Outcome | None, list[Notice], bool] | None:
        """The account's outcome, its notices and whether it was a configuration error; None
        when a stop was asked for before it was begun."""
        name = entry.report["account"] or os.path.basename(entry.account.path)
        try:
            sleep(0)  # raises Stopped once a stop was asked for: the account is not begun
            return (*_one(entry, name, state_dir, env, now, ahead, renew, log, sleep), False)
        except Stopped:
            return None
        except UsageError as e:  # a configuration error (a cleartext token URL, ...)
            profile = entry.settings.profile.name
            return Outcome(name, profile, entry.account.path, FAILED, str(e)), [], True

    # Due accounts are refreshed several at once; the lines come in the entries' order.
    attempts = pool.in_order(
        attempt,
        entries,
        shared=lambda e: status.shared_lock(e, env),
        workers=workers,
        noted=noted,
    )
    for entry, attempted in zip(entries, attempts, strict=True):
        path = entry.account.path
        name = entry.report["account"] or os.path.basename(path)
        profile = entry.settings.profile
        label = f"{name} ({profile.name})"
        if attempted is None:
            # Those begun before the stop still finish and are told below, in their turn.
            result.stopped = True
            result.outcomes.append(Outcome(name, profile.name, path, NOT_REACHED, ""))
            continue
        outcome, notices, usage = attempted
        if usage:
            codes.add(exitcodes.USAGE)
        current[path] = notices
        if outcome is None:
            result.untouched += 1
            continue
        if outcome.action == FAILED:
            codes.add(exitcodes.REFRESH_FAILED)
        result.outcomes.append(outcome)
        if notices:
            echo(f"! {label}: {notices[0].message}; run: {notices[0].command}")
        elif outcome.action == REFRESHED:
            echo(f"✓ {label}: {outcome.detail}")
        elif outcome.action == HELD_BACK:
            echo(f"- {label}: {outcome.action}: {outcome.detail}")
        else:
            echo(f"✗ {label}: {outcome.action}: {outcome.detail}")

    saved = record.load(state_dir, record.NOTICES)
    known: dict[str, dict[str, str]] = saved.get("known", {})
    ledger: dict[str, dict[str, dict[str, float]]] = saved.get("told", {})
    # What was told is small (accounts with a condition); the known accounts may be a
    # thousand, so their changes are counted instead of compared.
    told_before = json.dumps(ledger, sort_keys=True)
    known_changed = False
    seen = {e.account.path: e for e in entries}
    gone = [p for p in known if p not in seen]
    for path in gone:
        was = known[path]
        current[path] = [
            Notice(
                account=was.get("account", os.path.basename(path)),
                profile=was.get("profile", "?"),
                path=path,
                condition=notify.FILE_GONE,
                message=f"its credentials file {path} is gone",
                command=was.get("command", "wrap login"),
            )
        ]
        echo(f"! {current[path][0].line}")
    t = now()
    for notice in notify.to_send(ledger, current, t):
        if notifier.send(notice):
            notify.mark_told(ledger, notice, t)
            if notice.condition == notify.FILE_GONE:
                # Told once: it is no longer an account, nothing will clear it.
                known_changed |= known.pop(notice.path, None) is not None
                ledger.pop(notice.path, None)
    for path, seen_entry in seen.items():
        if path not in known:
            known_changed = True
            known[path] = {
                "account": seen_entry.report["account"] or os.path.basename(path),
                "profile": seen_entry.settings.profile.name,
                "command": login_command(seen_entry.settings.profile, path, env),
            }
    if known_changed or json.dumps(ledger, sort_keys=True) != told_before:
        try:
            record.save(state_dir, record.NOTICES, {"known": known, "told": ledger})
        except OSError as e:
            log.warn(f"could not remember what was notified: {e.strerror}")
    if exitcodes.USAGE in codes:
        result.exit_code = exitcodes.USAGE
    elif codes:
        result.exit_code = exitcodes.REFRESH_FAILED
    return result


def _one(
    entry: Entry,
    name: str,
    state_dir: str,
    env: Mapping[str, str],
    now: Callable[[], float],
    ahead: float,
    renew: Callable[..., credentials.Credentials],
    log: Log,
    sleep: Callable[[float], None],
) -> tuple[Outcome | None, list[Notice]]:
    r, settings = entry.report, entry.settings
    path, profile = entry.account.path, settings.profile

    def notice(condition: str, message: str, command: str | None = None) -> Notice:
        return Notice(
            account=name,
            profile=profile.name,
            path=path,
            condition=condition,
            message=message,
            command=command or login_command(profile, path, env),
        )

    def outcome(action: str, detail: str) -> Outcome:
        return Outcome(name, profile.name, path, action, detail)

    if r["state"] in (credentials.MISSING, credentials.INVALID):
        problem = _problem(settings, env)
        return outcome(NEEDS_YOU, problem), [notice(notify.FILE_INVALID, problem)]
    t = now()
    left = r["expires_in_seconds"]
    expires_at = None if left is None else t + left
    notices = []
    ending = login_ending(r, settings, t)
    if ending is not None:
        when = report.iso(ending)
        notices.append(notice(notify.LOGIN_ENDING, f"its login ends {when}"))
    if not due(expires_at, t, r["threshold_seconds"], ahead):
        return (outcome(NEEDS_YOU, notices[0].message) if notices else None), notices
    try:
        creds = renew(settings, state_dir, now=now, log=log, env=env, sleep=sleep, ahead=ahead)
    except UsageError:
        raise
    except RefreshError as e:
        if e.blocked:
            # The endpoint's firewall refused wrap lately: the CLI refreshes itself meanwhile,
            # and wrap asks again after the cooldown. Nothing was tried, nothing failed.
            return outcome(HELD_BACK, str(e)), notices
        if e.rejected:
            why = (
                "its refresh token was rejected"
                if r["has_refresh_token"]
                else "its file has no refresh token"
            )
            message = f"{why}: it cannot be refreshed until you log in again"
            notices.insert(0, notice(notify.REJECTED, message))
            # Suspended since an earlier pass: nothing was tried, nothing failed now.
            return outcome(FAILED if e.sent else NEEDS_YOU, str(e)), notices
        return _failed(entry, name, state_dir, e, notices, notice)
    except WrapError as e:
        return _failed(entry, name, state_dir, e, notices, notice)
    if creds.expires_at is not None and (expires_at is None or creds.expires_at > expires_at + 1):
        return outcome(REFRESHED, f"refreshed, expires {report.iso(creds.expires_at)}"), notices
    # Another process had refreshed it meanwhile, or it was not due after all under the locks.
    return (outcome(NEEDS_YOU, notices[0].message) if notices else None), notices


def _failed(
    entry: Entry,
    name: str,
    state_dir: str,
    error: WrapError,
    notices: list[Notice],
    notice: Callable[..., Notice],
) -> tuple[Outcome, list[Notice]]:
    path = entry.account.path
    remembered = state.load(state_dir, path)
    failures = remembered.consecutive_failures
    if remembered.unanswered is not None:
        # A request that got no answer may have rotated the token: wrap will not send it again
        # on its own, so only the user can settle it.
        notices.insert(0, notice(notify.FAILING, f"it cannot be refreshed safely: {error}"))
    elif failures >= FAILURES_BEFORE_NOTICE:
        message = f"refreshing it failed {failures} times in a row (last: {error})"
        notices.insert(0, notice(notify.FAILING, message, f"wrap refresh {shlex.quote(name)}"))
    return Outcome(name, entry.settings.profile.name, path, FAILED, str(error)), notices


def login_ending(obj: Mapping[str, Any], settings: Settings, now: float) -> float | None:
    """When the login itself ends (the report's `login_expires_at`, ISO 8601 UTC), if that is
    within the account's login_warning; None otherwise, and for logins with no known end."""
    at = obj.get("login_expires_at")
    if not isinstance(at, str):
        return None
    try:
        ends = float(calendar.timegm(time.strptime(at, "%Y-%m-%dT%H:%M:%SZ")))
    except ValueError:
        return None
    return ends if ends - now <= settings.login_warning else None


def _problem(settings: Settings, env: Mapping[str, str]) -> str:
    """The one-line reason an account's document cannot be used (read again for those only)."""
    from launcher import stores

    try:
        source = stores.for_settings(settings, env)
        credentials.parse(settings.profile, source.read(), source.where)
    except WrapError as e:
        return str(e)
    return f"{settings.credentials} cannot be used"


def login_command(profile: Profile, path: str, env: Mapping[str, str]) -> str:
    """The one command that logs this account in again."""
    if profile.login_method is not None:
        target = profile.name if path in profile.path_candidates(env) else path
        return f"wrap login {shlex.quote(target)}"
    quoted = re.search(r"'([^']+)'", profile.login_hint)
    return quoted.group(1) if quoted else profile.login_hint
