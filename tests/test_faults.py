"""Fault injection through the gate: each failure leaves the file as it was (but for a rotated
refresh token), says one line, and launches anyway."""

from __future__ import annotations

import io
import json
import socket
import time
from typing import Any

import pytest
from conftest import Home, claude_doc
from token_server import TokenServer

from launcher import config, gate
from launcher.log import Log

T0 = time.time()


def _gate(home: Home, url: str, **flags: Any) -> tuple[int | None, str]:
    err = io.StringIO()
    settings = config.resolve({"token_url": url, **flags}, home.env())
    code = gate.gate(
        settings, env=home.env(), now=lambda: T0, log=Log(stream=err), program="claude"
    )
    return code, err.getvalue()


@pytest.mark.parametrize(
    ("faults", "flags", "expect"),
    [
        (["500"] * 9, {}, "HTTP 500"),
        (["503-text"] * 9, {}, "HTTP 503"),
        (["not_json"], {}, "not a JSON object"),
        (["invalid_grant"], {}, "invalid_grant"),
        (["429"], {"refresh_timeout": "1s"}, "HTTP 429"),  # Retry-After 1 s would pass the bound
        (["hang"], {"refresh_timeout": "1s"}, "did not answer within"),
    ],
    ids=["500", "503 html", "not json", "invalid_grant", "429 past bound", "slower than bound"],
)
def test_failure_keeps_file_and_launches(
    home: Home, server: TokenServer, faults: list[str], flags: dict[str, str], expect: str
) -> None:
    data = home.write_claude(T0 + 3600)
    server.faults = list(faults)
    code, err = _gate(home, server.url, **flags)
    assert code is None
    assert home.creds.read_bytes() == data
    assert len(err.splitlines()) == 1, err
    assert expect in err
    assert str(home.creds) in err


def test_429_with_retry_after_within_bound_succeeds(home: Home, server: TokenServer) -> None:
    home.write_claude(T0 + 3600)
    server.faults = ["429"]
    server.retry_after = "0"
    code, err = _gate(home, server.url)
    assert (code, err) == (None, "")
    assert server.refresh_requests == 2
    assert home.read()["claudeAiOauth"]["accessToken"] == "test-access-1"


def test_connection_refused_keeps_file(home: Home) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    data = home.write_claude(T0 + 3600)
    code, err = _gate(home, f"http://127.0.0.1:{port}/token", refresh_timeout="2s")
    assert code is None
    assert "cannot connect" in err
    assert home.creds.read_bytes() == data


def test_response_without_access_token_still_saves_rotated_refresh_token(
    home: Home, server: TokenServer
) -> None:
    home.write_claude(T0 + 3600)
    before = home.read()
    server.faults = ["no_access_token"]
    code, err = _gate(home, server.url)
    assert code is None
    assert "without an access token" in err
    after = home.read()
    assert after["claudeAiOauth"]["refreshToken"] == "test-refresh-1"
    after["claudeAiOauth"]["refreshToken"] = before["claudeAiOauth"]["refreshToken"]
    assert after == before
    # The next launch uses the saved token: the server accepts it, no family revoked.
    code, err = _gate(home, server.url)
    assert (code, err) == (None, "")
    assert home.read()["claudeAiOauth"]["accessToken"] == "test-access-2"


def test_timeout_after_send_rereads_the_file_instead_of_resending(
    home: Home, server: TokenServer
) -> None:
    home.write_claude(T0 + 3600)

    def claude_refreshes_meanwhile() -> None:
        home.creds.write_text(
            json.dumps(claude_doc(T0 + 8 * 3600, access="by-claude", refresh="claude-rt"))
        )

    server.on_request = claude_refreshes_meanwhile
    server.faults = ["hang"]
    code, err = _gate(home, server.url, refresh_timeout="1s")
    assert (code, err) == (None, "")
    assert server.refresh_requests == 1
    assert home.read()["claudeAiOauth"]["refreshToken"] == "claude-rt"


def test_claude_lock_dir_is_held_during_the_request(home: Home, server: TokenServer) -> None:
    home.write_claude(T0 + 3600)
    seen: list[bool] = []
    server.on_request = lambda: seen.append((home.claude_dir / ".oauth_refresh.lock").is_dir())
    _gate(home, server.url)
    assert seen == [True]
    assert not (home.claude_dir / ".oauth_refresh.lock").exists()


def test_failures_are_counted_in_state(home: Home, server: TokenServer) -> None:
    home.write_claude(T0 + 3600)
    server.faults = ["500"] * 20
    _gate(home, server.url, refresh_timeout="1s")
    obj = json.loads(home.wrap("--check-only", "--json").stdout)
    assert obj["consecutive_failures"] == 1
