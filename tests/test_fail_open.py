"""Failing open: a setting that used to crash is a usage error naming it; anything unforeseen is
one line, a crash report in the state directory, and a launch (under --strict, the exit code)."""

from __future__ import annotations

import io
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from conftest import BIN, Home, one_line
from token_server import TokenServer

from launcher import config, gate
from launcher.errors import UsageError
from launcher.log import Log
from launcher.refresh import grant

T0 = time.time()


# --- configuration values that used to crash ---------------------------------------------


@pytest.mark.parametrize(
    ("variables", "config_text", "names"),
    [
        ({"WRAP_THRESHOLD": "1e308d"}, None, "WRAP_THRESHOLD"),
        ({"WRAP_REFRESH_TIMEOUT": "1e300"}, None, "WRAP_REFRESH_TIMEOUT"),
        ({}, "[profiles.codex]\nredirect_ports = [70000]\n", "redirect_ports"),
        ({}, "threshhold = '1d'\n", "threshhold"),
        ({}, "a = " + "[" * 2000 + "]" * 2000 + "\n", "not valid TOML"),
    ],
    ids=["huge threshold", "huge timeout", "port out of range", "unknown key", "deep toml"],
)
def test_a_bad_setting_is_a_usage_error_naming_it(
    home: Home, variables: dict[str, str], config_text: str | None, names: str
) -> None:
    home.write_claude(T0 + 3600)
    if config_text is not None:
        cfg = home.root / "config" / "wrap"
        cfg.mkdir(parents=True)
        (cfg / "config.toml").write_text(config_text)
    for command in (home.wrap_claude, lambda **kw: home.wrap("--check-only", **kw)):
        r = command(env=home.env(**variables))
        assert r.returncode == 2
        assert names in one_line(r.stderr)


def test_a_malformed_token_url_is_a_usage_error_and_the_gate_still_launches(home: Home) -> None:
    home.write_claude(T0 + 3600)
    env = home.env(WRAP_TOKEN_URL="https://[::1/")
    r = home.wrap("--refresh-token", env=env)
    assert r.returncode == 2
    assert "WRAP_TOKEN_URL" in one_line(r.stderr)
    r = home.wrap_claude(env=env)
    assert r.returncode == 0
    assert "invalid token URL" in one_line(r.stderr)
    assert len(home.reports()) == 1


@pytest.mark.parametrize("url", ["https://[::1/", "http://127.0.0.1:99999/t", "https://host:abc/t"])
def test_malformed_urls_are_refused(url: str) -> None:
    with pytest.raises(UsageError, match="token URL"):
        grant.check_url(url)


# --- failing open: the unexpected is one line, a crash report, and a launch ---------------


def _gate_with(home: Home, renew: Any, **flags: Any) -> tuple[int | None, str]:
    err = io.StringIO()
    settings = config.resolve({"token_url": "http://127.0.0.1:9/t", **flags}, home.env())
    code = gate.gate(
        settings,
        env=home.env(),
        now=lambda: T0,
        log=Log(stream=err),
        program="claude",
        renew=renew,
    )
    return code, err.getvalue()


def _crashes(home: Home) -> list[Path]:
    directory = home.root / "state" / "wrap" / "crashes"
    return sorted(directory.iterdir()) if directory.exists() else []


def test_an_unexpected_error_is_one_line_a_crash_report_and_a_launch(home: Home) -> None:
    home.write_claude(T0 + 3600)

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("a bug nobody foresaw")

    code, err = _gate_with(home, broken)
    assert code is None  # launch
    line = one_line(err)
    assert "unexpected error (RuntimeError" in line
    assert "a bug nobody foresaw" not in line  # the details stay in the file
    [report] = _crashes(home)
    assert str(report) in line
    assert "a bug nobody foresaw" in report.read_text()
    assert "Traceback" in report.read_text()
    assert report.stat().st_mode & 0o777 == 0o600
    assert report.parent.stat().st_mode & 0o777 == 0o700


def test_under_strict_an_unexpected_error_with_an_expired_token_exits_5(home: Home) -> None:
    home.write_claude(T0 - 60)

    def broken(*args: object, **kwargs: object) -> None:
        raise KeyError("x")

    code, err = _gate_with(home, broken, strict=True)
    assert code == 5
    assert "--strict" in one_line(err)


def test_ctrl_c_during_a_refresh_launches_without_a_traceback(home: Home) -> None:
    home.write_claude(T0 + 3600)
    data = home.creds.read_bytes()
    arrived = threading.Event()
    with TokenServer() as server:
        server.faults = ["hang"]
        server.on_request = arrived.set
        proc = subprocess.Popen(
            [str(BIN / "wrap-claude")],
            env=home.env(WRAP_TOKEN_URL=server.url),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert arrived.wait(30)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0
    assert "interrupted" in one_line(err)
    assert out == "fake claude ran\n"
    assert home.creds.read_bytes() == data


def test_ctrl_c_during_a_lock_wait_launches_without_a_traceback(home: Home) -> None:
    import fcntl

    from launcher import lock

    home.write_claude(T0 + 3600)
    with open(lock.lock_path(str(home.creds)), "a+") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        proc = subprocess.Popen(
            [str(BIN / "wrap-claude")],
            env=home.env(WRAP_TOKEN_URL="http://127.0.0.1:9/t"),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert proc.stderr is not None
        waiting = proc.stderr.readline()  # said once the wait is under way
        assert "waiting for another process" in waiting
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0
    assert "interrupted" in one_line(err)
    assert out == "fake claude ran\n"


def _with_a_bug(home: Home, target: str, call: str) -> subprocess.CompletedProcess[str]:
    """Run CALL in a real process of the installed package, with TARGET raising a bug."""
    module, _, name = target.rpartition(".")
    code = (
        f"import sys, {module}\nfrom launcher import cli, gate\n"
        "def boom(*a, **k): raise ZeroDivisionError('bug')\n"
        f"{module}.{name} = boom\nsys.exit({call})\n"
    )
    return home.python(code)


def test_a_bug_before_the_gate_still_launches_the_program(home: Home) -> None:
    # config.resolve itself failing: wrap-claude launches claude ungated, says one line.
    home.write_claude(T0 + 3600)
    r = _with_a_bug(home, "launcher.config.resolve", "gate.main_claude([])")
    assert r.returncode == 0, r.stderr
    assert "unexpected error (ZeroDivisionError" in one_line(r.stderr)
    assert r.stdout == "fake claude ran\n"
    assert len(_crashes(home)) == 1


def test_check_only_never_prints_a_traceback(home: Home) -> None:
    home.write_claude(T0 + 3600)
    r = _with_a_bug(home, "launcher.report.describe", "cli.main(['--check-only'])")
    assert r.returncode == 4
    assert "unexpected error (ZeroDivisionError" in one_line(r.stderr)


def test_the_ctrl_c_tests_pass_when_the_suite_starts_with_sigint_ignored(tmp_path: Path) -> None:
    # As `bash scripts/test &` starts it: SIGINT and SIGQUIT ignored, inherited through exec.
    here = Path(__file__).resolve()
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-x",
            "-p",
            "no:cacheprovider",
            f"{here}::test_ctrl_c_during_a_refresh_launches_without_a_traceback",
        ],
        cwd=here.parent.parent,
        capture_output=True,
        text=True,
        timeout=300,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN),
    )
    assert r.returncode == 0, r.stdout[-2000:]
    assert "1 passed" in r.stdout
