"""The OAuth refresh_token grant over httpx: one request, error classification, bounded retries.

Whatever a server answers (deep JSON, Infinity, objects where strings belong, terminal escapes)
ends in a TokenResponse or a RefreshError with one clean line, never another exception.
"""

from __future__ import annotations

import json
import random
import re
import time
from typing import TYPE_CHECKING, Any

from launcher import redact, urls
from launcher.errors import RefreshError, UsageError
from launcher.profiles import STANDARD_REQUEST, STANDARD_RESPONSE
from launcher.refresh import http

# httpx through launcher.refresh.http, which keeps httpx's CLI unimported
from launcher.refresh.http import httpx

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

# OAuth errors that mean the refresh token (or client) itself is refused: retrying cannot help.
REJECTED = frozenset({"invalid_grant", "invalid_client", "unauthorized_client"})
# Only answers that say the request was not processed: a 500, 502 or 504 may come after the
# backend rotated the token, and resending it then would be a replay.
RETRY_STATUSES = frozenset({408, 429, 503})
# The longest lifetime believed: beyond it, now + expires_in would pass year 9999, the latest
# expiry wrap reads back from a file (credentials._LATEST_EXPIRY).
MAX_EXPIRES_IN = 100 * 365 * 86400.0
# Server text quoted in a message: at most this many characters.
MAX_QUOTED = 200
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
    """launcher/urls.py's rule, and a URL that httpx itself can parse."""
    urls.check_url(url)
    try:
        httpx.URL(url)
    except (ValueError, httpx.InvalidURL) as e:
        raise UsageError(
            f"invalid token URL {clean(url)!r}: {e}; check --token-url / WRAP_TOKEN_URL"
        ) from None


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
    delivered: list[str] = []

    def saved(token: str) -> None:
        on_refresh_token(token)
        if token != refresh_token:
            delivered.append(token)

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
                client,
                endpoint,
                refresh_token,
                clock() + min(remaining, PER_ATTEMPT_CAP),
                clock,
                saved,
            )
        except RefreshError as e:
            if delivered:
                # The answer carried a new refresh token (saved above): the server rotated,
                # so the one this loop would resend is spent, and a replay revokes the family.
                raise RefreshError(
                    f"{e}; the answer carried a new refresh token, which is saved: wrap does "
                    "not send the old one again",
                    retryable=False,
                    sent=True,
                    status=e.status,
                    firewall=e.firewall,
                ) from e
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
        answer = http.post(
            client,
            endpoint.url,
            deadline=time.monotonic() + timeout,
            clock=time.monotonic,
            data=fields,
            headers={"Accept": "application/json"},
            auth=auth,
        )
    except (httpx.HTTPError, http.Failure) as e:
        raise RefreshError(f"code exchange at {endpoint.url} failed: {_describe(e)}") from e
    return _interpret(answer, endpoint.url, endpoint.response, lambda token: None)


def _once(
    client: httpx.Client,
    endpoint: Endpoint,
    refresh_token: str,
    deadline: float,
    clock: Callable[[], float],
    on_refresh_token: Callable[[str], None],
) -> TokenResponse:
    fields = endpoint.fields(refresh_token)
    auth: tuple[str | bytes, str | bytes] | None = None
    if endpoint.client_auth == "basic":
        auth = (endpoint.client_id or "", endpoint.client_secret or "")
    try:
        # A lone surrogate (valid JSON, not valid text) cannot go on the wire: say so, send nothing.
        for value in (*fields.values(), *(auth or ())):
            if isinstance(value, str):
                value.encode("utf-8")
    except UnicodeEncodeError:
        raise RefreshError(
            "the refresh request cannot be sent: a value in it (the refresh token, the client "
            "id or secret) is not valid Unicode text",
            sent=False,
        ) from None
    kwargs: dict[str, Any] = {"json": fields} if endpoint.body == "json" else {"data": fields}
    url = endpoint.url
    try:
        answer = http.post(
            client,
            url,
            deadline=deadline,
            clock=clock,
            headers=endpoint.headers,
            auth=auth,
            **kwargs,
        )
    except http.Failure as e:
        raise RefreshError(str(e), retryable=False, sent=e.sent) from e
    except (httpx.ConnectError, httpx.ConnectTimeout) as e:
        # No network, a name that does not resolve, a port nobody listens on: one attempt per
        # launch, then a cooldown (outcome.record_failure); retrying only makes it wait longer.
        raise RefreshError(
            f"cannot connect to {url}: {_describe(e)}", sent=False, unreachable=True
        ) from e
    except httpx.PoolTimeout as e:
        raise RefreshError(
            f"cannot connect to {url}: {_describe(e)}", retryable=True, sent=False
        ) from e
    except httpx.TimeoutException as e:
        raise RefreshError(
            f"{url} did not answer in time after the request was sent", sent=True
        ) from e
    except httpx.HTTPError as e:
        raise RefreshError(f"request to {url} failed: {_describe(e)}", sent=True) from e
    return _interpret(answer, url, endpoint.response, on_refresh_token)


