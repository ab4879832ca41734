"""The schedulers' files, checked by their own tools, and install/remove/status against a real
`systemctl --user` (a private user manager in a mount namespace of its own)."""

from __future__ import annotations

import json
import os
import plistlib
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import BIN, Home, one_line
from keepalive_env import DAY, account, config
from token_server import TokenServer

from launcher.errors import UsageError
from launcher.keepalive import units

WRAP = str(BIN / "wrap")


def _verify(tmp_path: Path, service: str, timer: str) -> subprocess.CompletedProcess[str]:
    if shutil.which("systemd-analyze") is None:
        pytest.skip("systemd-analyze is not installed (Debian package systemd)")
    folder = tmp_path / "units"
    folder.mkdir(exist_ok=True)
    (folder / f"{units.NAME}.service").write_text(service)
    (folder / f"{units.NAME}.timer").write_text(timer)
    runtime = tmp_path / "runtime"
    runtime.mkdir(mode=0o700, exist_ok=True)
    return subprocess.run(
        ["systemd-analyze", "verify", "--user", f"{units.NAME}.service", f"{units.NAME}.timer"],
        cwd=folder,
        env={**os.environ, "XDG_RUNTIME_DIR": str(runtime)},
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize("interval", [60, 900, 1800, 3600, 6 * 3600, 86400])
def test_systemd_units_pass_systemd_analyze_verify(tmp_path: Path, interval: int) -> None:
    odd = tmp_path / "my bin $HOME %h"  # quoting: a space, a $ and a systemd specifier
    odd.mkdir()
    (odd / "wrap").symlink_to(WRAP)
    env = {"WRAP_CONFIG": str(tmp_path / 'a "quoted" %i.toml'), "XDG_STATE_HOME": "/s"}
    service = units.service_unit(str(odd / "wrap"), interval, env)
    r = _verify(tmp_path, service, units.timer_unit(interval))
    assert (r.returncode, r.stderr, r.stdout) == (0, "", "")
    assert "Persistent=true" in units.timer_unit(interval)
    assert f"OnCalendar={units.on_calendar(interval)}" in units.timer_unit(interval)


def test_a_broken_unit_would_be_caught(tmp_path: Path) -> None:
    timer = units.timer_unit(900).replace("OnCalendar=*-*-* *:00/15:00", "OnCalendar=soon")
    r = _verify(tmp_path, units.service_unit(WRAP, 900, {}), timer)
    assert r.returncode != 0
    assert "soon" in r.stderr


def test_launch_agent_is_a_valid_plist() -> None:
    data = units.launch_agent(WRAP, 900, {"WRAP_CONFIG": "/c.toml"}, "/tmp/wrap.log")
    agent = plistlib.loads(data)
    assert agent["Label"] == units.LABEL
    assert agent["ProgramArguments"] == [WRAP, "keepalive"]
    assert (agent["StartInterval"], agent["RunAtLoad"]) == (900, True)
    assert agent["LimitLoadToSessionType"] == "Aqua"  # the GUI session, where the keychain is
    assert agent["EnvironmentVariables"] == {
        "WRAP_CONFIG": "/c.toml",
        units.INTERVAL_VAR: "900",
    }


def test_cron_line_and_intervals() -> None:
    line = units.cron_line("/opt/my wrap/wrap", 900, {"WRAP_CONFIG": "/c%.toml"})
    assert line == (
        "*/15 * * * * WRAP_CONFIG=/c\\%.toml WRAP_KEEPALIVE_INTERVAL=900 "
        "'/opt/my wrap/wrap' keepalive"
    )
    assert units.cron_line("w", 7200, {}).startswith("0 */2 * * * ")
    for bad in (45, 420, 5400, 7 * 3600, 2 * 86400):
        with pytest.raises(UsageError):
            units.check_interval(bad)


def test_without_a_scheduler_install_prints_a_crontab_line(home: Home) -> None:
    env = home.env()
    env.pop("XDG_RUNTIME_DIR", None)
    env["DBUS_SESSION_BUS_ADDRESS"] = "unix:path=/nonexistent"
    env["PATH"] = f"{home.bin}"  # no systemctl
    r = home.wrap("keepalive", "install", "--every", "30m", env=env)
    assert r.returncode == 1, r.stderr  # nothing installed is not a success
    assert "nothing was installed" in r.stderr
    assert "wrap keepalive --every 30m" in r.stderr
    assert r.stdout.startswith("*/30 * * * * ")
    assert r.stdout.rstrip().endswith(f"{WRAP} keepalive")
    r = home.wrap("keepalive", "status", env=env)
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("scheduler: cron")


@pytest.fixture
def user_manager(home: Home, tmp_path: Path) -> Iterator[dict[str, str]]:
    """`systemd --user` for this test alone; the environment that reaches it.

    systemd refuses to run as a user instance unless the machine was booted with it (it looks
    for /run/systemd/system): a private mount namespace shows it one, without touching the
    machine's own /run. Needs root (CI's case); skipped otherwise, saying why."""
    manager = Path("/usr/lib/systemd/systemd")
    if not manager.exists() or shutil.which("systemctl") is None:
        pytest.skip("no systemd here (Debian package systemd)")
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        pytest.skip("starting a private systemd user manager needs root and unshare")
    runtime = tmp_path / "runtime"
    runtime.mkdir(mode=0o700)
    notify = str(tmp_path / "notify")
    ready = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    ready.bind(notify)
    ready.settimeout(60)
    env = home.env(XDG_RUNTIME_DIR=str(runtime))
    env["PATH"] = f"{env['PATH']}:/usr/sbin:/sbin"
    script = (
        f"mount -t tmpfs tmpfs /run/systemd && mkdir /run/systemd/system && exec {manager} --user"
    )
    errors = tmp_path / "manager.log"
    with errors.open("wb") as log:
        proc = subprocess.Popen(
            ["unshare", "--mount", "--propagation", "private", "--cgroup", "sh", "-c", script],
            env={**env, "NOTIFY_SOCKET": notify},
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=log,
        )
    try:
        while True:  # the manager says READY=1 once it has started up
            try:
                message = ready.recv(4096).decode(errors="replace")
            except (TimeoutError, OSError) as e:
                proc.kill()
                proc.wait()
                why = errors.read_text(errors="replace").strip()
                pytest.skip(f"a systemd user manager could not be started here: {why or e}")
            if "READY=1" in message:
                break
        yield env
    finally:
        ready.close()
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def test_install_status_remove_with_a_real_systemd_user_manager(
    home: Home, server: TokenServer, user_manager: dict[str, str]
) -> None:
    env = user_manager
    config(home, good=server.url)
    due = account(home.root / ".good", "good-oauth-1-due.json", 3600, "old-refresh")
    account(home.root / ".good", "good-oauth-2-fresh.json", 30 * DAY, "fresh")

    def ctl(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["systemctl", "--user", *args], env=env, capture_output=True, text=True, timeout=60
        )

    r = home.wrap("keepalive", "status", "--json", env=env)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["installed"] is False

    r = home.wrap("keepalive", "install", "--every", "30m", env=env)
    assert r.returncode == 0, r.stderr
    unit_dir = home.root / "config" / "systemd" / "user"
    assert (unit_dir / "wrap-keepalive.timer").exists(), r.stdout
    assert ctl("is-enabled", "wrap-keepalive.timer").stdout.strip() == "enabled"
    assert ctl("is-active", "wrap-keepalive.timer").stdout.strip() == "active"
    calendar = ctl("show", "-p", "TimersCalendar", "wrap-keepalive.timer").stdout
    assert "00/30" in calendar

    # What the timer starts, started now (a oneshot: this returns when the pass is done).
    started = ctl("start", "wrap-keepalive.service")
    assert started.returncode == 0, started.stderr
    assert json.loads(due.read_text())["refresh_token"] == "test-refresh-1"
    assert server.refresh_requests == 1

    r = home.wrap("keepalive", "status", "--json", env=env)
    obj = json.loads(r.stdout)
    assert (obj["installed"], obj["enabled"], obj["last_result"]) == (True, True, "ok")
    assert obj["interval_seconds"] == 1800
    assert obj["next_pass"] is not None
    assert obj["next_pass"] > time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    did = {row["account"]: row["last_pass"] for row in obj["accounts"]}
    assert did == {"due": "refreshed", "fresh": "nothing due"}
    text = home.wrap("keepalive", "status", env=env).stdout
    assert "installed: yes, enabled: yes" in text
    assert "due (good, fresh): refreshed" in text

    r = home.wrap("keepalive", "remove", env=env)
    assert r.returncode == 0, r.stderr
    assert not (unit_dir / "wrap-keepalive.timer").exists()
    assert ctl("is-enabled", "wrap-keepalive.timer").returncode != 0
    assert (
        json.loads(home.wrap("keepalive", "status", "--json", env=env).stdout)["installed"] is False
    )


@pytest.mark.parametrize("var", ["CLAUDE_CONFIG_DIR", "WRAP_CONFIG"])
def test_install_refuses_an_environment_value_with_a_newline(home: Home, var: str) -> None:
    # Carried into the unit, it ended Environment= and began a directive of its own
    # (ExecStartPre=); in the crontab line, it split the line in two.
    value = home.root / "c\nExecStartPre=touch pwned"
    if var == "WRAP_CONFIG":
        value.write_text("")  # an existing config file, whatever its name
    env = home.env(**{var: str(value)})
    env["PATH"] = f"{home.bin}"  # no systemctl: the crontab line
    r = home.wrap("keepalive", "install", "--every", "30m", env=env)
    assert r.returncode == 2
    assert r.stdout == ""
    line = one_line(r.stderr)
    assert f"{var} holds a newline or another control character" in line
    assert "pwned" not in line
