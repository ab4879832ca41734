#!/usr/bin/env python3
"""A TLS-terminating HTTPS proxy on 127.0.0.1 that lets the real vendor CLIs refresh offline.

A CLI given `HTTPS_PROXY=http://127.0.0.1:PORT` and the throw-away CA (`NODE_EXTRA_CA_CERTS` for
Claude Code, `SSL_CERT_FILE`/`CODEX_CA_CERTIFICATE` for codex) sends `CONNECT host:443`; the proxy
answers 200, terminates TLS with a leaf certificate for that host signed by the CA, and reads
the HTTP/1.1 requests inside. It never connects out: token requests (TOKEN_PATHS) are forwarded
to a local token server (scripts/token_server.py) over loopback http, everything else gets a
canned answer (CANNED) or a 404. Every request is recorded (method, host, path, headers in
the order and case sent, raw and parsed body) so that another program's requests can be
compared with the CLI's header by header.

As a script: `python scripts/tls_proxy.py TOKEN_URL` prints `READY <proxy url> <ca file>` and
serves until interrupted, logging each request as one JSON line on stdout.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import http.client
import ipaddress
import json
import socket
import ssl
import sys
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from token_server import LoopbackServer

# (host, path) of the refresh endpoints the CLIs call: forwarded to the token server.
TOKEN_PATHS = {
    ("platform.claude.com", "/v1/oauth/token"),  # Claude Code 2.1.x
    ("console.anthropic.com", "/v1/oauth/token"),  # older Claude Code
    ("auth.openai.com", "/oauth/token"),  # codex
    ("oauth2.googleapis.com", "/token"),  # gemini-cli (google-auth-library)
}


@dataclass
class Answer:
    status: int
    body: bytes = b""
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)


def _json(status: int, obj: Any) -> Answer:
    return Answer(status, json.dumps(obj).encode())


def _sse(events: list[dict[str, Any]]) -> Answer:
    body = "".join(f"event: {e['type']}\ndata: {json.dumps(e)}\n\n" for e in events)
    return Answer(200, body.encode(), "text/event-stream")


# The host codex's model requests go to in the tests: a provider set in config.toml
# (CODEX_CONFIG), so that codex skips the ChatGPT backend's workspace routing, which an offline
# answer cannot satisfy (it retries for ~14 s), while still using and refreshing the ChatGPT login.
CODEX_MODEL_HOST = "model.offline.test"
CODEX_CONFIG = f"""\
model_provider = "offline"

