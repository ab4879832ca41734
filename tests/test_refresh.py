"""The refresh_token grant against a real HTTP server on 127.0.0.1, faults included."""

from __future__ import annotations

import socket
import time

import httpx
import pytest
from token_server import TokenServer

from launcher.errors import RefreshError, UsageError
from launcher.refresh import grant


class Sleeps:
    """Records the backoff instead of waiting it out, and advances a fake monotonic clock."""

    def __init__(self) -> None:
        self.t = 0.0
        self.calls: list[float] = []

    def clock(self) -> float:
        return self.t

    def sleep(self, s: float) -> None:
        self.calls.append(s)
        self.t += s


def _run(
    server: TokenServer,
    token: str = "old-refresh",
    budget: float = 15,
    sleeps: Sleeps | None = None,
) -> tuple[grant.TokenResponse, list[str]]:
    saved: list[str] = []
    sleeps = sleeps or Sleeps()
    with httpx.Client() as client:
        resp = grant.refresh(
            client,
            grant.Endpoint(server.url, "client-1"),
            token,
            budget=budget,
            on_refresh_token=saved.append,
            clock=sleeps.clock,
            sleep=sleeps.sleep,
            jitter=lambda: 0.5,
        )
    return resp, saved


def test_success_maps_fields_and_sends_json_body(server: TokenServer) -> None:
    resp, saved = _run(server)
    assert resp.access_token == "test-access-1"
    assert resp.refresh_token == "test-refresh-1"
    assert resp.expires_in == 28800
    assert saved == ["test-refresh-1"]
    assert server.requests == [
        {
            "grant_type": "refresh_token",
            "client_id": "client-1",
            "_content_type": "application/json",
        }
    ]


def test_form_body_and_basic_auth() -> None:
    with TokenServer() as server, httpx.Client() as client:
        endpoint = grant.Endpoint(
            server.url, "cid", client_secret="sec", body="form", client_auth="basic"
        )
        grant.refresh(client, endpoint, "rt", budget=5, on_refresh_token=lambda t: None)
    assert server.requests[0]["_content_type"] == "application/x-www-form-urlencoded"
    assert server.requests[0]["_authorization"] == "present"
    # Under Basic auth the client is named in the header only (RFC 6749 2.3.1).
    assert "client_id" not in server.requests[0]
    assert "client_secret" not in server.requests[0]
    assert server.requests[0]["grant_type"] == "refresh_token"


@pytest.mark.parametrize("error", ["invalid_grant", "invalid_client", "unauthorized_client"])
def test_a_refused_token_or_client_is_a_rejection(server: TokenServer, error: str) -> None:
    server.faults = [f"error:{error}", "ok"]
    with pytest.raises(RefreshError, match=error) as e:
        _run(server, budget=1000)
    assert e.value.rejected
    assert server.refresh_requests == 1


@pytest.mark.parametrize("error", ["invalid_request", "invalid_scope", "server_error"])
def test_other_oauth_errors_are_not_rejections(server: TokenServer, error: str) -> None:
    server.faults = [f"error:{error}", "ok"]
    with pytest.raises(RefreshError, match=error) as e:
        _run(server, budget=1000)
    assert not e.value.rejected
    assert server.refresh_requests == 1


@pytest.mark.parametrize("status", [408, 429, 503])
def test_an_answer_that_says_nothing_was_processed_is_retried(
    server: TokenServer, status: int
) -> None:
    server.faults = [f"status:{status}"]
    sleeps = Sleeps()
    resp, _ = _run(server, budget=1000, sleeps=sleeps)
    assert resp.access_token == "test-access-1"
    assert server.refresh_requests == 2
    assert sleeps.calls == [0.375]


def test_no_refresh_token_in_response_is_none() -> None:
    with TokenServer(rotate=False) as server:
        resp, saved = _run(server)
    assert resp.refresh_token is None
    assert saved == []


def test_invalid_grant_is_rejected_not_retried(server: TokenServer) -> None:
    server.faults = ["invalid_grant"]
    with pytest.raises(RefreshError) as e:
        _run(server)
    assert e.value.rejected
    assert "invalid_grant: Refresh token revoked" in str(e.value)
    assert server.refresh_requests == 1


def test_reused_token_rejected_by_server(server: TokenServer) -> None:
    _run(server, "old-refresh")
    with pytest.raises(RefreshError) as e:
        _run(server, "old-refresh")
    assert e.value.rejected


def test_503_then_success_is_retried_with_backoff(server: TokenServer) -> None:
    server.faults = ["503-text", "503-text"]
    sleeps = Sleeps()
    resp, _ = _run(server, sleeps=sleeps)
    assert resp.access_token == "test-access-1"
    assert server.refresh_requests == 3
    assert sleeps.calls == [0.375, 0.75]  # base 0.5 * 2^n, jitter fixed at the midpoint


