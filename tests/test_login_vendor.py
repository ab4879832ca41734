"""`wrap login` through the vendor's own login command under a real pty (pexpect).

The programs here are stand-ins, named as such: tests/bin/standin_claude_auth.py behaves as
Claude Code 2.1.330's `auth login` / `auth status --json` were measured offline, and
tests/bin/standin_codex_login.py as codex 0.169.0's `login` / `login status`. wrap's side is
real: the console script, the pty loop, the program lookup, the check, the re-read.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from conftest import BIN, DAY, ROOT, Home
from test_login_setup import _finish, _spawn
from token_server import TokenServer

STAND_INS = ROOT / "tests" / "bin"


def _install(home: Home, name: str, script: str, directory: Path | None = None) -> Path:
    target = (directory or home.bin) / name
    target.write_text(
        f"#!{sys.executable}\nimport runpy\n"
        f"runpy.run_path({str(STAND_INS / script)!r}, run_name='__main__')\n"
    )
    target.chmod(0o755)
    return target


def _claude(home: Home) -> dict[str, str]:
    _install(home, "claude", "standin_claude_auth.py")
    _install(home, "open-url", "standin_browser_log.py")
    return {
        "BROWSER": str(home.bin / "open-url"),
        "FAKE_BROWSER_URLS": str(home.root / "urls"),
        "FAKE_CLAUDE_RUNS": str(home.root / "claude-runs"),
    }


def _state(home: Home) -> str:
    """The state claude put in the authorize URL it gave $BROWSER (2.1.330 prints only a short
    link), as the test's 'browser' received it."""
    url = (home.root / "urls").read_text().splitlines()[-1]
    query = parse_qs(urlsplit(url).query)
    assert query["code_challenge_method"] == ["S256"]
    return query["state"][0]


def _runs(home: Home) -> list[dict[str, object]]:
    path = home.root / "claude-runs"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def _log_in(home: Home, *args: str, answer: str | None = None, **env: str) -> tuple[int, str]:
    child, screen = _spawn(home, "login", *args, **{**_claude(home), **env})
    child.expect("Paste code here if prompted >")
    child.sendline(answer or f"good-code#{_state(home)}")
    return _finish(child), screen.getvalue()


def test_claude_auth_login_writes_a_full_login_that_wrap_sees_with_its_deadline(
    home: Home,
) -> None:
    home.write_claude(time.time() - 60)
    before = home.read()
    code, screen = _log_in(home)
    assert code == 0, screen
    after = home.read()
    oauth = after["claudeAiOauth"]
    assert oauth["accessToken"].startswith("sk-ant-oat01-standin-")
    assert after["mcpOAuth"] == before["mcpOAuth"]  # claude keeps the other keys itself
    assert [r["argv"] for r in _runs(home)] == [
        ["auth", "login"],
        ["auth", "status", "--json"],
    ]
    r = home.wrap("--check-only", "--json")
    assert r.returncode == 0, r.stdout + r.stderr
    obj = json.loads(r.stdout)
    assert obj["state"] == "fresh"
    assert abs(obj["login_expires_in_seconds"] - 30 * DAY) < 120
    assert obj["login_expires_at"] is not None


def test_options_after_dashdash_go_to_claude_auth_login(home: Home) -> None:
    code, screen = _log_in(home, "claude", "--", "--email", "a@b.example", "--sso")
    assert code == 0, screen
    assert _runs(home)[0]["argv"] == ["auth", "login", "--email", "a@b.example", "--sso"]


def test_a_failed_login_says_what_claude_said_and_leaves_the_file_untouched(home: Home) -> None:
    data = home.write_claude(time.time() - 60)
    code, screen = _log_in(home, FAKE_LOGIN="fail")
    assert code == 5
    said = "OAuth error: Request failed with status code 400"
    assert f"'claude auth login' failed (exit status 1): {said}; wrap left" in screen
    assert f"{home.creds} as it was" in screen.replace("\r\n", "")
    assert home.creds.read_bytes() == data
    assert [r["argv"] for r in _runs(home)] == [["auth", "login"]]  # no check, no logout