def _interpret(
    answer: http.Answer,
    url: str,
    names: Mapping[str, str],
    on_refresh_token: Callable[[str], None],
) -> TokenResponse:
    status = answer.status
    body = _json_object(answer.body)
    redact.add(*(body.get(names[k]) for k in ("access_token", "refresh_token", "id_token")))
    new_refresh = body.get(names["refresh_token"])
    if isinstance(new_refresh, str) and new_refresh:
        on_refresh_token(new_refresh)
    else:
        new_refresh = None

    if _refused_by_firewall(status, body, answer.headers):
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
            retry_after=_retry_after(answer.headers.get("Retry-After")),
            status=status,
        )
    error = body.get("error")
    if status >= 400 or error is not None:
        raise RefreshError(
            f"{url} answered HTTP {status}{_oauth_error(body)}",
            rejected=isinstance(error, str) and error in REJECTED,
            status=status,
        )
    if not answer.body or not body:
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


def _json_object(data: bytes) -> dict[str, Any]:
    """DATA as a JSON object, or {} (not JSON, not an object, or nested past the parser)."""
    try:
        body = json.loads(data)
    except (ValueError, RecursionError):
        return {}
    return body if isinstance(body, dict) else {}


# Answers that name a challenge or a block by the CDN in front of the endpoint.
FIREWALL_HEADERS = ("cf-mitigated",)


def _refused_by_firewall(status: int, body: dict[str, Any], headers: httpx.Headers) -> bool:
    """A refusal that is not an OAuth answer: a challenge header, or a 403/429 (or another
    4xx, 408 aside) whose body is not an OAuth error object (HTML, empty, anything else)."""
    if any(h in headers for h in FIREWALL_HEADERS):
        return True
    if status < 400 or status >= 500 or status == 408:
        return False
    return not isinstance(body.get("error"), str)


def _oauth_error(body: dict[str, Any]) -> str:
    error = body.get("error")
    if isinstance(error, dict):
        # Some gateways nest it: {"error": {"code": ..., "message": ...}}.
        error = error.get("code") or error.get("type") or error.get("message")
    if not isinstance(error, str) or not clean(error):
        return ""
    desc = body.get("error_description")
    if isinstance(desc, str) and clean(desc):
        return f" ({clean(error)}: {clean(desc)})"
    return f" ({clean(error)})"


# CSI and OSC sequences first (their parameters are printable), then any other control or
# format character (C0, DEL, C1, bidi overrides, zero-width characters, line separators).
_ESCAPES = re.compile(
    r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?|\x9b[0-?]*[ -/]*[@-~]"
)
_CONTROLS = re.compile(
    r"[\x00-\x1f\x7f-\x9f\u00ad\u061c\u180e\u200b-\u200f\u2028-\u202e\u2060-\u206f\ufeff\ufff9-\ufffb]"
)


def clean(text: str, limit: int = MAX_QUOTED) -> str:
    """Server text made safe to print: no terminal escapes or control characters, one line,
    at most LIMIT characters: known token values are masked first, so that the cut cannot
    leave part of one no longer recognised."""
    text = redact.text(text)
    text = _CONTROLS.sub(" ", _ESCAPES.sub("", text))
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _seconds(value: object) -> float | None:
    """expires_in as seconds: a positive finite number (or numeric string), at most
    MAX_EXPIRES_IN; None when absent or unusable."""
    if isinstance(value, bool):
        return None
    number: float
    if isinstance(value, int):
        number = MAX_EXPIRES_IN if value > MAX_EXPIRES_IN else float(value)
    elif isinstance(value, float):
        number = value
    elif isinstance(value, str):
        try:
            number = float(value)
        except ValueError:
            return None
    else:
        return None
    if number != number or number <= 0:  # NaN, zero, negative
        return None
    return min(number, MAX_EXPIRES_IN)


def _retry_after(header: str | None) -> float | None:
    if not header:
        return None
    try:
        seconds = float(header)
    except ValueError:
        pass
    else:
        return max(0.0, seconds) if seconds == seconds else None
    from email.utils import parsedate_to_datetime

    try:
        when = parsedate_to_datetime(header)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def _describe(e: Exception) -> str:
    text = clean(str(e))
    return text if text else type(e).__name__


def _secs(value: float) -> str:
    return f"{value:.1f}".removesuffix(".0")
