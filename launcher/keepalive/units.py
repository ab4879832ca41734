"""The system's schedulers: a systemd user timer, a launchd LaunchAgent, else a crontab line.

Nothing of wrap's runs between passes: the scheduler starts `wrap keepalive` (one pass) and the
process exits. Every command the schedulers are driven with goes through RUN, so tests can use
a real `systemctl --user` against a private user manager, or a fake.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from typing import TYPE_CHECKING, Any

from launcher import profiles, store
from launcher.errors import UsageError, WrapError

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping

    from launcher.profiles import Profile

    Run = Callable[[list[str]], subprocess.CompletedProcess[str]]

NAME = "wrap-keepalive"
LABEL = "local.wrap.keepalive"
INTERVAL_VAR = "WRAP_KEEPALIVE_INTERVAL"
# Variables that decide which accounts, config and state a pass sees: carried into the unit
# from the shell that installs it, so the scheduled pass sees what `wrap status` saw there.
_CARRIED = ("WRAP_CONFIG", "XDG_CONFIG_HOME", "XDG_STATE_HOME")
_PATH_VAR = re.compile(r"^\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


class SchedulerError(WrapError):
    """The scheduler refused (systemctl, launchctl): its own message, and what to do."""


def run_command(argv: list[str]) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(
            argv, capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=60, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as e:
        return subprocess.CompletedProcess(argv, 127, "", str(e))


def carried_env(env: Mapping[str, str], known: Iterable[Profile]) -> dict[str, str]:
    names = list(_CARRIED)
    for profile in known:
        for pattern in profile.default_paths:
            match = _PATH_VAR.match(pattern)
            if match and match.group(1) not in names:
                names.append(match.group(1))
    carried = {n: env[n] for n in names if env.get(n)}
    for name, value in carried.items():
        if not value.isprintable():
            # A newline would end the unit's Environment= line and start a directive of the
            # value's choosing (ExecStartPre=), or split the crontab line in two.
            raise UsageError(
                f"{name} holds a newline or another control character, which a scheduled "
                "pass cannot carry: set it to a plain path, then run 'wrap keepalive install' "
                "again"
            )
    return carried


def check_interval(seconds: float) -> int:
    """A scheduled interval: whole minutes that divide an hour, or hours that divide a day, so
    that systemd's calendar timer (Persistent= needs one) and cron can both say it."""
    s = int(seconds)
    if s == seconds and (
        (60 <= s <= 3600 and s % 60 == 0 and 3600 % s == 0)
        or (s % 3600 == 0 and 0 < s <= 86400 and 86400 % s == 0)
    ):
        return s
    raise UsageError(
        f"cannot schedule a pass every {seconds:g} s: use minutes that divide an hour "
        "(1m, 5m, 15m, 30m) or hours that divide a day (1h, 2h, 6h, 24h)"
    )


def on_calendar(interval: int) -> str:
    if interval < 3600:
        return f"*-*-* *:00/{interval // 60}:00"
    if interval < 86400:
        return f"*-*-* 00/{interval // 3600}:00:00"
    return "*-*-* 00:00:00"  # hour 24 does not exist: once a day is midnight


def cron_line(program: str, interval: int, env: Mapping[str, str]) -> str:
    if interval < 3600:
        minutes = interval // 60
        when = "* * * * *" if minutes == 1 else f"*/{minutes} * * * *"
    elif interval < 86400:
        when = f"0 */{interval // 3600} * * *"
    else:
        when = "0 0 * * *"
    assigned = {**env, INTERVAL_VAR: str(interval)}
    words = [f"{k}={shlex.quote(v)}" for k, v in assigned.items()]
    words += [shlex.quote(program), "keepalive"]
    # In a crontab an unescaped % ends the command.
    return f"{when} {' '.join(words)}".replace("%", "\\%")


def _systemd_quote(value: str) -> str:
    # Specifiers (%h) are expanded everywhere; $VAR is not in the executable's path (the only
    # place one could appear here) nor in Environment= values, so "$" needs no escaping.
    value = value.replace("\\", "\\\\").replace('"', '\\"').replace("%", "%%")
    return f'"{value}"'


