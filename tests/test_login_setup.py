"""`wrap login` through the setup command: a real pty under pexpect, a stand-in setup program
that prompts and reads a pasted code, and the real credentials file."""

from __future__ import annotations

import io
import re
import secrets
import sys
import time

import pexpect
import pytest
from conftest import BIN, ROOT, Home, digest
from token_server import TokenServer

TOKEN = "sk-ant-oat01-FAKEfakeFAKEfake_token-0123456789"
STAND_IN = ROOT / "tests" / "bin" / "fake_setup_token.py"


def _configure(home: Home, extra: str = "") -> None:
    cfg = home.root / "config" / "wrap"
    cfg.mkdir(parents=True, exist_ok=True)
    (cfg / "config.toml").write_text(
        '[profiles.claude]\nlogin = "setup-token"\n'
        f'setup_command = ["{sys.executable}", "{STAND_IN}"]\n{extra}'
    )


def _spawn(
    home: Home, *args: str, program: str = "wrap", **env: str
) -> tuple[pexpect.spawn, io.StringIO]:
    screen = io.StringIO()
    child = pexpect.spawn(
        str(BIN / program),
        list(args),
        env=home.env(**env),
        dimensions=(30, 100),
        timeout=30,
        encoding="utf-8",
    )
    child.logfile_read = screen
    return child, screen


def _finish(child: pexpect.spawn) -> int:
    child.expect(pexpect.EOF)
    child.close()
    return child.exitstatus if child.exitstatus is not None else -1


def test_login_stores_the_token_keeps_fields_and_masks_the_screen(home: Home) -> None:
    _configure(home)
    home.write_claude(time.time() - 60)
    before = home.read()
    child, screen = _spawn(home, "login")
    child.expect("Paste code here")
    child.sendline("good-code")
    assert _finish(child) == 0, screen.getvalue()
    out = screen.getvalue()
    assert "sk-ant-oat01-********" in out
    assert "FAKEfake" not in out
    after = home.read()
    oauth = after["claudeAiOauth"]
    assert oauth["accessToken"] == TOKEN
    assert oauth["expiresAt"] > (time.time() + 364 * 86400) * 1000
    assert oauth["refreshToken"] == before["claudeAiOauth"]["refreshToken"]
    assert after["mcpOAuth"] == before["mcpOAuth"]
    assert oauth["scopes"] == before["claudeAiOauth"]["scopes"]
    assert home.creds.stat().st_mode & 0o777 == 0o600


def test_login_creates_a_missing_file_private(home: Home) -> None:
    _configure(home)
    child, screen = _spawn(home, "login")
    child.expect("Paste code here")
    child.sendline("good-code")
    assert _finish(child) == 0, screen.getvalue()
    assert home.read()["claudeAiOauth"]["accessToken"] == TOKEN
    assert home.creds.read_text().startswith('{\n  "claudeAiOauth": {\n')
    assert home.creds.read_text().endswith("}\n")
    assert home.creds.stat().st_mode & 0o777 == 0o600


@pytest.mark.parametrize(
    ("mode", "action", "expect", "code"),
    [
        # Ctrl-C is the shell's 130, never 1 (scripts read it as "expiring") nor 5.
        ("ok", "ctrl-c", "interrupted", 130),
        ("fail", "good-code", "exit status 1", 5),
        ("ok", "bad-code", "exit status 1", 5),
        ("no-token", "good-code", "without printing a token", 5),
    ],
)
def test_failed_setup_leaves_the_file_untouched(
    home: Home, mode: str, action: str, expect: str, code: int
) -> None:
    _configure(home)
    data = home.write_claude(time.time() - 60)
    child, screen = _spawn(home, "login", FAKE_SETUP=mode)
    child.expect("Paste code here")
    if action == "ctrl-c":
        child.sendcontrol("c")
    else:
        child.sendline(action)
    assert _finish(child) == code
    assert expect in screen.getvalue()
    assert home.creds.read_bytes() == data


def test_setup_that_never_finishes_times_out(home: Home) -> None:
    _configure(home)
    data = home.write_claude(time.time() - 60)
    child, screen = _spawn(home, "login", FAKE_SETUP="hang", WRAP_LOGIN_TIMEOUT="2s")
    assert _finish(child) == 5
    assert "did not finish within 2 s" in screen.getvalue()
    assert home.creds.read_bytes() == data


def test_window_size_changes_reach_the_setup_command(home: Home) -> None:
    _configure(home)
    child, _ = _spawn(home, "login")
    child.expect(r"\[size 30x100\]")
    child.expect("Paste code here")
    child.setwinsize(40, 120)
    child.expect(r"\[size 40x120\]")
    child.sendline("good-code")
    assert _finish(child) == 0


def test_login_needs_a_terminal(home: Home) -> None:
    _configure(home)
    r = home.wrap("login")
    assert r.returncode == 2  # what the user must change is how it runs: not "refresh failed"
    assert "needs a terminal" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


def test_env_mode_hands_the_token_to_the_program_instead(home: Home) -> None:
    _configure(home, 'setup_token = "env"\n')
    data = home.write_claude(time.time() + 30 * 86400)
    child, screen = _spawn(home, "login")
    child.expect("Paste code here")
    child.sendline("good-code")
    assert _finish(child) == 0, screen.getvalue()
    assert home.creds.read_bytes() == data
    kept = next((home.root / "state" / "wrap" / "tokens").iterdir())
    assert kept.stat().st_mode & 0o777 == 0o600
    r = home.wrap_claude()
    assert r.returncode == 0, r.stderr
    assert home.reports()[0]["env_token_digest"] == digest(TOKEN)


