"""A token endpoint on 127.0.0.1 that answers as a hostile or broken server would.

Each request is read whole (headers and a Content-Length body), recorded, and answered by a
script: a function that writes whatever bytes it likes to the socket, as slowly as it likes.
Every script stops by itself (bounded in bytes and time) or when the client goes away.
"""

from __future__ import annotations

import contextlib
import gzip
import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import parse_qsl

from launcher.refresh import grant, http

# No script runs longer than this, whatever it was asked to do.
MAX_SECONDS = 20.0
# A good answer.
OK = {"access_token": "new-access", "refresh_token": "new-refresh", "expires_in": 3600}


class Request:
    __slots__ = ("body", "fields", "headers", "line")

    def __init__(self, line: str, headers: dict[str, str], body: bytes) -> None:
        self.line = line
        self.headers = headers
        self.body = body
        try:
            fields = (
                json.loads(body)
                if "json" in headers.get("content-type", "")
                else dict(parse_qsl(body.decode()))
            )
        except ValueError:
            fields = {}
        self.fields: dict[str, Any] = fields if isinstance(fields, dict) else {}


Script = Callable[[socket.socket, Request], None]


class HostileServer:
    def __init__(self, script: Script) -> None:
        self.script = script
        self.requests: list[Request] = []
        self.connections = 0
        self.stopped = threading.Event()
        self._sock = socket.socket()
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(16)
        self._sock.settimeout(0.05)
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._lock = threading.Lock()

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self._sock.getsockname()[1]}"

    @property
    def url(self) -> str:
        return f"{self.origin}/token"

    def __enter__(self) -> HostileServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stopped.set()
        self._thread.join(timeout=5)
        self._sock.close()

    def _serve(self) -> None:
        while not self.stopped.is_set():
            try:
                conn, _ = self._sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with self._lock:
                self.connections += 1
            threading.Thread(target=self._handle, args=(conn,), daemon=True).start()

    def _handle(self, conn: socket.socket) -> None:
        with conn:
            conn.settimeout(5)
            try:
                request = _read_request(conn)
            except (OSError, ValueError):
                return
            if request is None:
                return
            with self._lock:
                self.requests.append(request)
            with contextlib.suppress(OSError):  # the client gave up: what a deadline is for
                self.script(conn, request)


def _read_request(conn: socket.socket) -> Request | None:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        if not chunk:
            return None
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    line, *lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for h in lines:
        name, _, value = h.partition(":")
        headers[name.strip().lower()] = value.strip()
    length = int(headers.get("content-length", "0"))
    while len(body) < length:
        chunk = conn.recv(65536)
        if not chunk:
            break
        body += chunk
    return Request(line, headers, body)


def response(
    status: int = 200,
    body: bytes | str | dict[str, Any] = b"",
    headers: dict[str, str] | None = None,
) -> bytes:
    """A whole HTTP/1.1 answer with a Content-Length (unless HEADERS sets its own framing)."""
    if isinstance(body, dict):
        body = json.dumps(body)
    if isinstance(body, str):
        body = body.encode()
    all_headers = {"Content-Type": "application/json", "Connection": "close"}
    all_headers.update(headers or {})
    if "Transfer-Encoding" not in all_headers and "Content-Length" not in all_headers:
        all_headers["Content-Length"] = str(len(body))
    lines = [f"HTTP/1.1 {status} X"] + [f"{k}: {v}" for k, v in all_headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def answer(data: bytes) -> Script:
    def script(conn: socket.socket, request: Request) -> None:
        conn.sendall(data)

    return script


def trickle(data: bytes, every: float) -> Script:
    """DATA one byte at a time, EVERY seconds apart: each read is quick, the whole is not."""

    def script(conn: socket.socket, request: Request) -> None:
        end = time.monotonic() + MAX_SECONDS
        for i in range(len(data)):
            if time.monotonic() > end:
                return
            conn.sendall(data[i : i + 1])
            time.sleep(every)

    return script


def endless(chunk: bytes = b" " * 65536) -> Script:
    """A 200 whose chunked body never ends (until the client hangs up, or the bounds)."""

    def script(conn: socket.socket, request: Request) -> None:
        conn.sendall(
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n"
        )
        frame = f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n"
        end = time.monotonic() + MAX_SECONDS
        sent = 0
        while time.monotonic() < end and sent < 256 << 20:
            conn.sendall(frame)
            sent += len(chunk)

    return script


def gzip_bomb(size: int) -> bytes:
    """A 200 whose gzip body inflates to SIZE bytes of spaces (a few KiB on the wire)."""
    return response(200, gzip.compress(b" " * size, 9), {"Content-Encoding": "gzip"})


@contextmanager
def serving(script: Script) -> Iterator[HostileServer]:
    with HostileServer(script) as server:
        yield server


def refresh_once(url: str, budget: float = 5) -> grant.TokenResponse:
    """The refresh_token grant against URL as wrap sends it (backoff not waited for)."""
    with http.client_for(url) as client:
        return grant.refresh(
            client,
            grant.Endpoint(url, "cid"),
            "old-refresh",
            budget=budget,
            on_refresh_token=lambda t: None,
            sleep=lambda s: None,
        )
