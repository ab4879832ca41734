"""The OAuth refresh_token grant over httpx: one request, error classification, bounded retries."""

from __future__ import annotations

import ipaddress
import random
import time
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import httpx

from launcher import redact
from launcher.errors import RefreshError, UsageError
from launcher.profiles import STANDARD_REQUEST, STANDARD_RESPONSE

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

# OAuth errors that mean the refresh token (or client) itself is refused: retrying cannot help.
REJECTED = frozenset({"invalid_grant", "invalid_client", "unauthorized_client"})
# Only answers that say the request was not processed: a 500, 502 or 504 may come after the
# backend rotated the token, and resending it then would be a replay.
RETRY_STATUSES = frozenset({408, 429, 503})
MAX_ATTEMPTS = 4
FIREWALL_TRIES = 2
BACKOFF_BASE = 0.5
PER_ATTEMPT_CAP = 10.0


class Endpoint:
    """Where and how to send the refresh_token grant (profile data plus overrides)."""

    __slots__ = (
        "body",
        "client_auth",
        "client_id",
        "client_secret",
        "extra_body",
        "headers",
        "request",
        "response",
        "url",
    )

    def __init__(
        self,
        url: str,
        client_id: str | None,
        *,
        client_secret: str | None = None,
        body: str = "json",
        client_auth: str = "body",
        request: Mapping[str, str] | None = None,
        response: Mapping[str, str] | None = None,
        extra_body: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self.url = url
        self.client_id = client_id
        self.client_secret = client_secret
        self.body = body
        self.client_auth = client_auth
        self.request = dict(request or STANDARD_REQUEST)
        self.response = {**STANDARD_RESPONSE, **(response or {})}
        self.extra_body = dict(extra_body or {})
        self.headers = {"Accept": "application/json", **(headers or {})}

    def fields(self, refresh_token: str) -> dict[str, str]:
        """The request body: the profile's template filled in; empty values left out."""
        values = {
            "$refresh_token": refresh_token,
            "$client_id": self.client_id or "",
            "$client_secret": self.client_secret or "",
        }
        out: dict[str, str] = {}
        for name, template in self.request.items():
            value = values.get(template, template)
            if value:
                out[name] = value
        if (
            self.client_auth == "body"
            and self.client_secret
            and "$client_secret" not in (self.request.values())
        ):
            out["client_secret"] = self.client_secret
        if self.client_auth == "basic":
            out.pop("client_id", None)
        out.update(self.extra_body)
        return out


class TokenResponse:
    __slots__ = ("access_token", "body", "expires_in", "id_token", "refresh_token")

    def __init__(
        self,
        access_token: str,
        refresh_token: str | None,
        expires_in: float | None,
        *,
        id_token: str | None = None,
        body: dict[str, Any] | None = None,
    ) -> None:
        self.access_token = access_token
        self.refresh_token = refresh_token
        self.expires_in = expires_in
        self.id_token = id_token
        # The whole answer, for fields a profile copies (resource_url); never printed.
        self.body = body or {}

    def __repr__(self) -> str:
        return f"TokenResponse(expires_in={self.expires_in!r}, rotated={bool(self.refresh_token)})"


def check_url(url: str) -> None:
    """Refuse a token URL that would send a refresh token in the clear (loopback excepted)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.scheme == "https" and host:
        return
    if parts.scheme == "http" and _is_loopback(host):
        return
    raise UsageError(
        f"refusing token URL {url!r}: it must be https:// (http:// only for a loopback host); "
        "check --token-url / WRAP_TOKEN_URL"
    )


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def refresh(
    client: httpx.Client,
    endpoint: Endpoint,
    refresh_token: str,
    *,
    budget: float,
    on_refresh_token: Callable[[str], None],
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
    jitter: Callable[[], float] = random.random,
) -> TokenResponse:
    """Run the grant, retrying only what cannot have rotated the token, within BUDGET seconds.

    ON_REFRESH_TOKEN is called with any new refresh token the server sends, before anything
    else is checked, so that it reaches the disk even when the rest of the answer is unusable.
    """
    check_url(endpoint.url)
    deadline = clock() + budget
    attempt = 0
    refusals = 0
    while True:
        remaining = deadline - clock()
        if remaining <= 0:
            raise RefreshError(
                f"no answer from {endpoint.url} within {_secs(budget)} s",
                retryable=False,
                sent=False,
            )
        try:
            return _once(
                client, endpoint, refresh_token, min(remaining, PER_ATTEMPT_CAP), on_refresh_token
            )
        except RefreshError as e:
            attempt += 1
            refusals += e.firewall
            # A firewall that refused once gets one more try, no more: asking again and again
            # is what gets a client blocked for longer.
            if not e.retryable or attempt >= MAX_ATTEMPTS or refusals >= FIREWALL_TRIES:
                raise
            if e.retry_after is not None:
                delay = e.retry_after
            else:
                # Full jitter, so that many waiting launches do not retry in lock step.
                delay = BACKOFF_BASE * (2 ** (attempt - 1)) * (0.5 + jitter() / 2)
            if clock() + delay >= deadline:
                raise RefreshError(
                    f"{e} (gave up: the next retry would pass the "
                    f"{_secs(budget)} s refresh timeout)",
                    retryable=False,
                    sent=e.sent,
                    status=e.status,
                    firewall=e.firewall,
                ) from e
            sleep(delay)


def exchange_code(
    client: httpx.Client,
    endpoint: Endpoint,
    *,
    code: str,
    redirect_uri: str,
    verifier: str,
    timeout: float,
) -> TokenResponse:
    """The authorization_code grant with the PKCE verifier (RFC 6749 4.1.3, RFC 7636)."""
    check_url(endpoint.url)
    fields = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": redirect_uri,
        "code_verifier": verifier,
    }
    auth: tuple[str | bytes, str | bytes] | None = None
    if endpoint.client_auth == "basic":
        auth = (endpoint.client_id or "", endpoint.client_secret or "")
    else:
        if endpoint.client_id:
            fields["client_id"] = endpoint.client_id
        if endpoint.client_secret:
            fields["client_secret"] = endpoint.client_secret
    try:
        response = client.post(
            endpoint.url,
            data=fields,
            headers={"Accept": "application/json"},
            timeout=httpx.Timeout(timeout, connect=min(timeout, 5.0)),
            auth=auth if auth is not None else httpx.USE_CLIENT_DEFAULT,
        )
    except httpx.HTTPError as e:
        raise RefreshError(f"code exchange at {endpoint.url} failed: {_describe(e)}") from e
    return _interpret(response, endpoint.url, endpoint.response, lambda token: None)


def _once(
    client: httpx.Client,
    endpoint: Endpoint,
    refresh_token: str,
    timeout: float,
    on_refresh_token: Callable[[str], None],
) -> TokenResponse:
    fields = endpoint.fields(refresh_token)
    auth: tuple[str | bytes, str | bytes] | None = None
    if endpoint.client_auth == "basic":
        auth = (endpoint.client_id or "", endpoint.client_secret or "")
    kwargs: dict[str, Any] = {"json": fields} if endpoint.body == "json" else {"data": fields}
    url = endpoint.url
    try:
        response = client.post(
            url,
            headers=endpoint.headers,
            timeout=httpx.Timeout(timeout, connect=min(timeout, 5.0)),
            auth=auth if auth is not None else httpx.USE_CLIENT_DEFAULT,
            **kwargs,
        )
    except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as e:
        raise RefreshError(
            f"cannot connect to {url}: {_describe(e)}", retryable=True, sent=False
        ) from e
    except httpx.TimeoutException as e:
        raise RefreshError(
            f"{url} did not answer within {_secs(timeout)} s after the request was sent", sent=True
        ) from e
    except httpx.HTTPError as e:
        raise RefreshError(f"request to {url} failed: {_describe(e)}", sent=True) from e
    return _interpret(response, url, endpoint.response, on_refresh_token)


def _interpret(
    response: httpx.Response,
    url: str,
    names: Mapping[str, str],
    on_refresh_token: Callable[[str], None],
) -> TokenResponse:
    status = response.status_code
    try:
        body = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        body = {}
    redact.add(*(body.get(names[k]) for k in ("access_token", "refresh_token", "id_token")))
    new_refresh = body.get(names["refresh_token"])
    if isinstance(new_refresh, str) and new_refresh:
        on_refresh_token(new_refresh)
    else:
        new_refresh = None

    if _refused_by_firewall(status, body, response):
        # Not the token endpoint's answer: the request never reached it, nothing rotated.
        raise RefreshError(
            f"{url} refused the request with HTTP {status} before the token endpoint saw it "
            "(a firewall or CDN answer, not an OAuth error)",
            retryable=True,
            status=status,
            firewall=True,
            sent=False,
        )
    if status in RETRY_STATUSES:
        raise RefreshError(
            f"{url} answered HTTP {status}{_oauth_error(body)}",
            retryable=True,
            retry_after=_retry_after(response.headers.get("Retry-After")),
            status=status,
        )
    error = body.get("error")
    if status >= 400 or error:
        rejected = error in REJECTED
        raise RefreshError(
            f"{url} answered HTTP {status}{_oauth_error(body)}", rejected=rejected, status=status
        )
    if not response.content or not body:
        raise RefreshError(
            f"{url} answered HTTP {status} with a body that is not a JSON object", status=status
        )
    access = body.get(names["access_token"])
    if not isinstance(access, str) or not access:
        raise RefreshError(
            f"{url} answered without an access token ({names['access_token']})", status=status
        )
    id_token = body.get(names["id_token"])
    return TokenResponse(
        access,
        new_refresh,
        _seconds(body.get(names["expires_in"])),
        id_token=id_token if isinstance(id_token, str) and id_token else None,
        body=body,
    )


# Answers that name a challenge or a block by the CDN in front of the endpoint.
FIREWALL_HEADERS = ("cf-mitigated",)


def _refused_by_firewall(status: int, body: dict[str, Any], response: httpx.Response) -> bool:
    """A refusal that is not an OAuth answer: a challenge header, or a 403/429 (or another
    4xx, 408 aside) whose body is not an OAuth error object (HTML, empty, anything else)."""
    if any(h in response.headers for h in FIREWALL_HEADERS):
        return True
    if status < 400 or status >= 500 or status == 408:
        return False
    return not isinstance(body.get("error"), str)


def _oauth_error(body: dict[str, Any]) -> str:
    error = body.get("error")
    if not isinstance(error, str):
        return ""
    desc = body.get("error_description")
    return f" ({error}: {desc})" if isinstance(desc, str) and desc else f" ({error})"


def _seconds(value: object) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value) if value > 0 else None
    if isinstance(value, str):
        try:
            number = float(value)
        except ValueError:
            return None
        return number if number > 0 else None
    return None


def _retry_after(header: str | None) -> float | None:
    if not header:
        return None
    try:
        return max(0.0, float(header))
    except ValueError:
        pass
    from email.utils import parsedate_to_datetime

    try:
        when = parsedate_to_datetime(header)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def _describe(e: Exception) -> str:
    text = str(e)
    return text if text else type(e).__name__


def _secs(value: float) -> str:
    return f"{value:.1f}".removesuffix(".0")