def test_gate_logs_in_on_a_terminal_when_the_refresh_token_is_rejected(home: Home) -> None:
    _configure(home)
    home.write_claude(time.time() - 60)
    with TokenServer() as server:
        server.faults = ["invalid_grant"]
        child, screen = _spawn(home, "-p", "hi", program="wrap-claude", WRAP_TOKEN_URL=server.url)
        child.expect("Paste code here")
        child.sendline("good-code")
        assert _finish(child) == 0, screen.getvalue()
    [report] = home.reports()
    assert report["argv"] == ["-p", "hi"]
    assert report["token_digest"] == digest(TOKEN)
    assert "logging in again" in screen.getvalue()


def test_gate_without_a_terminal_never_logs_in(home: Home) -> None:
    _configure(home)
    home.write_claude(time.time() - 60)
    runs = home.root / "runs"
    with TokenServer() as server:
        server.faults = ["invalid_grant"]
        r = home.wrap_claude(env=home.env(WRAP_TOKEN_URL=server.url, FAKE_SETUP_RUNS=str(runs)))
    assert r.returncode == 0
    assert not runs.exists()
    assert len(r.stderr.strip().splitlines()) == 1


def test_second_login_waits_for_the_first_and_uses_its_result(home: Home) -> None:
    _configure(home)
    home.write_claude(time.time() - 60)
    runs = home.root / "runs"
    first, screen1 = _spawn(home, "login", FAKE_SETUP_RUNS=str(runs))
    first.expect("Paste code here")
    second, screen2 = _spawn(home, "login", FAKE_SETUP_RUNS=str(runs))
    second.expect("waiting for the login in progress")
    first.sendline("good-code")
    assert _finish(first) == 0, screen1.getvalue()
    assert _finish(second) == 0, screen2.getvalue()
    assert "logged in by another launch meanwhile" in screen2.getvalue()
    assert runs.read_text().count("run") == 1
    assert home.read()["claudeAiOauth"]["accessToken"] == TOKEN


CSI = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]")


def _seen(screen: str, token: str) -> list[str]:
    """Every 6-character piece of the token's secret part on the screen, with escape codes and
    line breaks taken out (a token cut by them is still read by whoever looks)."""
    body = token.removeprefix("sk-ant-oat01-")
    flat = CSI.sub("", screen).replace("\r", "").replace("\n", "")
    return [body[i : i + 6] for i in range(len(body) - 5) if body[i : i + 6] in flat]


@pytest.mark.parametrize("shape", ["plain", "pause-mid", "pause-prefix", "bytes", "wrap", "ansi"])
def test_the_token_never_reaches_the_screen_and_is_stored_whole(home: Home, shape: str) -> None:
    _configure(home)
    token = "sk-ant-oat01-" + secrets.token_urlsafe(72)
    screen = io.StringIO()
    child = pexpect.spawn(
        str(BIN / "wrap"),
        ["login"],
        env=home.env(FAKE_SETUP_TOKEN=token, FAKE_SETUP_SHAPE=shape),
        dimensions=(30, 40),  # the 109-character token takes three lines when wrapped
        timeout=30,
        encoding="utf-8",
    )
    child.logfile_read = screen
    child.expect("Paste code here")
    child.sendline("good-code")
    assert _finish(child) == 0, screen.getvalue()
    out = screen.getvalue()
    assert _seen(out, token) == []
    assert "sk-ant-oat01-********" in CSI.sub("", out).replace("\r\n", "")
    assert "Store this token securely" in out
    assert home.read()["claudeAiOauth"]["accessToken"] == token


def test_a_token_wrapped_at_another_width_is_not_stored_in_part(home: Home) -> None:
    _configure(home)
    data = home.write_claude(time.time() - 60)
    token = "sk-ant-oat01-" + secrets.token_urlsafe(72)
    child, screen = _spawn(
        home, "login", FAKE_SETUP_TOKEN=token, FAKE_SETUP_SHAPE="wrap", FAKE_SETUP_WRAP_AT="50"
    )
    child.expect("Paste code here")
    child.sendline("good-code")
    assert _finish(child) == 5
    out = screen.getvalue()
    assert _seen(out, token) == []
    assert "cannot read for sure" in out
    assert home.creds.read_bytes() == data


@pytest.mark.parametrize(
    ("prefix", "shape"),
    [("sk-ant-oat01-", "charset"), ("sk-ant-oat02-", "plain"), ("sk-ant-sid03-", "ansi")],
    ids=["ESC ( B inside", "another version", "another kind"],
)
def test_a_token_is_known_by_its_shape_and_escapes_inside_it_are_skipped(
    home: Home, prefix: str, shape: str
) -> None:
    # ESC ( B ended the token at 40 characters: its tail reached the screen, and what was
    # stored was cut. A version or kind other than oat01 was not masked at all.
    _configure(home)
    token = prefix + secrets.token_urlsafe(72)
    body = token.removeprefix(prefix)
    child, screen = _spawn(home, "login", FAKE_SETUP_TOKEN=token, FAKE_SETUP_SHAPE=shape)
    child.expect("Paste code here")
    child.sendline("good-code")
    assert _finish(child) == 0, screen.getvalue()
    flat = re.sub(r"\x1b(\[[0-?]*[ -/]*[@-~]|[ -/]*[0-~])", "", screen.getvalue())
    assert [body[i : i + 6] for i in range(len(body) - 5) if body[i : i + 6] in flat] == []
    assert f"{prefix}********" in flat
    assert home.read()["claudeAiOauth"]["accessToken"] == token