def service_unit(program: str, interval: int, env: Mapping[str, str]) -> str:
    lines = [
        "[Unit]",
        "Description=wrap keep-alive: refresh AI CLI tokens before they expire",
        "",
        "[Service]",
        "Type=oneshot",
        f"ExecStart={_systemd_quote(program)} keepalive",
    ]
    for k, v in {**env, INTERVAL_VAR: str(interval)}.items():
        lines.append(f"Environment={_systemd_quote(f'{k}={v}')}")
    lines += [
        # SIGTERM lets a refresh in flight finish and write back (refresh timeout + lock wait).
        "TimeoutStopSec=120",
        "Nice=10",
        "",
    ]
    return "\n".join(lines)


def timer_unit(interval: int) -> str:
    return "\n".join(
        [
            "[Unit]",
            f"Description=wrap keep-alive pass every {_human(interval)}",
            "",
            "[Timer]",
            f"OnCalendar={on_calendar(interval)}",
            # A pass missed while the machine slept runs when it wakes.
            "Persistent=true",
            # Spreads the passes of many machines (and accounts) over a small window.
            f"RandomizedDelaySec={min(60, interval // 10)}",
            "",
            "[Install]",
            "WantedBy=timers.target",
            "",
        ]
    )


def launch_agent(program: str, interval: int, env: Mapping[str, str], log_path: str) -> bytes:
    import plistlib

    agent: dict[str, Any] = {
        "Label": LABEL,
        "ProgramArguments": [program, "keepalive"],
        # launchd runs an interval missed during sleep once at wake, like Persistent=true.
        "StartInterval": interval,
        "RunAtLoad": True,
        "EnvironmentVariables": {**env, INTERVAL_VAR: str(interval)},
        # The GUI session: the login keychain (Claude's macOS store) is reachable only there.
        "LimitLoadToSessionType": "Aqua",
        "ProcessType": "Background",
        "LowPriorityIO": True,
        "ExitTimeOut": 120,
        "StandardOutPath": log_path,
        "StandardErrorPath": log_path,
    }
    return plistlib.dumps(agent)


def _human(interval: int) -> str:
    if interval % 3600 == 0:
        return f"{interval // 3600} h"
    return f"{interval // 60} min"


def _write(path: str, data: bytes) -> None:
    store.ensure_dir(os.path.dirname(path))
    tmp = f"{path}.tmp"
    with open(tmp, "wb") as f:
        f.write(data)
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)


def _why(done: subprocess.CompletedProcess[str]) -> str:
    """A failed command's last line of output, for the one-line error."""
    lines = (done.stderr or done.stdout or "").strip().splitlines()
    return f": {lines[-1]}" if lines else f" (exit {done.returncode})"


def _unlink(path: str) -> bool:
    try:
        os.unlink(path)
    except FileNotFoundError:
        return False
    return True


