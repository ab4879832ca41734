#!/usr/bin/env python3
"""A small OAuth token endpoint on 127.0.0.1 for tests, the demo and the stress script.

It behaves like the real ones where it matters to wrap: refresh tokens rotate on every use, a
reused one is rejected with invalid_grant and revokes its whole family, and faults can be
injected (HTTP 500, 429 with Retry-After, slow answers, bodies that are not JSON, ...).

As a script: `python scripts/token_server.py [--expires-in S]` prints `READY <url>` and serves
until interrupted; the first refresh token it accepts is whatever it is sent first (`--seed`).
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import itertools
import json
import sys
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self
from urllib.parse import parse_qsl


class LoopbackServer:
    """A threaded HTTP server on 127.0.0.1 (a free port), served from a daemon thread while
    inside `with`."""

    def __init__(self, handler: type[BaseHTTPRequestHandler]) -> None:
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def origin(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host!s}:{port}"

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)


class TokenServer(LoopbackServer):
    """Start with `with TokenServer() as server:`; `server.url` is the token endpoint."""

    def __init__(self, *, expires_in: int = 28800, rotate: bool = True, jwt: bool = False) -> None:
        self.expires_in = expires_in
        self.rotate = rotate
        # Issue JWT-shaped access and id tokens carrying exp and email (as Codex's server does).
        self.jwt = jwt
        # Extra fields every successful answer carries (Qwen's resource_url, ...).
        self.extra: dict[str, Any] = {}
        self.lock = threading.Lock()
        self.requests: list[dict[str, Any]] = []
        # Per request: its headers (lower-case names) and the body's field names in order.
        self.headers: list[dict[str, str]] = []
        self.orders: list[list[str]] = []
        self.valid: set[str] = set()
        self.used: set[str] = set()
        # Requests that sent a spent (or unknown) refresh token: each one revoked the family.
        self.reused = 0
        self.accept_any = True  # until a token is issued, accept the caller's first one
        # Faults, consumed one per request from the front; "ok" answers normally.
        self.faults: list[str] = []
        self.retry_after = "1"
        self.delay = 0.0
        # Called on every request before it is answered (tests use it to look at the disk).
        self.on_request: Callable[[], None] | None = None
        self._counter = itertools.count(1)
        self.issued_access: list[str] = []
        self.issued_refresh: list[str] = []
        # Every refresh token received, in order, and those refused as spent or unknown: a
        # token that shows up twice in `received` was replayed.
        self.received: list[str] = []
        self.refused: list[str] = []
        # Authorization codes a login may exchange, each once (the authorization_code grant).
        self.codes: set[str] = set()
        # Per request: the path it was sent to, the status it got, and which refresh token it
        # sent, as its place in the chain (0: the seed, n: the nth issued, -1: none or
        # unknown), never the value. A soak gives each actor its own path
        # (/token/<machine>/<actor>) to count requests and rotations by whom.
        self.answers: list[tuple[str, int, int]] = []
        # Replays that killed a live family (later ones find it dead already).
        self.revocations = 0
        # The access tokens of the live family and when each expires (epoch seconds): what a
        # model endpoint accepts (access_ok). A revocation ends them all.
        self.access_expiry: dict[str, float] = {}
        # The request being answered on this thread: `current.path` (for on_request hooks).
        self.current = threading.local()
        super().__init__(self._handler())

    @property
    def url(self) -> str:
        return f"{self.origin}/token"

    def seed(self, refresh_token: str) -> None:
        with self.lock:
            self.valid.add(refresh_token)
            self.accept_any = False

    def access_ok(self, token: str, now: float) -> bool:
        """Whether a resource server would take TOKEN at NOW: issued here, unexpired, of a
        family not revoked since."""
        with self.lock:
            return self.access_expiry.get(token, 0.0) > now

    def _place(self, token: Any) -> int:
        """TOKEN's place in the chain (see `answers`); the caller holds the lock."""
        if token in self.issued_refresh:
            return self.issued_refresh.index(token) + 1
        return 0 if token in self.used or token in self.valid else -1

    @property
    def refresh_requests(self) -> int:
        return len(self.requests)

    @property
    def newest_refresh(self) -> str | None:
        """The refresh token the server would accept now, if any (None once the family died)."""
        with self.lock:
            live = [t for t in self.issued_refresh if t in self.valid]
            return live[-1] if live else None

    @property
    def replayed(self) -> list[str]:
        """Refresh tokens received more than once."""
        with self.lock:
            return sorted({t for t in self.received if self.received.count(t) > 1})

    def _answer(self, fields: dict[str, Any]) -> tuple[int, dict[str, str], bytes]:
        with self.lock:
            self.headers.append(fields.pop("_headers", {}))
            self.orders.append(fields.pop("_order", []))
            self.requests.append(
                {k: v for k, v in fields.items() if k not in ("refresh_token", "refreshToken")}
            )
            fault = self.faults.pop(0) if self.faults else "ok"
        if self.on_request is not None:
            self.on_request()
        if self.delay:
            time.sleep(self.delay)
        if fault == "500":
            return 500, {}, b'{"error":"server_error"}'
        if fault == "503-text":
            return 503, {}, b"<html>maintenance</html>"
        if fault == "429":
            return 429, {"Retry-After": self.retry_after}, b'{"error":"rate_limited"}'
        if fault == "invalid_grant":
            return 400, {}, b'{"error":"invalid_grant","error_description":"Refresh token revoked"}'
        # A CDN in front of the endpoint refusing the client: no OAuth answer at all.
        if fault == "403-html":
            return 403, {"Content-Type": "text/html"}, b"<html>Access denied</html>"
        if fault == "429-empty":
            return 429, {"Content-Type": "text/plain"}, b""
        if fault == "challenge":
            headers = {"Content-Type": "text/html", "cf-mitigated": "challenge"}
            return 403, headers, b"<html>Just a moment...</html>"
        if fault == "not_json":
            return 200, {}, b"<html>oops</html>"
        if fault.startswith("error:"):  # any OAuth error code, as a 400 (RFC 6749 5.2)
            return 400, {}, json.dumps({"error": fault.removeprefix("error:")}).encode()
        if fault.startswith("status:"):  # any status, with a body that says nothing more
            return int(fault.removeprefix("status:")), {}, b"{}"
        if fault == "hang":
            time.sleep(30)
        gateway = fault in ("502", "504")  # the backend rotates; the gateway loses the answer
        if fault == "echo_token":
            # Some servers quote the token they refuse; this one adds a terminal escape too.
            sent = fields.get("refreshToken") or fields.get("refresh_token") or fields.get("code")
            desc = f"refresh token {sent} is not valid\x1b]0;owned\x07\x1b[2J"
            body = {"error": "invalid_grant", "error_description": desc}
            return 400, {}, json.dumps(body).encode()
        if fault == "echo_new":
            # A new refresh token in an error answer, quoted in its description as well.
            new = "echoed-new-refresh-token"
            body = {"error": "temporarily_unavailable", "refresh_token": new}
            body["error_description"] = f"issued {new}, but try again later"
            return 400, {}, json.dumps(body).encode()
        # Kiro's endpoints speak camelCase: {refreshToken} (social) or {grantType, ...} (IdC).
        camel = "refreshToken" in fields
        grant = fields.get("grantType", "refresh_token") if camel else fields.get("grant_type")
        if grant == "authorization_code" and not camel:
            return self._login(fields)
        if grant != "refresh_token":
            return 400, {}, b'{"error":"unsupported_grant_type"}'
        token = fields.get("refreshToken" if camel else "refresh_token")
        with self.lock:
            if isinstance(token, str):
                self.received.append(token)
            if not isinstance(token, str) or not (self.accept_any or token in self.valid):
                if isinstance(token, str):
                    self.refused.append(token)
                # A replayed token kills the family, as real providers do.
                self.reused += 1
                if self.valid:
                    self.revocations += 1
                self.valid.clear()
                self.access_expiry.clear()
                return (
                    400,
                    {},
                    json.dumps(
                        {"error": "invalid_grant", "error_description": "refresh token reused"}
                    ).encode(),
                )
            self.accept_any = False
            n = next(self._counter)
            access = f"test-access-{n}"
            if self.jwt:
                access = _jwt({"exp": int(time.time()) + self.expires_in, "n": n})
            self.issued_access.append(access)
            self.access_expiry[access] = time.time() + self.expires_in
            body: dict[str, Any] = {"token_type": "Bearer", "expires_in": self.expires_in}
            if self.jwt:
                del body["expires_in"]
                body["id_token"] = _jwt({"email": "rotated@example.com"})
            body.update(self.extra)
            if fault == "no_expires_in":  # RFC 6749 makes it optional
                del body["expires_in"]
            if fault != "no_access_token":
                body["access_token"] = access
            if self.rotate:
                self.valid.discard(token)
                self.used.add(token)
                new = f"test-refresh-{n}"
                self.valid.add(new)
                self.issued_refresh.append(new)
                body["refresh_token"] = new
            else:
                self.valid.add(token)
        if gateway:
            return int(fault), {"Content-Type": "text/html"}, b"<html>Bad Gateway</html>"
        if camel:
            renames = {
                "access_token": "accessToken",
                "refresh_token": "refreshToken",
                "expires_in": "expiresIn",
                "token_type": "tokenType",
            }
            body = {renames.get(k, k): v for k, v in body.items()}
        return 200, {}, json.dumps(body).encode()

    def _login(self, fields: dict[str, Any]) -> tuple[int, dict[str, str], bytes]:
        """A login's code exchange: a known code, once, starts a new refresh token family."""
        with self.lock:
            code = fields.get("code")
            if code not in self.codes:
                return 400, {}, b'{"error":"invalid_grant","error_description":"Invalid code"}'
            self.codes.discard(code)
            n = next(self._counter)
            access, new = f"test-access-{n}", f"test-refresh-{n}"
            self.issued_access.append(access)
            self.access_expiry[access] = time.time() + self.expires_in
            self.issued_refresh.append(new)
            self.valid.add(new)
            self.accept_any = False
        body = {"token_type": "Bearer", "expires_in": self.expires_in, **self.extra}
        body.update(access_token=access, refresh_token=new)
        return 200, {}, json.dumps(body).encode()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                ctype = self.headers.get("Content-Type", "")
                try:
                    fields = json.loads(raw) if "json" in ctype else dict(parse_qsl(raw.decode()))
                    if not isinstance(fields, dict):
                        raise ValueError
                except ValueError:
                    fields = {}
                fields["_content_type"] = ctype.split(";")[0]
                fields["_headers"] = {k.lower(): v for k, v in self.headers.items()}
                fields["_order"] = list(fields)[:-2]
                if self.headers.get("Authorization"):
                    fields["_authorization"] = "present"
                server.current.path = self.path
                status, headers, body = server._answer(fields)
                sent = fields.get("refresh_token", fields.get("refreshToken"))
                with server.lock:
                    server.answers.append((self.path, status, server._place(sent)))
                self.send_response(status)
                if "Content-Type" not in headers:
                    self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                for k, v in headers.items():
                    self.send_header(k, v)
                self.end_headers()
                # A client that went away before its answer (killed mid-request) is no error here.
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                    self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                pass

        return Handler


def _jwt(claims: dict[str, Any]) -> str:
    """A JWT with three non-empty segments (codex refuses `header.payload.`); never verified."""

    def part(raw: bytes) -> str:
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

    header = json.dumps({"alg": "HS256", "typ": "JWT"}).encode()
    return f"{part(header)}.{part(json.dumps(claims).encode())}.{part(b'not-a-real-signature')}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--expires-in", type=int, default=28800)
    args = parser.parse_args()
    with TokenServer(expires_in=args.expires_in) as server:
        print(f"READY {server.url}", flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            threading.Event().wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())
