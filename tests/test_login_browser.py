"""Browser login with PKCE against a real, certified OAuth server (oidc-provider on 127.0.0.1):
wrap's loopback listener, a BROWSER that follows the redirects, then refreshes against the
same server, whose refresh tokens rotate and whose reuse detection revokes the grant."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import httpx
import pexpect
import pytest
from conftest import BIN, ROOT, Home

OIDC = ROOT / "tests" / "oidc"


@pytest.fixture(scope="session")
def issuer() -> Iterator[str]:
    if not (OIDC / "node_modules" / "oidc-provider").is_dir():
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=OIDC, check=True)
    proc = subprocess.Popen(
        ["node", str(OIDC / "server.mjs")],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env={**os.environ, "ACCESS_TTL": "600"},
    )
    try:
        assert proc.stdout is not None
        import select

        ready, _, _ = select.select([proc.stdout], [], [], 20)
        line = proc.stdout.readline() if ready else ""
        assert line.startswith("READY "), f"oidc-provider did not start: {line!r}"
        yield line.split()[1]
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        assert proc.stdout is not None
        proc.stdout.close()


def _configure(home: Home, issuer: str) -> Path:
    cfg = home.root / "config" / "wrap"
    cfg.mkdir(parents=True, exist_ok=True)
    (cfg / "config.toml").write_text(
        f"""
[profiles.oidc]
paths = ["~/.oidc/creds.json"]
access_token = "access_token"
refresh_token = "refresh_token"
expiry = "expiry_date"
expiry_unit = "ms"
id_token = "id_token"
token_url = "{issuer}/token"
authorize_url = "{issuer}/auth"
client_id = "wrap-test"
scopes = "openid email"
body = "form"
login_method = "browser"
"""
    )
    browser = home.bin / "fake-browser"
    browser.write_text(f"#!{sys.executable}\n" + (ROOT / "tests/bin/fake_browser.py").read_text())
    browser.chmod(0o755)
    return home.root / ".oidc" / "creds.json"


def _login(home: Home, *args: str, **env: str) -> tuple[int, str]:
    screen = io.StringIO()
    child = pexpect.spawn(
        str(BIN / "wrap"),
        [*args, "login", "oidc"],
        env=home.env(BROWSER=str(home.bin / "fake-browser"), **env),
        timeout=30,
        encoding="utf-8",
    )
    child.logfile_read = screen
    child.expect(pexpect.EOF)
    child.close()
    return child.exitstatus if child.exitstatus is not None else -1, screen.getvalue()


def test_login_then_refresh_then_reuse_is_rejected(home: Home, issuer: str) -> None:
    creds = _configure(home, issuer)
    log = home.root / "browser.log"
    code, screen = _login(home, FAKE_BROWSER_LOG=str(log))
    assert code == 0, screen
    assert log.read_text() == "200 Logged in\n"
    first = json.loads(creds.read_text())
    assert first["expiry_date"] / 1000 == pytest.approx(time.time() + 600, abs=30)
    assert creds.stat().st_mode & 0o777 == 0o600
    assert creds.parent.stat().st_mode & 0o777 == 0o700
    for value in (first["access_token"], first["refresh_token"]):
        assert value not in screen

    r = home.wrap("refresh", "oidc")
    assert r.returncode == 0, r.stderr
    second = json.loads(creds.read_text())
    assert second["access_token"] != first["access_token"]
    assert second["refresh_token"] != first["refresh_token"]  # rotated
    assert home.wrap("status", "--json").stdout.count('"tester@example.com"') == 1

    # Replaying the first refresh token: the real server refuses it and revokes the grant.
    creds.write_text(json.dumps({**second, "refresh_token": first["refresh_token"]}))
    r = home.wrap("refresh", "oidc")
    assert r.returncode == 5
    assert "invalid_grant" in r.stdout
    creds.write_text(json.dumps(second))
    r = home.wrap("refresh", "oidc")
    assert r.returncode == 5, "the whole family should be revoked after a reuse"


def test_wrong_state_is_refused_and_nothing_written(home: Home, issuer: str) -> None:
    # Refused and ignored: the login goes on waiting for its own answer (none comes here).
    creds = _configure(home, issuer)
    log = home.root / "browser.log"
    code, screen = _login(
        home, FAKE_BROWSER_MODE="wrong-state", FAKE_BROWSER_LOG=str(log), WRAP_LOGIN_TIMEOUT="3s"
    )
    assert code == 5
    assert "state does not match this login" in screen
    assert "no answer from the browser within 3 s" in screen
    assert log.read_text() == "400 Login failed\n"
    assert not creds.exists()


def test_access_denied_is_reported(home: Home, issuer: str) -> None:
    creds = _configure(home, issuer)
    httpx.post(f"{issuer}/_test/deny")
    code, screen = _login(home)
    assert code == 5
    assert "access_denied" in screen
    assert not creds.exists()


def test_no_answer_from_the_browser_times_out(home: Home, issuer: str) -> None:
    creds = _configure(home, issuer)
    code, screen = _login(home, FAKE_BROWSER_MODE="idle", WRAP_LOGIN_TIMEOUT="2s")
    assert code == 5
    assert "no answer from the browser within 2 s" in screen
    assert not creds.exists()


def test_without_a_browser_the_redirect_is_pasted(home: Home, issuer: str) -> None:
    creds = _configure(home, issuer)
    screen = io.StringIO()
    child = pexpect.spawn(
        str(BIN / "wrap"),
        ["--no-browser", "login", "oidc"],
        env=home.env(SSH_CONNECTION="10.0.0.1 5000 10.0.0.2 22"),
        timeout=30,
        encoding="utf-8",
    )
    child.logfile_read = screen
    child.expect(r"(http://127\.0\.0\.1:\d+/auth\?\S+)")
    url = child.match.group(1)
    child.expect("paste the address")
    # A person's browser on another machine: it ends on a loopback address that goes nowhere.
    issuer_port = urlsplit(issuer).port
    with httpx.Client() as client:
        for _ in range(20):
            response = client.get(url)
            assert response.is_redirect, response.text
            url = urljoin(url, response.headers["location"])
            if urlsplit(url).port != issuer_port:
                break
    child.sendline(url)
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0, screen.getvalue()
    assert json.loads(creds.read_text())["access_token"]


def test_pkce_is_required_by_the_server(issuer: str) -> None:
    # The counterpart itself refuses a login without PKCE, so wrap's passing logins used it.
    r = httpx.get(
        f"{issuer}/auth",
        params={
            "client_id": "wrap-test",
            "response_type": "code",
            "scope": "openid",
            "redirect_uri": "http://127.0.0.1:9/callback",
        },
    )
    assert r.is_redirect
    assert "error=invalid_request" in r.headers["location"]
    assert "PKCE" in httpx.URL(r.headers["location"]).params["error_description"]
