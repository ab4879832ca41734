"""The real launcher in a subprocess: exec (same PID), argv untouched, exit codes, PATH lookup."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest
from conftest import BIN, DAY, ROOT, Home, digest
from token_server import TokenServer

ARGV_CASES = [
    ["--help"],
    ["--version"],
    ["-p", "say \"hi\" to 'everyone'"],
    ["with space", "ünïcødé ✓", "--", "-x", "", "$HOME", "*"],
]


@pytest.mark.parametrize("argv", ARGV_CASES)
def test_exec_same_pid_and_argv_untouched(home: Home, argv: list[str]) -> None:
    home.write_claude(time.time() + 30 * DAY)
    proc = subprocess.Popen(
        [str(BIN / "wrap-claude"), *argv],
        env=home.env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
    )
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert err == ""
    assert out == "fake claude ran\n"  # stdout inherited, nothing of wrap's own on it
    [report] = home.reports()
    assert report["pid"] == proc.pid
    assert report["argv"] == argv


def test_program_exit_code_is_the_process_exit_code(home: Home) -> None:
    home.write_claude(time.time() + 30 * DAY)
    r = home.wrap_claude(env=home.env(FAKE_EXIT="42"))
    assert r.returncode == 42


def test_refresh_then_exec_sees_the_new_token(home: Home, server: TokenServer) -> None:
    home.write_claude(time.time() + 3600)
    r = home.wrap_claude("-p", "x", env=home.env(WRAP_TOKEN_URL=server.url))
    assert r.returncode == 0, r.stderr
    assert r.stderr == ""
    [report] = home.reports()
    assert report["token_digest"] == digest("test-access-1")
    assert server.refresh_requests == 1


def test_wrap_claude_installed_as_claude_earlier_on_path_does_not_recurse(home: Home) -> None:
    home.write_claude(time.time() + 30 * DAY)
    shim = home.root / "shim"
    shim.mkdir()
    (shim / "claude").symlink_to(BIN / "wrap-claude")
    copy = home.root / "copy"
    copy.mkdir()
    (copy / "claude").write_bytes((BIN / "wrap-claude").read_bytes())
    (copy / "claude").chmod(0o755)
    env = home.env()
    env["PATH"] = f"{shim}{os.pathsep}{copy}{os.pathsep}{env['PATH']}"
    r = subprocess.run(
        ["claude", "hello"],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
        stdin=subprocess.DEVNULL,
    )
    assert r.returncode == 0, r.stderr
    assert [rep["argv"] for rep in home.reports()] == [["hello"]]


def test_wrap_claude_bin_overrides(home: Home) -> None:
    home.write_claude(time.time() + 30 * DAY)
    other = home.root / "elsewhere"
    other.mkdir()
    (other / "my-claude").write_bytes((home.bin / "claude").read_bytes())
    (other / "my-claude").chmod(0o755)
    (home.bin / "claude").unlink()
    r = home.wrap_claude("a", env=home.env(WRAP_CLAUDE_BIN=str(other / "my-claude")))
    assert r.returncode == 0, r.stderr
    assert home.reports()[0]["argv"] == ["a"]


def test_program_not_found_is_127_with_one_line(home: Home) -> None:
    home.write_claude(time.time() + 30 * DAY)
    (home.bin / "claude").unlink()
    env = home.env()
    env["PATH"] = f"{home.bin}{os.pathsep}{BIN}"  # wrap-claude is there, and must be skipped
    r = home.wrap_claude(env=env)
    assert r.returncode == 127
    assert len(r.stderr.strip().splitlines()) == 1
    assert "claude was not found on PATH" in r.stderr


def test_program_not_executable_is_126(home: Home) -> None:
    home.write_claude(time.time() + 30 * DAY)
    target = home.root / "not-exec"
    target.write_text("#!/bin/sh\n")
    target.chmod(0o644)
    r = home.wrap_claude(env=home.env(WRAP_CLAUDE_BIN=str(target)))
    assert r.returncode == 126
    assert "cannot be executed" in r.stderr


def test_strict_expired_failed_refresh_launches_nothing(home: Home, server: TokenServer) -> None:
    home.write_claude(time.time() - 60)
    server.faults = ["invalid_grant"]
    r = home.wrap_claude(env=home.env(WRAP_TOKEN_URL=server.url, WRAP_STRICT="1"))
    assert r.returncode == 5
    assert home.reports() == []


def test_bad_threshold_env_is_usage_error(home: Home) -> None:
    home.write_claude(time.time() + 30 * DAY)
    r = home.wrap_claude(env=home.env(WRAP_THRESHOLD="soon"))
    assert r.returncode == 2
    assert "7d, 36h, 90m, 45s" in r.stderr
    assert home.reports() == []


def test_hot_path_imports_only_the_standard_library(home: Home) -> None:
    code = (
        "import sys, launcher.gate\n"
        "heavy = {'click', 'httpx', 'httpcore', 'pexpect', 'dateutil', 'platformdirs',"
        " 'filelock', 'anyio', 'h11', 'certifi', 'idna', 'logging', 'dataclasses', 'typing',"
        " 'tomllib', 'pathlib', 'hashlib'}\n"
        "print(sorted(heavy & {m.split('.')[0] for m in sys.modules}))\n"
    )
    r = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        env=home.env(),
    )
    assert json.loads(r.stdout.replace("'", '"')) == []


@pytest.mark.parametrize(
    ("fault", "said"),
    [
        ("invalid_grant", "invalid_grant"),
        ("500", "HTTP 500"),
        ("not_json", "not a JSON object"),
        ("no_access_token", "without an access token"),
    ],
)
def test_gate_output_never_contains_token_values(
    home: Home, server: TokenServer, fault: str, said: str
) -> None:
    # A file of its own for each fault: after a rejection the file is suspended, and a
    # suspended file sends nothing that could be echoed.
    home.write_claude(time.time() - 60)
    server.faults = [fault] * 5
    r = home.wrap_claude(env=home.env(WRAP_TOKEN_URL=server.url, WRAP_LOG="debug"))
    assert server.refresh_requests == 1  # the server was asked, and answered with the fault
    assert said in r.stderr
    for secret in ("old-refresh", "old-access", "test-refresh", "test-access"):
        assert secret not in r.stderr + r.stdout


def test_missing_program_fails_before_any_credentials_work(home: Home, server: TokenServer) -> None:
    data = home.write_claude(time.time() + 3600)
    r = home.wrap("--token-url", server.url, "no-such-program")
    assert r.returncode == 127
    assert r.stderr.strip().splitlines() == [
        "wrap: no-such-program was not found on PATH (wrap's own launchers are skipped): "
        "install it, or give its full path"
    ]
    assert server.refresh_requests == 0
    assert home.creds.read_bytes() == data
