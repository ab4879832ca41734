"""`wrap`: option wiring (CliRunner) and the contract's exit codes and JSON (real processes)."""

from __future__ import annotations

import json
import time

import pytest
from click.testing import CliRunner
from conftest import DAY, Home, digest
from token_server import TokenServer

from launcher.cli import wrap

KEYS = [
    "profile",
    "path",
    "account",
    "state",
    "expires_at",
    "expires_in_seconds",
    "threshold_seconds",
    "has_refresh_token",
    "last_refreshed",
    "refresh_count",
    "consecutive_failures",
    "login_expires_at",
    "login_expires_in_seconds",
    "store",
    "where",
    "refresh_blocked_until",
    "schema",
]


@pytest.mark.parametrize(
    ("left", "state", "code"),
    [(30 * DAY, "fresh", 0), (2 * DAY, "expiring", 1), (-60, "expired", 3)],
)
def test_check_only_json_and_exit_code(home: Home, left: float, state: str, code: int) -> None:
    home.write_claude(time.time() + left)
    before = home.creds.read_bytes()
    r = home.wrap("--check-only", "--json")
    assert r.returncode == code, r.stderr
    obj = json.loads(r.stdout)
    assert list(obj) == KEYS
    assert obj["state"] == state
    assert obj["profile"] == "claude"
    assert obj["path"] == str(home.creds)
    assert obj["threshold_seconds"] == 7 * DAY
    assert obj["has_refresh_token"] is True
    assert obj["expires_at"].endswith("Z")
    assert abs(obj["expires_in_seconds"] - left) < 60
    assert home.creds.read_bytes() == before
    assert home.reports() == []


def test_check_only_missing_is_4(home: Home) -> None:
    r = home.wrap("--check-only", "--json")
    assert r.returncode == 4
    assert json.loads(r.stdout)["state"] == "missing"


def test_check_only_human_line(home: Home) -> None:
    home.write_claude(time.time() + 2 * DAY + 120)
    r = home.wrap("--check-only")
    assert r.returncode == 1
    assert r.stdout.startswith("claude: expiring: ")
    assert "(in 2 d)" in r.stdout


def test_check_only_reports_effective_threshold(home: Home, server: TokenServer) -> None:
    home.write_claude(time.time() + 3600)
    assert home.wrap("--refresh-token", "--token-url", server.url).returncode == 0
    obj = json.loads(home.wrap("--check-only", "--json").stdout)
    assert obj["threshold_seconds"] == 4 * 3600
    assert obj["state"] == "fresh"
    assert obj["refresh_count"] == 1
    assert obj["last_refreshed"].endswith("Z")


def test_refresh_token_forces_a_fresh_token(home: Home, server: TokenServer) -> None:
    home.write_claude(time.time() + 300 * DAY)
    r = home.wrap("--refresh-token", "--token-url", server.url)
    assert r.returncode == 0, r.stderr
    assert "refreshed" in r.stdout
    assert home.read()["claudeAiOauth"]["accessToken"] == "test-access-1"


def test_refresh_token_then_exec(home: Home, server: TokenServer) -> None:
    home.write_claude(time.time() + 300 * DAY)
    r = home.wrap("--refresh-token", "--token-url", server.url, "claude", "--flag")
    assert r.returncode == 0, r.stderr
    [report] = home.reports()
    assert report["argv"] == ["--flag"]
    assert report["token_digest"] == digest("test-access-1")


def test_refresh_token_failure_is_5_and_launches_nothing(home: Home, server: TokenServer) -> None:
    home.write_claude(time.time() + 300 * DAY)
    server.faults = ["invalid_grant"]
    r = home.wrap("--refresh-token", "--token-url", server.url, "claude")
    assert r.returncode == 5
    assert "invalid_grant" in r.stderr
    assert home.reports() == []


def test_refresh_token_cleartext_url_is_usage_error(home: Home) -> None:
    data = home.write_claude(time.time() + 300 * DAY)
    r = home.wrap("--refresh-token", "--token-url", "http://example.com/token")
    assert r.returncode == 2
    assert "https" in r.stderr
    assert home.creds.read_bytes() == data


def test_wrap_program_gates_and_execs(home: Home, server: TokenServer) -> None:
    home.write_claude(time.time() + 3600)
    r = home.wrap("--token-url", server.url, "claude", "--help", "-v")
    assert r.returncode == 0, r.stderr
    assert home.reports()[0]["argv"] == ["--help", "-v"]
    assert server.refresh_requests == 1


def test_dashdash_makes_a_subcommand_name_a_program(home: Home) -> None:
    home.write_claude(time.time() + 30 * DAY)
    (home.bin / "run").write_bytes((home.bin / "claude").read_bytes())
    (home.bin / "run").chmod(0o755)
    r = home.wrap("--", "run", "x")
    assert r.returncode == 0, r.stderr
    assert home.reports()[0]["argv"] == ["x"]


def test_bad_threshold_flag_is_2() -> None:
    r = CliRunner().invoke(wrap, ["--threshold", "week", "--check-only"])
    assert r.exit_code == 2
    assert "7d, 36h, 90m, 45s" in r.output


def test_no_program_is_usage_error() -> None:
    r = CliRunner().invoke(wrap, [])
    assert r.exit_code == 2
    assert "no program given" in r.output


def test_help_documents_flags_and_exit_codes() -> None:
    r = CliRunner().invoke(wrap, ["--help"])
    assert r.exit_code == 0
    for flag in (
        "--check-only",
        "--refresh-token",
        "--threshold",
        "--strict",
        "--refresh-timeout",
        "--credentials",
        "--token-url",
        "--client-id",
    ):
        assert flag in r.output
    assert "Exit codes" in r.output


def test_check_only_names_the_account(home: Home) -> None:
    home.write_claude(time.time() + 30 * DAY)
    assert json.loads(home.wrap("--check-only", "--json").stdout)["account"] == "claude"
    (home.root / ".claude.json").write_text('{"oauthAccount": {"emailAddress": "me@example.com"}}')
    assert json.loads(home.wrap("--check-only", "--json").stdout)["account"] == "me@example.com"


def test_refresh_command_with_cleartext_url_is_usage_error(home: Home) -> None:
    data = home.write_claude(time.time() + 30 * DAY)
    r = home.wrap("--token-url", "http://example.com/token", "refresh", "claude")
    assert r.returncode == 2
    assert "https" in r.stdout
    assert home.creds.read_bytes() == data


def test_daemon_is_not_mistaken_for_a_program() -> None:
    r = CliRunner().invoke(wrap, ["daemon", "start"])
    assert r.exit_code == 2
    assert "wrap keepalive install" in r.output
