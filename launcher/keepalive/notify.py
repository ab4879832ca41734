"""Telling the user before it breaks: once per condition, on the desktop, a webhook, the log.

A condition is told when it first appears, again when it persists a day later, and again after
it cleared and came back. Every notice names the account, what happened and the one command
to run; none carries a token value.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
from typing import TYPE_CHECKING, Any

from launcher import redact
from launcher.errors import UsageError

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from launcher.log import Log

REJECTED = "rejected"  # the server refused the refresh token (or there is none)
LOGIN_ENDING = "login_ending"  # the login itself ends within login_warning
FAILING = "failing"  # refreshes failed several times in a row, or cannot be tried again
FILE_GONE = "file_gone"
FILE_INVALID = "file_invalid"
URGENT = frozenset({REJECTED, FILE_GONE, FILE_INVALID})

REPEAT_AFTER = 86400.0  # a condition that persists is told again at most once a day
SEND_TIMEOUT = 10.0


class Notice:
    __slots__ = ("account", "command", "condition", "message", "path", "profile")

    def __init__(
        self, *, account: str, profile: str, path: str, condition: str, message: str, command: str
    ) -> None:
        self.account = account
        self.profile = profile
        self.path = path
        self.condition = condition
        self.message = redact.text(message)  # shown, sent to a webhook, kept
        self.command = command

    @property
    def line(self) -> str:
        return f"{self.account} ({self.profile}): {self.message}; run: {self.command}"

    def payload(self) -> dict[str, str]:
        text = f"wrap: {self.line}"
        return {
            "account": self.account,
            "profile": self.profile,
            "condition": self.condition,
            "message": self.message,
            "command": self.command,
            "text": text,  # Slack, Mattermost, ntfy-style receivers
            "content": text,  # Discord's own webhooks read this one
        }


def to_send(
    ledger: dict[str, dict[str, dict[str, float]]],
    current: Mapping[str, list[Notice]],
    now: float,
) -> list[Notice]:
    """The notices due now, given what was told when (LEDGER: path -> condition -> {since,
    at}); LEDGER is updated in place: CURRENT's paths are the accounts this pass looked at,
    and a condition of theirs that is no longer there is forgotten, so its return is news."""
    out = []
    for path, notices in current.items():
        told = ledger.get(path, {})
        now_there = {n.condition for n in notices}
        for gone in [c for c in told if c not in now_there]:
            del told[gone]
        for n in notices:
            seen = told.get(n.condition)
            if seen is None:
                told[n.condition] = {"since": now, "at": 0.0}
                out.append(n)
            elif now - seen.get("at", 0.0) >= REPEAT_AFTER:
                out.append(n)
        if told:
            ledger[path] = told
        else:
            ledger.pop(path, None)
    return out


def mark_told(ledger: dict[str, dict[str, dict[str, float]]], notice: Notice, now: float) -> None:
    ledger.setdefault(notice.path, {}).setdefault(notice.condition, {"since": now})["at"] = now


def check_webhook(url: object, source: str) -> str | None:
    """The webhook URL from the config, or None; https, or http to a loopback host only (a
    notice names the account, like a token URL it is not sent in the clear)."""
    if url is None:
        return None
    from urllib.parse import urlsplit

    if isinstance(url, str) and url:
        parts = urlsplit(url)
        host = parts.hostname or ""
        if parts.scheme == "https" and host:
            return url
        if parts.scheme == "http" and _loopback(host):
            return url
    raise UsageError(
        f"invalid notify_webhook ({source}): expected an https:// URL (http:// only for a "
        "loopback host)"
    )


def _loopback(host: str) -> bool:
    import ipaddress

    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def session_bus(env: Mapping[str, str]) -> str | None:
    """The session bus address a notification daemon listens on, or None (a server, a
    container, cron without the user's session)."""
    if env.get("DBUS_SESSION_BUS_ADDRESS"):
        return env["DBUS_SESSION_BUS_ADDRESS"]
    runtime = env.get("XDG_RUNTIME_DIR")
    if runtime:
        bus = os.path.join(runtime, "bus")
        try:
            if stat.S_ISSOCK(os.stat(bus).st_mode):
                return f"unix:path={bus}"
        except OSError:
            pass
    return None


class Notifier:
    """Sends each notice to the log (always) and to the desktop and webhook where there are."""

    def __init__(
        self,
        *,
        env: Mapping[str, str],
        log: Log,
        webhook: str | None = None,
        run: Callable[..., subprocess.CompletedProcess[bytes]] = subprocess.run,
        post: Callable[[str, bytes], None] | None = None,
        platform: str = sys.platform,
    ) -> None:
        self.env = env
        self.log = log
        self.webhook = webhook
        self.run = run
        self.post = post or _post
        self.platform = platform

    def send(self, notice: Notice) -> bool:
        """True when told: through at least one channel beyond the log, or the log is all
        there is. False (all of them failed) means: try again at the next pass."""
        self.log.warn(f"notice: {notice.line}")
        results = [r for r in (self._desktop(notice), self._webhook(notice)) if r is not None]
        return not results or any(results)

    def _desktop(self, notice: Notice) -> bool | None:
        title = f"wrap: {notice.account} needs you"
        body = f"{notice.message}\nRun: {notice.command}"
        if self.platform == "darwin":
            # The strings go in as arguments, never into the script's text.
            argv = [
                "osascript",
                "-e",
                "on run argv",
                "-e",
                "display notification (item 2 of argv) with title (item 1 of argv)",
                "-e",
                "end run",
                title,
                body,
            ]
            env = dict(self.env)
        else:
            bus = session_bus(self.env)
            if bus is None:
                self.log.debug("no session bus: no desktop notification")
                return None
            urgency = "critical" if notice.condition in URGENT else "normal"
            argv = ["notify-send", "--app-name=wrap", f"--urgency={urgency}", title, body]
            env = {**self.env, "DBUS_SESSION_BUS_ADDRESS": bus}
        if shutil.which(argv[0], path=env.get("PATH")) is None:
            self.log.debug(f"no {argv[0]} on PATH: no desktop notification")
            return None
        try:
            done = self.run(
                argv,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                timeout=SEND_TIMEOUT,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired) as e:
            self.log.warn(f"could not show a desktop notification: {e}")
            return False
        if done.returncode != 0:
            why = (done.stderr or b"").decode(errors="replace").strip().splitlines()
            self.log.warn(
                f"could not show a desktop notification: {argv[0]} exited {done.returncode}"
                + (f": {why[-1]}" if why else "")
            )
            return False
        return True

    def _webhook(self, notice: Notice) -> bool | None:
        if self.webhook is None:
            return None
        try:
            self.post(self.webhook, json.dumps(notice.payload()).encode())
        except OSError as e:
            self.log.warn(f"could not reach notify_webhook: {e}")
            return False
        return True


def _post(url: str, body: bytes) -> None:
    """POST BODY as JSON; an OSError for anything but a 2xx answer. Through wrap's one HTTP
    client factory: no redirect is followed (to any host or scheme, as urllib did), and a
    loopback URL never goes through a proxy."""
    from launcher.errors import WrapError
    from launcher.refresh import http

    headers = {"Content-Type": "application/json", "User-Agent": "wrap-keepalive"}
    try:
        with http.client_for(url) as client:
            answer = client.post(url, content=body, headers=headers, timeout=SEND_TIMEOUT)
    except WrapError as e:  # the CA store (SSL_CERT_FILE) could not be loaded
        raise OSError(str(e)) from None
    except http.httpx.HTTPError as e:
        raise OSError(str(e) or type(e).__name__) from None
    if not 200 <= answer.status_code < 300:
        raise OSError(f"HTTP {answer.status_code} from the webhook")


def webhook_from(table: Mapping[str, Any], config_path: str) -> str | None:
    return check_webhook(table.get("notify_webhook"), f"notify_webhook in {config_path}")
