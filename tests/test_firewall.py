"""Refusals by the endpoint's firewall (not OAuth answers): one line, one more try, a cooldown
during which launches start at once, and `wrap --refresh-token` still tries."""

from __future__ import annotations

import json
import time

import pytest
from conftest import Home
from token_server import TokenServer


@pytest.mark.parametrize("fault", ["403-html", "429-empty", "challenge"])
def test_a_firewall_refusal_is_tried_once_more_then_cools_down(
    home: Home, server: TokenServer, fault: str
) -> None:
    data = home.write_claude(time.time() + 3600)
    server.faults = [fault] * 10
    env = home.env(WRAP_TOKEN_URL=server.url)
    first = home.wrap_claude(env=env)
    assert first.returncode == 0
    assert server.refresh_requests == 2  # one more try, no more
    lines = first.stderr.strip().splitlines()
    assert len(lines) == 1, lines
    assert "firewall" in lines[0]
    assert "10 min" in lines[0]
    assert "tried again at the next launch" not in lines[0]  # it says when, and never both
    assert home.creds.read_bytes() == data
    # During the cooldown: launches start at once, ask nothing, say nothing.
    second = home.wrap_claude(env=env)
    assert second.returncode == 0
    assert second.stderr == ""
    assert server.refresh_requests == 2
    assert len(home.reports()) == 2
    report = json.loads(home.wrap("--check-only", "--json", env=env).stdout)
    assert report["refresh_blocked_until"] is not None
    # A forced refresh still asks.
    server.faults = []
    forced = home.wrap("--refresh-token", env=env)
    assert forced.returncode == 0, forced.stderr
    assert server.refresh_requests == 3
    after = json.loads(home.wrap("--check-only", "--json", env=env).stdout)
    assert after["refresh_blocked_until"] is None


def test_the_cooldown_grows_with_refusals_in_a_row(home: Home, server: TokenServer) -> None:
    home.write_claude(time.time() + 3600)
    server.faults = ["403-html"] * 10
    env = home.env(WRAP_TOKEN_URL=server.url)
    home.wrap_claude(env=env)
    second = home.wrap("--refresh-token", env=env)
    assert second.returncode == 5
    assert "1 h" in second.stderr
    third = home.wrap("--refresh-token", env=env)
    assert "6 h" in third.stderr


def test_the_cooldown_ends_when_the_file_changes(home: Home, server: TokenServer) -> None:
    home.write_claude(time.time() + 3600)
    server.faults = ["403-html", "403-html"]
    env = home.env(WRAP_TOKEN_URL=server.url)
    home.wrap_claude(env=env)
    assert server.refresh_requests == 2
    home.write_claude(time.time() + 3000)  # claude refreshed, or the user logged in
    again = home.wrap_claude(env=env)
    assert again.returncode == 0, again.stderr
    assert server.refresh_requests == 3


def test_a_429_with_an_oauth_body_keeps_the_retry_after_rule(
    home: Home, server: TokenServer
) -> None:
    home.write_claude(time.time() + 3600)
    server.faults = ["429"]
    server.retry_after = "0"
    r = home.wrap_claude(env=home.env(WRAP_TOKEN_URL=server.url))
    assert r.returncode == 0, r.stderr
    assert server.refresh_requests == 2
    assert home.read()["claudeAiOauth"]["refreshToken"] == "test-refresh-1"
    report = json.loads(home.wrap("--check-only", "--json").stdout)
    assert report["refresh_blocked_until"] is None


def test_refresh_via_cli_never_sends_a_refresh_token_from_the_gate(
    home: Home, server: TokenServer
) -> None:
    data = home.write_claude(time.time() + 60)
    r = home.wrap_claude(env=home.env(WRAP_TOKEN_URL=server.url, WRAP_REFRESH_VIA="cli"))
    assert r.returncode == 0, r.stderr
    assert server.refresh_requests == 0
    assert home.creds.read_bytes() == data
    assert len(home.reports()) == 1


def test_refresh_via_is_checked(home: Home) -> None:
    r = home.wrap_claude(env=home.env(WRAP_REFRESH_VIA="sometimes"))
    assert r.returncode == 2
    assert "refresh_via" in r.stderr


STAND_IN_CLAUDE = """#!{python}
# A stand-in for Claude Code 2.1.330's `auth status --json`, which refreshes a token that
# expires within 5 minutes (the real one is driven in test_real_clis.py).
import json, os, sys, time
path = os.path.join(os.environ["HOME"], ".claude", ".credentials.json")
if sys.argv[1:] == ["auth", "status", "--json"]:
    doc = json.load(open(path))
    oauth = doc["claudeAiOauth"]
    if oauth["expiresAt"] / 1000 - time.time() < 300:
        oauth["accessToken"] = "refreshed-by-claude"
        oauth["expiresAt"] = int((time.time() + 8 * 3600) * 1000)
        json.dump(doc, open(path, "w"))
    print(json.dumps({{"loggedIn": True}}))
"""


def _stand_in(home: Home) -> None:
    import sys

    fake = home.bin / "claude"
    fake.write_text(STAND_IN_CLAUDE.format(python=sys.executable))
    fake.chmod(0o755)


def test_refresh_via_cli_runs_the_clis_refreshing_command(home: Home, server: TokenServer) -> None:
    _stand_in(home)
    home.write_claude(time.time() + 120)
    env = home.env(WRAP_TOKEN_URL=server.url, WRAP_REFRESH_VIA="cli")
    r = home.wrap("refresh", "claude", env=env)
    assert r.returncode == 0, r.stderr
    assert server.refresh_requests == 0
    assert home.read()["claudeAiOauth"]["accessToken"] == "refreshed-by-claude"


def test_refresh_via_cli_outside_the_clis_window_changes_nothing(
    home: Home, server: TokenServer
) -> None:
    _stand_in(home)
    data = home.write_claude(time.time() + 3600)
    env = home.env(WRAP_TOKEN_URL=server.url, WRAP_REFRESH_VIA="cli")
    r = home.wrap("--refresh-token", env=env)
    assert r.returncode == 0, r.stderr
    assert server.refresh_requests == 0
    assert home.creds.read_bytes() == data
