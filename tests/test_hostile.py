"""Hostile answers from the token endpoint: deep JSON, Infinity, objects where strings belong,
terminal escapes, gateway errors after a rotation; each ends in one clean line, and only what
cannot have rotated the token is retried."""

from __future__ import annotations

import json
import socket
import time
from typing import Any

import hostile_server as hs
import pytest
from conftest import Home, one_line

from launcher.errors import RefreshError
from launcher.refresh import grant

T0 = time.time()


# --- hostile answers ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "body", "expect"),
    [
        (200, b"[" * 100_000, "not a JSON object"),
        (200, b'{"a":' * 500 + b"1" + b"}" * 500, "without an access token"),
        (200, {"error": {"code": "nested", "message": "as an object"}}, r"HTTP 200 \(nested\)"),
        (200, {"error": ["list"], "error_description": 5}, "HTTP 200"),
        (200, {"access_token": "a", "error": {}}, "HTTP 200"),
        (200, {"access_token": 123, "refresh_token": []}, "without an access token"),
        (200, {"access_token": {"a": 1}}, "without an access token"),
        (200, b"\xff\xfe\x00garbage", "not a JSON object"),
        (200, b"", "not a JSON object"),
    ],
    ids=[
        "deep list",
        "deep object",
        "error object",
        "error list",
        "error empty object",
        "number token",
        "object token",
        "binary",
        "empty",
    ],
)
def test_a_hostile_answer_is_a_refresh_error(status: int, body: Any, expect: str) -> None:
    with (
        hs.serving(hs.answer(hs.response(status, body))) as server,
        pytest.raises(RefreshError, match=expect) as e,
    ):
        hs.refresh_once(server.url)
    one_line(str(e.value))
    assert len(server.requests) == 1


@pytest.mark.parametrize(
    "value",
    [b"Infinity", b"1e400", b"1" + b"0" * 400, b'"1e999"', b"1e300"],
    ids=["Infinity", "1e400", "huge int", "huge string", "1e300"],
)
def test_an_absurd_expires_in_is_clamped(value: bytes) -> None:
    body = b'{"access_token": "a", "expires_in": ' + value + b"}"
    with hs.serving(hs.answer(hs.response(200, body))) as server:
        assert hs.refresh_once(server.url).expires_in == grant.MAX_EXPIRES_IN


@pytest.mark.parametrize("value", [b"NaN", b"-Infinity", b"-5", b"0", b'"soon"', b"true"])
def test_an_unusable_expires_in_counts_as_absent(value: bytes) -> None:
    body = b'{"access_token": "a", "expires_in": ' + value + b"}"
    with hs.serving(hs.answer(hs.response(200, body))) as server:
        assert hs.refresh_once(server.url).expires_in is None


def test_an_infinite_expires_in_is_written_as_a_date_wrap_reads_back(home: Home) -> None:
    home.write_claude(T0 + 3600)
    body = b'{"access_token": "new-access", "expires_in": Infinity}'
    with hs.serving(hs.answer(hs.response(200, body))) as server:
        r = home.wrap_claude(env=home.env(WRAP_TOKEN_URL=server.url))
    assert r.returncode == 0
    assert r.stderr == ""
    r = home.wrap("--check-only", "--json")
    assert r.returncode == 0, r.stdout
    assert json.loads(r.stdout)["state"] == "fresh"
    assert int(json.loads(r.stdout)["expires_at"][:4]) <= 9999


def test_server_text_loses_its_escape_sequences_and_control_characters() -> None:
    evil = {
        "error": "bad\x1b[2J\x1b]0;pwned\x07_grant",
        "error_description": "line one\r\nline two\x1b[31m red\x9b1m \u202eevil\x00",
    }
    with hs.serving(hs.answer(hs.response(400, evil))) as server, pytest.raises(RefreshError) as e:
        hs.refresh_once(server.url)
    text = str(e.value)
    assert "(bad_grant: line one line two red evil)" in text
    assert not any(ord(c) < 32 or 0x7F <= ord(c) <= 0x9F or c == "\u202e" for c in text)


def test_a_long_server_text_is_cut() -> None:
    with (
        hs.serving(hs.answer(hs.response(400, {"error": "x" * 10_000}))) as server,
        pytest.raises(RefreshError) as e,
    ):
        hs.refresh_once(server.url)
    assert len(str(e.value)) < grant.MAX_QUOTED + 100


def test_the_gate_prints_no_escape_sequence_from_the_server(home: Home) -> None:
    home.write_claude(T0 + 3600)
    evil = {"error": "invalid_grant", "error_description": "\x1b]52;c;aGk=\x07\x1b[2Jrevoked"}
    with hs.serving(hs.answer(hs.response(400, evil))) as server:
        r = home.wrap_claude(env=home.env(WRAP_TOKEN_URL=server.url))
    line = one_line(r.stderr)
    assert "\x1b" not in line
    assert "\x07" not in line
    assert "invalid_grant: revoked" in line


# --- which failures are retried: only what cannot have rotated the token -----------------


@pytest.mark.parametrize("status", [500, 502, 504])
def test_a_gateway_error_may_follow_a_rotation_so_it_is_not_retried(status: int) -> None:
    with (
        hs.serving(hs.answer(hs.response(status, b"<html>bad gateway</html>"))) as server,
        pytest.raises(RefreshError, match=f"HTTP {status}") as e,
    ):
        hs.refresh_once(server.url)
    assert e.value.sent
    assert not e.value.retryable
    assert len(server.requests) == 1  # the same refresh token is never sent again


@pytest.mark.parametrize(("status", "headers"), [(503, {}), (408, {}), (429, {"Retry-After": "0"})])
def test_what_cannot_have_rotated_is_retried(status: int, headers: dict[str, str]) -> None:
    answers = [hs.response(status, b"{}", headers), hs.response(200, hs.OK)]

    def script(conn: socket.socket, request: hs.Request) -> None:
        conn.sendall(answers.pop(0))

    with hs.serving(script) as server:
        assert hs.refresh_once(server.url).access_token == "new-access"
    assert len(server.requests) == 2


@pytest.mark.parametrize("value", ["1e308", "inf", "nan", "-3", "Fri, 99 Foo 2015"])
def test_a_hostile_retry_after_is_harmless(value: str) -> None:
    answers = [hs.response(503, b"{}", {"Retry-After": value}), hs.response(200, hs.OK)]

    def script(conn: socket.socket, request: hs.Request) -> None:
        conn.sendall(answers.pop(0) if answers else hs.response(503, b"{}"))

    with hs.serving(script) as server:
        try:
            hs.refresh_once(server.url)
        except RefreshError as e:
            one_line(str(e))
    assert 1 <= len(server.requests) <= 2


def test_a_refresh_token_that_is_not_valid_text_is_never_sent(home: Home) -> None:
    # Valid JSON (Node writes a truncated emoji this way), not valid Unicode: found by the fuzz.
    home.write_claude(T0 + 3600, refresh="\ud83d")
    assert b"\\ud83d" in home.creds.read_bytes()
    data = home.creds.read_bytes()
    with hs.serving(hs.answer(hs.response(200, hs.OK))) as server:
        r = home.wrap_claude(env=home.env(WRAP_TOKEN_URL=server.url))
    assert r.returncode == 0
    assert "cannot be sent" in one_line(r.stderr)
    assert server.requests == []
    assert home.creds.read_bytes() == data
    assert len(home.reports()) == 1