@pytest.mark.parametrize(
    ("answer", "mode", "said"),
    [
        ("good-code#not-the-state", "ok", "Invalid state parameter"),
        (None, "elsewhere", "did not change"),
    ],
)
def test_a_login_that_did_not_reach_the_file_changes_nothing(
    home: Home, answer: str | None, mode: str, said: str
) -> None:
    data = home.write_claude(time.time() - 60)
    code, screen = _log_in(home, answer=answer, FAKE_LOGIN=mode)
    assert code == 5
    assert said in screen
    assert home.creds.read_bytes() == data


def test_success_that_auth_status_denies_is_a_failure(home: Home) -> None:
    home.write_claude(time.time() - 60)
    code, screen = _log_in(home, FAKE_LOGIN="blank")
    assert code == 5
    assert "'claude auth status --json' says it is not logged in" in screen
    assert '"loggedIn": false' in screen


def test_the_status_check_reads_loggedin_whatever_other_keys_it_has(home: Home) -> None:
    """claude 2.1.337's `auth status --json` adds analyticsPending; later ones may add more."""
    extra = json.dumps({"analyticsPending": True, "aKeyNoClaudeHasYet": {"x": [1]}})
    home.write_claude(time.time() - 60)
    code, screen = _log_in(home, FAKE_STATUS_EXTRA=extra)
    assert code == 0, screen
    home.write_claude(time.time() - 60)
    code, screen = _log_in(home, FAKE_LOGIN="blank", FAKE_STATUS_EXTRA=extra)
    assert code == 5
    assert "says it is not logged in" in screen


def test_claude_code_oauth_token_is_kept_from_the_login_and_its_check(home: Home) -> None:
    # With the variable set, `auth status` answers "logged in" whatever the file holds: the
    # check would pass a failed login, so neither command may see it.
    home.write_claude(time.time() - 60)
    code, screen = _log_in(home, FAKE_LOGIN="blank", CLAUDE_CODE_OAUTH_TOKEN="sk-ant-oat01-x")
    assert code == 5
    assert not any(r["env_token"] for r in _runs(home))
    code, screen = _log_in(home, CLAUDE_CODE_OAUTH_TOKEN="sk-ant-oat01-x")
    assert code == 0, screen
    assert "CLAUDE_CODE_OAUTH_TOKEN is set: claude uses it instead of" in screen


def test_wrap_installed_as_claude_is_skipped(home: Home) -> None:
    first = home.root / "first"
    first.mkdir()
    shutil.copy(BIN / "wrap-claude", first / "claude")
    path = f"{first}:{home.env()['PATH']}"
    code, screen = _log_in(home, PATH=path)
    assert code == 0, screen
    assert _runs(home)[0]["argv"] == ["auth", "login"]


def test_setup_token_remains_a_config_choice(home: Home) -> None:
    cfg = home.root / "config" / "wrap"
    cfg.mkdir(parents=True)
    (cfg / "config.toml").write_text('[profiles.claude]\nlogin = "setup-token"\n')
    _claude(home)
    child, screen = _spawn(home, "login", "--", "--email", "a@b")
    assert _finish(child) == 2
    assert "claude logs in with login = 'setup-token'" in screen.getvalue()
    assert _runs(home) == []


def test_ctrl_c_during_claude_auth_login_changes_nothing(home: Home) -> None:
    data = home.write_claude(time.time() - 60)
    child, screen = _spawn(home, "login", **_claude(home))
    child.expect("Paste code here if prompted >")
    child.sendcontrol("c")
    assert _finish(child) == 130  # the shell's code for Ctrl-C, as everywhere else in wrap
    assert "interrupted" in screen.getvalue()
    assert home.creds.read_bytes() == data