class Systemd:
    kind = "systemd user timer"

    def __init__(self, env: Mapping[str, str], run: Run) -> None:
        self.env = env
        self.run = run
        base = env.get("XDG_CONFIG_HOME") or os.path.join(profiles.home_dir(env), ".config")
        self.unit_dir = os.path.join(base, "systemd", "user")
        self.service = os.path.join(self.unit_dir, f"{NAME}.service")
        self.timer = os.path.join(self.unit_dir, f"{NAME}.timer")

    def _ctl(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        done = self.run(["systemctl", "--user", *args])
        if check and done.returncode != 0:
            raise SchedulerError(f"systemctl --user {' '.join(args)} failed{_why(done)}")
        return done

    def install(self, program: str, interval: int, env: Mapping[str, str]) -> list[str]:
        _write(self.service, service_unit(program, interval, env).encode())
        _write(self.timer, timer_unit(interval).encode())
        self._ctl("daemon-reload")
        self._ctl("enable", "--now", f"{NAME}.timer")
        return [
            f"installed {self.timer} and {NAME}.service: a pass every {_human(interval)}",
            "it runs while you are logged in; to run it without a session too: "
            "loginctl enable-linger",
        ]

    def remove(self) -> list[str]:
        if not os.path.exists(self.timer) and not os.path.exists(self.service):
            return ["not installed: no systemd user units to remove"]
        self._ctl("disable", "--now", f"{NAME}.timer", check=False)
        self._ctl("stop", f"{NAME}.service", check=False)
        _unlink(self.timer)
        _unlink(self.service)
        self._ctl("daemon-reload", check=False)
        return [f"removed {self.timer} and {NAME}.service"]

    def status(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "scheduler": self.kind,
            "installed": os.path.exists(self.timer) and os.path.exists(self.service),
            "enabled": False,
            "active": False,
            "next_pass": None,
            "unit": self.timer,
        }
        if not out["installed"]:
            return out
        done = self._ctl(
            "show",
            "--timestamp=unix",
            "-p",
            "UnitFileState,ActiveState,NextElapseUSecRealtime",
            f"{NAME}.timer",
            check=False,
        )
        props = dict(line.partition("=")[::2] for line in done.stdout.splitlines())
        out["enabled"] = props.get("UnitFileState") == "enabled"
        out["active"] = props.get("ActiveState") == "active"
        nxt = props.get("NextElapseUSecRealtime", "")
        if nxt.startswith("@"):
            out["next_pass"] = float(nxt[1:])
        return out


class Launchd:
    kind = "launchd LaunchAgent"

    def __init__(self, env: Mapping[str, str], run: Run) -> None:
        self.env = env
        self.run = run
        home = profiles.home_dir(env)
        self.plist = os.path.join(home, "Library", "LaunchAgents", f"{LABEL}.plist")
        self.log_path = os.path.join(home, "Library", "Logs", f"{NAME}.log")
        self.domain = f"gui/{os.getuid()}"

    def install(self, program: str, interval: int, env: Mapping[str, str]) -> list[str]:
        _write(self.plist, launch_agent(program, interval, env, self.log_path))
        self.run(["launchctl", "bootout", f"{self.domain}/{LABEL}"])  # an older one, if loaded
        done = self.run(["launchctl", "bootstrap", self.domain, self.plist])
        if done.returncode != 0:
            raise SchedulerError(
                f"launchctl bootstrap {self.domain} failed{_why(done)}; run it from your "
                "desktop session, not over ssh"
            )
        return [
            f"installed {self.plist}: a pass every {_human(interval)} in your GUI session",
            f"its log: {self.log_path}",
        ]

    def remove(self) -> list[str]:
        if not os.path.exists(self.plist):
            return ["not installed: no LaunchAgent to remove"]
        self.run(["launchctl", "bootout", f"{self.domain}/{LABEL}"])
        _unlink(self.plist)
        return [f"removed {self.plist}"]

    def status(self) -> dict[str, Any]:
        installed = os.path.exists(self.plist)
        active = installed and (
            self.run(["launchctl", "print", f"{self.domain}/{LABEL}"]).returncode == 0
        )
        return {
            "scheduler": self.kind,
            "installed": installed,
            "enabled": active,
            "active": active,
            "next_pass": None,
            "unit": self.plist,
        }


class Cron:
    kind = "cron"

    def __init__(self, env: Mapping[str, str], run: Run, why: str) -> None:
        self.env = env
        self.run = run
        self.why = why

    def install(self, program: str, interval: int, env: Mapping[str, str]) -> list[str]:
        return [cron_line(program, interval, env)]

    def remove(self) -> list[str]:
        return [
            f"{self.why}: wrap installed nothing here; remove the 'wrap keepalive' line from "
            "your crontab (crontab -e), if you added one"
        ]

    def status(self) -> dict[str, Any]:
        found = False
        if shutil.which("crontab", path=self.env.get("PATH")):
            listed = self.run(["crontab", "-l"])
            found = listed.returncode == 0 and any(
                "keepalive" in line and not line.lstrip().startswith("#")
                for line in listed.stdout.splitlines()
            )
        return {
            "scheduler": self.kind,
            "installed": found,
            "enabled": found,
            "active": found,
            "next_pass": None,
            "unit": "crontab" if found else None,
            "note": self.why,
        }


def detect(
    env: Mapping[str, str], run: Run = run_command, platform: str = sys.platform
) -> Systemd | Launchd | Cron:
    """The scheduler this machine has: launchd on macOS, a systemd user manager that answers,
    else cron (containers, WSL without systemd), with the reason."""
    if platform == "darwin":
        return Launchd(env, run)
    if shutil.which("systemctl", path=env.get("PATH")) is None:
        return Cron(env, run, "no systemd here (systemctl is not on PATH)")
    probe = run(["systemctl", "--user", "show-environment"])
    if probe.returncode == 0:
        return Systemd(env, run)
    why = (probe.stderr or "").strip().splitlines()
    return Cron(
        env,
        run,
        "no systemd user manager answers here" + (f" (systemctl --user: {why[-1]})" if why else ""),
    )
