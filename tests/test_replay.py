"""A refresh token that may have been rotated without wrap seeing the answer is never sent again
blindly: a replay would make the server revoke the whole token family."""

from __future__ import annotations

import io
import socket
from typing import Any

import pytest
from conftest import Home
from token_server import TokenServer

from launcher import config, gate
from launcher.log import Log

T0 = 1_800_000_000.0
HOUR = 3600


def _gate(home: Home, url: str, t: float, **flags: Any) -> str:
    err = io.StringIO()
    settings = config.resolve({"token_url": url, **flags}, home.env())
    code = gate.gate(settings, env=home.env(), now=lambda: t, log=Log(stream=err), program="c")
    assert code is None
    return err.getvalue()


@pytest.mark.parametrize(
    ("fault", "flags", "said"),
    [
        ("502", {}, "HTTP 502"),  # the backend rotated; the gateway lost the answer
        ("504", {}, "HTTP 504"),
        ("hang", {"refresh_timeout": "1s"}, "did not answer within"),  # sent, no answer
    ],
    ids=["502", "504", "timeout after sending"],
)
def test_an_unanswered_refresh_token_is_not_sent_again(
    home: Home, server: TokenServer, fault: str, flags: dict[str, str], said: str
) -> None:
    data = home.write_claude(T0 + HOUR)
    server.faults = [fault]
    first = _gate(home, server.url, T0, **flags)
    assert said in first
    # Never "tried again at the next launch": the next launch will not send it (below).
    assert "tried again" not in first
    assert server.refresh_requests == 1
    err = _gate(home, server.url, T0 + 60)
    assert "got no answer" in err
    assert "tried again" not in err
    assert "wrap --refresh-token" in err
    assert server.refresh_requests == 1  # not replayed
    assert server.reused == 0
    assert home.creds.read_bytes() == data


def test_a_request_never_sent_does_not_hold_back_the_next_refresh(
    home: Home, server: TokenServer
) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{s.getsockname()[1]}/token"
    home.write_claude(T0 + HOUR)
    assert "cannot connect" in _gate(home, closed, T0, refresh_timeout="2s")
    assert _gate(home, server.url, T0 + 60) == ""
    assert server.refresh_requests == 1
    assert home.read()["claudeAiOauth"]["accessToken"] == "test-access-1"


def test_wrap_refresh_does_not_resend_a_refresh_token_that_got_no_answer(home: Home) -> None:
    # `wrap refresh NAME|--all` refreshes even a fresh token, but only `--refresh-token` (what
    # the "got no answer" line offers) may send again a token that may already have rotated.
    import time

    data = home.write_claude(time.time() + HOUR)
    with TokenServer() as server:
        server.faults = ["502"]
        env = home.env(WRAP_TOKEN_URL=server.url)
        assert "HTTP 502" in home.wrap_claude(env=env).stderr
        for argv in (("refresh", "claude"), ("refresh", "--all")):
            r = home.wrap(*argv, env=env)
            assert r.returncode == 5, r.stdout + r.stderr
            assert "got no answer" in r.stdout + r.stderr
        assert server.refresh_requests == 1  # never resent
        assert home.creds.read_bytes() == data
        assert server.reused == 0
        # --refresh-token does send it: here the 502 had rotated it, so it is the spent one.
        home.wrap("--refresh-token", env=env)
        assert server.refresh_requests == 2
        assert server.reused == 1