def _codex(home: Home, **env: str) -> tuple[int, str, list[list[str]]]:
    """`wrap login codex` with the stand-in: exit code, screen, the stand-in's runs."""
    _install(home, "codex", "standin_codex_login.py")
    runs = home.root / "codex-runs"
    runs.unlink(missing_ok=True)
    child, screen = _spawn(home, "login", "codex", FAKE_CODEX_RUNS=str(runs), **env)
    code = _finish(child)
    found = [json.loads(x) for x in runs.read_text().splitlines()] if runs.exists() else []
    return code, screen.getvalue(), found


def test_codex_logs_in_with_its_own_login_and_a_browser_when_there_is_a_display(
    home: Home,
) -> None:
    code, screen, runs = _codex(home, DISPLAY=":0")
    assert code == 0, screen
    assert runs == [["login"], ["login", "status"]]
    r = home.wrap("--profile", "codex", "--check-only", "--json")
    assert json.loads(r.stdout)["state"] == "fresh", r.stdout


def test_codex_uses_device_auth_over_ssh_or_without_a_display(home: Home) -> None:
    code, screen, runs = _codex(home, DISPLAY=":0", SSH_CONNECTION="10.0.0.1 5 10.0.0.2 22")
    assert code == 0, screen
    assert runs[0] == ["login", "--device-auth"]
    assert "one-time code" in screen
    code, screen, runs = _codex(home)  # no DISPLAY, no WAYLAND_DISPLAY
    assert code == 0, screen
    assert runs[0] == ["login", "--device-auth"]
    assert not any("logout" in run for run in runs)


def test_gate_on_a_terminal_logs_in_through_claude_auth_login_then_launches(home: Home) -> None:
    home.write_claude(time.time() - 60)
    with TokenServer() as server:
        server.faults = ["invalid_grant"]
        env = {"WRAP_TOKEN_URL": server.url, **_claude(home)}
        child, screen = _spawn(home, "-p", "hi", program="wrap-claude", **env)
        child.expect("Paste code here if prompted >")
        child.sendline(f"good-code#{_state(home)}")
        assert _finish(child) == 0, screen.getvalue()
    assert "logging in again" in screen.getvalue()
    [launched] = home.reports()
    assert launched["argv"] == ["-p", "hi"]
    assert [r["argv"] for r in _runs(home)] == [
        ["auth", "login"],
        ["auth", "status", "--json"],
        ["-p", "hi"],
    ]


def test_a_second_account_elsewhere_is_logged_in_where_it_lives(home: Home) -> None:
    # CLAUDE_CONFIG_DIR points claude at the file being logged in to; the variable that would
    # win over it (CLAUDE_SECURESTORAGE_CONFIG_DIR) is not passed on.
    work = home.root / ".claude-work" / ".credentials.json"
    work.parent.mkdir()
    home.write_claude(time.time() + 30 * DAY)
    data = home.creds.read_bytes()
    code, screen = _log_in(home, str(work), CLAUDE_SECURESTORAGE_CONFIG_DIR=str(home.claude_dir))
    assert code == 0, screen
    assert json.loads(work.read_text())["claudeAiOauth"]["refreshTokenExpiresAt"]
    assert home.creds.read_bytes() == data  # the other account is left alone


def test_codex_login_waits_for_no_one_while_another_sign_in_holds_its_lock(home: Home) -> None:
    """codex 0.171.0's `.login.lock`: while another sign-in holds it, `wrap login codex` starts
    no second one (it says so in one line); a lock file nobody holds stops nothing."""
    codex_home = home.root / ".codex"
    codex_home.mkdir()
    lock = codex_home / ".login.lock"
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_FLOCK, str(lock)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "held"
        code, screen, runs = _codex(home, DISPLAY=":0")
        assert code != 0
        assert "another sign-in for" in screen
        assert "is in progress" in screen
        assert runs == []  # codex's login never started
    finally:
        holder.communicate("")
    code, screen, runs = _codex(home, DISPLAY=":0")
    assert code == 0, screen
    assert runs == [["login"], ["login", "status"]]


HOLD_FLOCK = """
import fcntl, os, sys
fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT, 0o600)
fcntl.flock(fd, fcntl.LOCK_EX)
print("held", flush=True)
sys.stdin.read()
"""