def test_retries_are_bounded_in_count(server: TokenServer) -> None:
    server.faults = ["503-text"] * 10
    sleeps = Sleeps()
    with pytest.raises(RefreshError, match="HTTP 503"):
        _run(server, budget=1000, sleeps=sleeps)
    # Four attempts (a literal, not the constant), three backoffs, well within the budget.
    assert server.refresh_requests == 4
    assert sleeps.calls == [0.375, 0.75, 1.5]


@pytest.mark.parametrize("fault", ["500", "502", "504"])
def test_an_answer_that_may_follow_a_rotation_is_not_retried(
    server: TokenServer, fault: str
) -> None:
    server.faults = [fault, "ok"]
    with pytest.raises(RefreshError, match=f"HTTP {fault}") as e:
        _run(server, budget=1000)
    assert server.refresh_requests == 1
    assert e.value.sent
    assert not e.value.retryable


def test_429_honours_retry_after(server: TokenServer) -> None:
    server.faults = ["429"]
    server.retry_after = "3"
    sleeps = Sleeps()
    _run(server, sleeps=sleeps)
    assert sleeps.calls == [3.0]


def test_retry_after_past_budget_gives_up(server: TokenServer) -> None:
    server.faults = ["429"]
    server.retry_after = "60"
    sleeps = Sleeps()
    with pytest.raises(RefreshError, match="refresh timeout"):
        _run(server, budget=15, sleeps=sleeps)
    assert sleeps.calls == []
    assert server.refresh_requests == 1


def test_not_json_is_an_error(server: TokenServer) -> None:
    server.faults = ["not_json"]
    with pytest.raises(RefreshError, match="not a JSON object"):
        _run(server)
    assert server.refresh_requests == 1


def test_rotated_token_saved_even_without_access_token(server: TokenServer) -> None:
    server.faults = ["no_access_token"]
    with pytest.raises(RefreshError, match="without an access token"):
        _run(server)
    assert server.issued_refresh == ["test-refresh-1"]


def test_rotated_token_reaches_callback_before_the_error(server: TokenServer) -> None:
    server.faults = ["no_access_token"]
    saved: list[str] = []
    with httpx.Client() as client, pytest.raises(RefreshError):
        grant.refresh(
            client,
            grant.Endpoint(server.url, "c"),
            "old-refresh",
            budget=5,
            on_refresh_token=saved.append,
        )
    assert saved == ["test-refresh-1"]


def test_connection_refused_is_retried_then_fails() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    sleeps = Sleeps()
    with httpx.Client() as client, pytest.raises(RefreshError, match="cannot connect") as e:
        grant.refresh(
            client,
            grant.Endpoint(f"http://127.0.0.1:{port}/token", "c"),
            "rt",
            budget=15,
            on_refresh_token=lambda t: None,
            clock=sleeps.clock,
            sleep=sleeps.sleep,
        )
    assert not e.value.sent
    assert len(sleeps.calls) == 3  # four attempts: a literal, so a changed bound shows here


def test_timeout_after_send_is_not_retried(server: TokenServer) -> None:
    server.delay = 2.0
    with pytest.raises(RefreshError, match="did not answer") as e:
        _run(server, budget=0.5)
    assert e.value.sent
    assert server.refresh_requests == 1


@pytest.mark.parametrize(
    "url",
    [
        "http://example.com/token",
        "ftp://127.0.0.1/x",
        "http://10.0.0.1/token",
        "token",
        "",
        # Names that merely start like a loopback one resolve anywhere.
        "http://localhost.example.com/token",
        "http://127.0.0.1.example.com/token",
        "http://localhostx/token",
        "https:///token",
    ],
)
def test_cleartext_non_loopback_url_refused_before_sending(url: str) -> None:
    with pytest.raises(UsageError, match="https"):
        grant.check_url(url)


@pytest.mark.parametrize(
    "url",
    [
        "https://platform.claude.com/v1/oauth/token",
        "http://127.0.0.1:8/t",
        "http://localhost/t",
        "http://[::1]:80/t",
        "http://127.5.0.1/t",
    ],
)
def test_allowed_urls(url: str) -> None:
    grant.check_url(url)


def test_error_messages_never_carry_the_token(server: TokenServer) -> None:
    server.faults = ["invalid_grant"]
    with pytest.raises(RefreshError) as e:
        _run(server, token="old-refresh")
    assert "old-refresh" not in str(e.value)


def test_retry_after_as_http_date() -> None:
    from email.utils import formatdate

    assert grant._retry_after(formatdate(time.time() + 30, usegmt=True)) == pytest.approx(30, abs=2)
    assert grant._retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0
    assert grant._retry_after("soon") is None