[model_providers.offline]
name = "offline"
base_url = "https://{CODEX_MODEL_HOST}/v1"
wire_api = "responses"
requires_openai_auth = true
request_max_retries = 0
stream_max_retries = 0
"""


def _claude_message(request: Request) -> Answer:
    """A one-word answer from the Messages API, streamed as Claude Code asks for it."""
    message = {
        "id": "msg_offline",
        "type": "message",
        "role": "assistant",
        "model": (request.fields or {}).get("model", "claude"),
        "content": [],
        "stop_reason": None,
        "stop_sequence": None,
        "usage": {"input_tokens": 1, "output_tokens": 0},
    }
    if not (request.fields or {}).get("stream"):
        done = {**message, "content": [{"type": "text", "text": "ok"}], "stop_reason": "end_turn"}
        return _json(200, done)
    return _sse(
        [
            {"type": "message_start", "message": message},
            {
                "type": "content_block_start",
                "index": 0,
                "content_block": {"type": "text", "text": ""},
            },
            {
                "type": "content_block_delta",
                "index": 0,
                "delta": {"type": "text_delta", "text": "ok"},
            },
            {"type": "content_block_stop", "index": 0},
            {
                "type": "message_delta",
                "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                "usage": {"output_tokens": 1},
            },
            {"type": "message_stop"},
        ]
    )


def _codex_response(request: Request) -> Answer:
    """A one-word answer from the Responses API, as a server-sent event stream."""
    usage = {
        "input_tokens": 1,
        "input_tokens_details": None,
        "output_tokens": 1,
        "output_tokens_details": None,
        "total_tokens": 2,
    }
    return _sse(
        [
            {"type": "response.created", "response": {"id": "resp_offline"}},
            {
                "type": "response.output_item.done",
                "item": {
                    "type": "message",
                    "role": "assistant",
                    "id": "msg_offline",
                    "content": [{"type": "output_text", "text": "ok"}],
                },
            },
            {"type": "response.completed", "response": {"id": "resp_offline", "usage": usage}},
        ]
    )


# What the CLIs call besides the token endpoint, as seen with Claude Code 2.1.197/2.1.330 and
# codex 0.169.0 (see tests/realcli/README.md): (host, path, answer); the first match wins, a
# path ending in "*" is a prefix. Anything else (profile, MCP servers, telemetry, plugins, the
# ChatGPT backend) is answered 404, which none of them stops on.
def _tokeninfo(request: Request) -> Answer:
    """Google's tokeninfo for the access token asked about: gemini-cli 0.61 checks its cached
    login with it (offline, a good and a missing file would both end in exit 41)."""
    return _json(
        200,
        {
            "azp": GEMINI_CLIENT_ID,
            "aud": GEMINI_CLIENT_ID,
            "scope": "https://www.googleapis.com/auth/cloud-platform openid",
            "expires_in": "3599",
            "email": "tester@example.com",
            "email_verified": "true",
            "access_type": "offline",
        },
    )


GEMINI_CLIENT_ID = "681255809395-oo8ft2oprdrnp9e3aqf6av3hmdib135j.apps.googleusercontent.com"

CANNED: list[tuple[str, str, Callable[[Request], Answer]]] = [
    ("api.anthropic.com", "/v1/messages", _claude_message),
    (CODEX_MODEL_HOST, "/v1/responses", _codex_response),
    ("oauth2.googleapis.com", "/tokeninfo*", _tokeninfo),
    ("www.googleapis.com", "/oauth2/v3/tokeninfo*", _tokeninfo),
]


@dataclass
class Request:
    method: str
    host: str
    path: str
    headers: list[tuple[str, str]]
    body: bytes
    status: int = 0

    def header(self, name: str) -> str | None:
        for k, v in self.headers:
            if k.lower() == name.lower():
                return v
        return None

    @property
    def fields(self) -> dict[str, Any] | None:
        """The body parsed as JSON or as a form, whichever its Content-Type says."""
        ctype = (self.header("Content-Type") or "").split(";")[0].strip()
        try:
            if "json" in ctype:
                doc = json.loads(self.body)
                return doc if isinstance(doc, dict) else None
            if ctype == "application/x-www-form-urlencoded":
                return dict(parse_qsl(self.body.decode()))
        except ValueError:
            return None
        return None

    @property
    def route(self) -> str:
        return self.path.split("?")[0]

    def as_dict(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "host": self.host,
            "path": self.path,
            "headers": self.headers,
            "body": self.fields if self.fields is not None else self.body.decode(errors="replace"),
            "status": self.status,
        }


class CertificateAuthority:
    """A throw-away CA in DIRECTORY (ca.pem) that signs a leaf for each host on demand."""

    def __init__(self, directory: Path) -> None:
        self.key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "wrap test proxy CA")])
        now = datetime.datetime.now(datetime.UTC)
        self.name = name
        self.cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(self.key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=7))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    key_cert_sign=True,
                    crl_sign=True,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(
                x509.SubjectKeyIdentifier.from_public_key(self.key.public_key()), critical=False
            )
            .sign(self.key, hashes.SHA256())
        )
        self.directory = directory
        self.path = directory / "ca.pem"
        self.path.write_bytes(self.cert.public_bytes(serialization.Encoding.PEM))
        self._contexts: dict[str, ssl.SSLContext] = {}
        self._lock = threading.Lock()

    def context(self, host: str) -> ssl.SSLContext:
        with self._lock:
            ctx = self._contexts.get(host)
            if ctx is None:
                ctx = self._contexts[host] = self._leaf_context(host)
            return ctx

    def _leaf_context(self, host: str) -> ssl.SSLContext:
        key = ec.generate_private_key(ec.SECP256R1())
        now = datetime.datetime.now(datetime.UTC)
        try:
            alt: x509.GeneralName = x509.IPAddress(ipaddress.ip_address(host))
        except ValueError:
            alt = x509.DNSName(host)
        cert = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host)]))
            .issuer_name(self.name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=7))
            .add_extension(x509.SubjectAlternativeName([alt]), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(self.key.public_key()),
                critical=False,
            )
            .sign(self.key, hashes.SHA256())
        )
        safe = "".join(c if c.isalnum() or c in ".-" else "_" for c in host)
        cert_path = self.directory / f"{safe}.pem"
        key_path = self.directory / f"{safe}.key"
        cert_path.write_bytes(
            cert.public_bytes(serialization.Encoding.PEM)
            + self.cert.public_bytes(serialization.Encoding.PEM)
        )
        key_path.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
        key_path.chmod(0o600)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(cert_path, key_path)
        ctx.set_alpn_protocols(["http/1.1"])  # no h2: the recorder reads HTTP/1.1 only
        return ctx


class TLSProxy(LoopbackServer):
    """`with TLSProxy(token_url) as proxy:`; `proxy.env()` is what a CLI needs to use it."""

    def __init__(
        self,
        token_url: str,
        *,
        directory: Path | None = None,
        on_request: Callable[[Request], None] | None = None,
    ) -> None:
        self.token_url = token_url
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        if directory is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="wrap-tls-proxy-")
            directory = Path(self._tmp.name)
        self.ca = CertificateAuthority(directory)
        self.requests: list[Request] = []
        self.refused_handshakes: list[str] = []
        self.canned = list(CANNED)
        # Called with each request once it is read, before it is answered.
        self.on_request = on_request
        self.lock = threading.Lock()
        super().__init__(self._handler())

    @property
    def url(self) -> str:
        return self.origin

    @property
    def ca_path(self) -> str:
        return str(self.ca.path)

    def env(self) -> dict[str, str]:
        """The environment variables that send a CLI's HTTPS through this proxy."""
        return {
            "HTTPS_PROXY": self.url,
            "https_proxy": self.url,
            # Loopback stays direct: wrap (httpx honours these too) talks to the token server.
            "NO_PROXY": "127.0.0.1,localhost",
            "no_proxy": "127.0.0.1,localhost",
            "NODE_EXTRA_CA_CERTS": self.ca_path,  # Node (Claude Code): added to its roots
            "SSL_CERT_FILE": self.ca_path,  # OpenSSL, rustls-native-certs, httpx
            "CODEX_CA_CERTIFICATE": self.ca_path,  # codex's own override
        }

    def __exit__(self, *exc: object) -> None:
        super().__exit__(*exc)
        if self._tmp is not None:
            self._tmp.cleanup()

    def matching(self, host: str | None = None, path: str | None = None) -> list[Request]:
        with self.lock:
            return [
                r
                for r in self.requests
                if (host is None or r.host == host) and (path is None or r.route == path)
            ]

    def token_requests(self) -> list[Request]:
        with self.lock:
            return [r for r in self.requests if (r.host, r.route) in TOKEN_PATHS]

    def _answer(self, request: Request) -> Answer:
        if (request.host, request.route) in TOKEN_PATHS:
            return self._forward(request)
        for host, pattern, make in self.canned:
            if host != request.host:
                continue
            if pattern.endswith("*"):
                if request.route.startswith(pattern[:-1]):
                    return make(request)
            elif request.route == pattern:
                return make(request)
        return _json(404, {"error": "not_found", "proxy": "wrap offline test proxy"})

    def _forward(self, request: Request) -> Answer:
        """The token request, as sent, to the token server over loopback http."""
        target = urlsplit(self.token_url)
        conn = http.client.HTTPConnection(target.hostname or "127.0.0.1", target.port, timeout=60)
        try:
            headers = {
                "Content-Type": request.header("Content-Type") or "application/json",
                "Content-Length": str(len(request.body)),
            }
            auth = request.header("Authorization")
            if auth:
                headers["Authorization"] = auth
            conn.request("POST", target.path or "/", body=request.body, headers=headers)
            response = conn.getresponse()
            body = response.read()
            extra = {
                k: v
                for k, v in response.getheaders()
                if k.lower() in ("retry-after", "www-authenticate")
            }
            return Answer(
                response.status,
                body,
                response.getheader("Content-Type") or "application/json",
                extra,
            )
        finally:
            conn.close()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            tunnel_host: str | None = None

            def do_CONNECT(self) -> None:
                host, _, _port = self.path.rpartition(":")
                host = host.strip("[]")
                self.send_response(200, "Connection Established")
                self.end_headers()
                self.wfile.flush()
                # The TLS socket takes over the connection's descriptor: it, not the detached
                # plain socket, must be closed when the handshake fails.
                conn = proxy.ca.context(host).wrap_socket(
                    self.connection, server_side=True, do_handshake_on_connect=False
                )
                try:
                    conn.do_handshake()
                except ssl.SSLError as e:
                    # The client refused our certificate (a CA it was not given), or spoke no TLS.
                    conn.close()
                    with proxy.lock:
                        proxy.refused_handshakes.append(f"{host}: {e}")
                    self.close_connection = True
                    return
                except OSError:
                    conn.close()
                    self.close_connection = True  # the client went away (exiting)
                    return
                self.connection = conn
                self.rfile = conn.makefile("rb", -1)
                self.wfile = conn.makefile("wb", 0)
                self.tunnel_host = host
                self.close_connection = False

            def _serve(self) -> None:
                body = self._read_body()
                if self.tunnel_host is not None:
                    host, path = self.tunnel_host, self.path
                else:
                    # A plain-http proxy request (absolute URI): recorded, answered, never sent.
                    parts = urlsplit(self.path)
                    host = parts.hostname or ""
                    path = parts.path + (f"?{parts.query}" if parts.query else "")
                request = Request(self.command, host, path, list(self.headers.items()), body)
                if proxy.on_request is not None:
                    proxy.on_request(request)
                try:
                    answer = proxy._answer(request)
                except OSError as e:
                    answer = _json(502, {"error": "token server unreachable", "detail": str(e)})
                request.status = answer.status
                with proxy.lock:
                    proxy.requests.append(request)
                self.send_response(answer.status)
                self.send_header("Content-Type", answer.content_type)
                self.send_header("Content-Length", str(len(answer.body)))
                for k, v in answer.headers.items():
                    self.send_header(k, v)
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(answer.body)

            def _read_body(self) -> bytes:
                if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
                    chunks: list[bytes] = []
                    while True:
                        size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                        if size == 0:
                            while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                                pass
                            return b"".join(chunks)
                        chunks.append(self.rfile.read(size))
                        self.rfile.readline()
                length = int(self.headers.get("Content-Length") or 0)
                return self.rfile.read(length) if length else b""

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _serve

            def handle_one_request(self) -> None:
                with contextlib.suppress(ConnectionError, ssl.SSLError, socket.timeout):
                    super().handle_one_request()
                    return
                self.close_connection = True

            def finish(self) -> None:
                with contextlib.suppress(OSError):
                    super().finish()
                if self.tunnel_host is not None:
                    # The TLS socket took over the accepted one's descriptor: close it here.
                    with contextlib.suppress(OSError):
                        self.connection.close()

            def log_message(self, format: str, *args: object) -> None:
                pass

        return Handler


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "token_url", help="where token requests go, e.g. http://127.0.0.1:PORT/token"
    )
    args = parser.parse_args()

    def show(request: Request) -> None:
        print(json.dumps(request.as_dict()), flush=True)

    with TLSProxy(args.token_url, on_request=show) as proxy:
        print(f"READY {proxy.url} {proxy.ca_path}", flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            threading.Event().wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())
