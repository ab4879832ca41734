"""`wrap login claude` with the REAL Claude Code (tests/realcli) under wrap's pty: its
`auth login` gets the authorize URL to $BROWSER, takes `code#state` pasted at its prompt,
exchanges the code at the local token server through the TLS-intercepting proxy, and writes
the file itself; wrap checks it with the real `claude auth status --json` and sees a fresh
login with its deadline (2.1.330 records refreshTokenExpiresAt; 2.1.197 does not)."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from conftest import DAY, ROOT, Home
from test_login_setup import _finish, _spawn
from test_real_clis import (  # noqa: F401 (pytestmark: skipped, loudly, without the CLIs)
    CLAUDE_RUN,
    CLAUDE_SCOPE,
    Stack,
    _stack,
    pytestmark,
    wait_for,
)

LOGIN_LIFETIME = 30 * DAY


@pytest.fixture
def stack(home: Home) -> Iterator[Stack]:
    yield from _stack(home, jwt=False)


def _browser(stack: Stack) -> tuple[dict[str, str], Path]:
    """A $BROWSER that only writes down the URL claude gives it (2.1.330 prints a short link)."""
    urls = stack.home.root / "urls"
    browser = stack.home.bin / "open-url"
    script = ROOT / "tests" / "bin" / "standin_browser_log.py"
    browser.write_text(
        f"#!{sys.executable}\nimport runpy\nrunpy.run_path({str(script)!r}, run_name='__main__')\n"
    )
    browser.chmod(0o755)
    return {"BROWSER": str(browser), "FAKE_BROWSER_URLS": str(urls)}, urls


def _log_in(stack: Stack, version: str, code: str) -> tuple[int, str]:
    env, urls = _browser(stack)
    stack.server.extra = {"scope": CLAUDE_SCOPE, "refresh_token_expires_in": LOGIN_LIFETIME}
    stack.server.codes.add("the-code")
    child, screen = _spawn(stack.home, "login", "claude", **{**stack.env(version), **env})
    child.timeout = 90
    child.expect("Paste code here if prompted >")
    # claude calls $BROWSER beside its prompt, not before it.
    wait_for(lambda: urls.exists() and urls.read_text().endswith("\n"), "claude to call $BROWSER")
    query = parse_qs(urlsplit(urls.read_text().splitlines()[-1]).query)
    assert query["code_challenge_method"] == ["S256"]
    child.sendline(f"{code}#{query['state'][0]}")
    return _finish(child), screen.getvalue()


@pytest.mark.parametrize("version", CLAUDE_RUN)
def test_real_claude_auth_login_is_a_fresh_login_with_its_deadline(
    stack: Stack, version: str
) -> None:
    stack.write_claude(-60)  # an expired token, and the mcpOAuth entry claude must keep
    code, screen = _log_in(stack, version, "the-code")
    assert code == 0, screen
    assert "Login successful." in screen
    # Measured: both versions refresh the expired token as they start (under their own locks),
    # then exchange the code; the file ends with the login's new chain, nothing replayed.
    grants = [r.get("grant_type") for r in stack.server.requests]
    assert grants == ["refresh_token", "authorization_code"]
    assert stack.server.requests[1]["code"] == "the-code"
    assert stack.server.received == ["old-refresh"]
    assert stack.server.refused == []
    doc = stack.home.read()
    assert doc["claudeAiOauth"]["refreshToken"] == stack.server.issued_refresh[-1]
    assert "mcpOAuth" in doc
    r = stack.home.wrap("--check-only", "--json")
    obj = json.loads(r.stdout)
    assert obj["state"] == "fresh", r.stdout + r.stderr
    if version == "2.1.197":  # it does not record the deadline
        assert obj["login_expires_at"] is None
    else:
        assert abs(obj["login_expires_in_seconds"] - LOGIN_LIFETIME) < 300
        assert f"until {obj['login_expires_at']}" in screen


def test_real_claude_refusing_the_code_leaves_the_file_untouched(stack: Stack) -> None:
    stack.write_claude(30 * DAY)  # valid: claude has nothing to refresh as it starts
    data = stack.home.creds.read_bytes()
    code, screen = _log_in(stack, CLAUDE_RUN[-1], "a-wrong-code")
    assert code == 5, screen
    # What 2.1.330 says, passed on by wrap.
    assert "'claude auth login' failed (exit status 1): Couldn't log in: That code wasn't" in screen
    assert stack.home.creds.read_bytes() == data
    assert [r.get("grant_type") for r in stack.server.requests] == ["authorization_code"]
