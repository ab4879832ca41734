"""HTTP to a token endpoint: the client for a URL (proxy, CA store), and one POST whose whole
exchange ends by a wall-clock deadline and whose answer is capped in size.

httpx's own timeouts are per operation: a server that trickles a byte a second, or never ends
its body, would hold a launch (and both locks) for as long as it likes. Here the request runs
in a worker thread that the caller stops waiting for at the deadline, and the body is read
raw and decompressed by us, both under MAX_BODY, so no answer can fill memory.
"""

from __future__ import annotations

import os
import ssl
import sys
import threading
import zlib
from typing import TYPE_CHECKING, Any

from launcher.errors import UsageError
from launcher.urls import is_loopback

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

# httpx's package imports its own command-line client, httpx._main, which imports click and
# pygments (then gives up when rich is missing): about 10 ms of every refresh for a CLI wrap
# never runs. httpx falls back to a stub on ImportError (its documented state without
# `httpx[cli]`), and a None entry in sys.modules makes an import raise exactly that (the
# import system's way to block a module). The entry goes once httpx is in: nothing else in
# the process is kept from importing it. tests/test_slow_path_imports.py checks the effect.
_HTTPX_CLI = "httpx._main"
_block = "httpx" not in sys.modules and _HTTPX_CLI not in sys.modules
if _block:
    sys.modules[_HTTPX_CLI] = None  # type: ignore[assignment]
try:
    import httpx as httpx  # re-exported: refresh/grant.py imports it from here, after the block
finally:
    if _block:
        del sys.modules[_HTTPX_CLI]

# A token answer is a few KiB; anything past this is not one.
MAX_BODY = 1 << 20


class Failure(Exception):
    """The exchange did not complete: deadline, size cap, or an encoding we do not read.

    `sent`: the request may have reached the server (so a refresh token may have rotated)."""

    def __init__(self, message: str, *, sent: bool) -> None:
        super().__init__(message)
        self.sent = sent


class Answer:
    __slots__ = ("body", "headers", "status")

    def __init__(self, status: int, headers: httpx.Headers, body: bytes) -> None:
        self.status = status
        self.headers = headers
        self.body = body


def client_for(url: str, env: Mapping[str, str] | None = None) -> httpx.Client:
    """The client to reach URL: a loopback host is never sent through a proxy, and a loopback
    http:// URL loads no CA bundle at all (~70 ms saved, and nothing there to verify)."""
    env = os.environ if env is None else env
    parts = httpx.URL(url)
    loopback = is_loopback(parts.host)
    if parts.scheme == "http" and loopback:
        # An empty context: if anything ever tried TLS with it, verification would fail closed.
        verify: ssl.SSLContext = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    else:
        verify = ssl_context(env)
    # trust_env=False drops HTTP(S)_PROXY/ALL_PROXY (and .netrc) for loopback; elsewhere the
    # corporate proxy and NO_PROXY are honoured as usual.
    return httpx.Client(verify=verify, trust_env=not loopback, follow_redirects=False)


def ssl_context(env: Mapping[str, str]) -> ssl.SSLContext:
    """SSL_CERT_FILE / SSL_CERT_DIR when set (a corporate CA), else the system store, else
    certifi's bundle when the system has none."""
    cafile = env.get("SSL_CERT_FILE") or None
    capath = env.get("SSL_CERT_DIR") or None
    if cafile or capath:
        try:
            return ssl.create_default_context(cafile=cafile, capath=capath)
        except (OSError, ssl.SSLError) as e:
            which = "SSL_CERT_FILE" if cafile else "SSL_CERT_DIR"
            raise UsageError(
                f"cannot load the CA certificates from {which}={cafile or capath}: "
                f"{getattr(e, 'strerror', None) or e}; fix the path or unset {which}"
            ) from e
    if _system_store_exists():
        return ssl.create_default_context()
    import certifi

    return ssl.create_default_context(cafile=certifi.where())


def _system_store_exists() -> bool:
    paths = ssl.get_default_verify_paths()
    if paths.cafile and os.path.isfile(paths.cafile):
        return True
    return bool(paths.capath and os.path.isdir(paths.capath) and os.listdir(paths.capath))


def post(
    client: httpx.Client,
    url: str,
    *,
    deadline: float,
    clock: Callable[[], float],
    headers: Mapping[str, str],
    auth: Any = None,
    limit: int = MAX_BODY,
    **body: Any,
) -> Answer:
    """POST to URL and read the whole answer before DEADLINE (a CLOCK value), or raise
    Failure; other transport errors are httpx's own. BODY is httpx's json= or data=."""
    progress = _Progress()
    box: dict[str, Any] = {}
    done = threading.Event()
    timeout = max(0.001, deadline - clock())

    def work() -> None:
        try:
            box["answer"] = _exchange(client, url, headers, auth, body, timeout, limit, progress)
        except BaseException as e:  # handed to the waiting thread, which raises it
            box["error"] = e
        finally:
            done.set()

    worker = threading.Thread(target=work, name="wrap-token-request", daemon=True)
    worker.start()
    if not done.wait(timeout):
        # The worker is abandoned (a daemon thread, gone at exec); it stops reading at once.
        progress.stop.set()
        if progress.sent:
            raise Failure(
                f"{url} did not answer within {_secs(timeout)} s after the request was sent",
                sent=True,
            )
        raise Failure(f"cannot connect to {url} within {_secs(timeout)} s", sent=False)
    if "error" in box:
        raise box["error"]
    answer: Answer = box["answer"]
    return answer


class _Progress:
    __slots__ = ("sent", "stop")

    def __init__(self) -> None:
        self.sent = False
        self.stop = threading.Event()

    def trace(self, event: str, info: Mapping[str, Any]) -> None:
        # From the moment a header byte may leave, the server may act on the request.
        if ".send_request_headers." in event:
            self.sent = True


def _exchange(
    client: httpx.Client,
    url: str,
    headers: Mapping[str, str],
    auth: Any,
    body: Mapping[str, Any],
    timeout: float,
    limit: int,
    progress: _Progress,
) -> Answer:
    with client.stream(
        "POST",
        url,
        # We decompress ourselves (under the cap); ask for none.
        headers={**headers, "Accept-Encoding": "identity"},
        # A little past the deadline: the waiting thread's deadline must be what ends a slow
        # answer (one message, one rule); these only free the abandoned worker soon after.
        timeout=httpx.Timeout(timeout + 1.0, connect=min(timeout, 5.0)),
        auth=auth if auth is not None else httpx.USE_CLIENT_DEFAULT,
        extensions={"trace": progress.trace},
        **body,
    ) as response:
        raw = bytearray()
        for chunk in response.iter_raw():
            if progress.stop.is_set():
                raise Failure("abandoned at the deadline", sent=True)
            raw += chunk
            if len(raw) > limit:
                raise Failure(f"{url} sent an answer larger than {_size(limit)}", sent=True)
        data = _decode(bytes(raw), response.headers.get("Content-Encoding", ""), url, limit)
        return Answer(response.status_code, response.headers, data)


def _decode(raw: bytes, encoding: str, url: str, limit: int) -> bytes:
    data = raw
    # Encodings apply in the order listed, so they are undone from the last one.
    for name in reversed([e.strip().lower() for e in encoding.split(",") if e.strip()]):
        if name == "identity":
            continue
        if name in ("gzip", "x-gzip"):
            data = _inflate(data, 16 + zlib.MAX_WBITS, url, limit)
        elif name == "deflate":
            # "deflate" is zlib-wrapped by the RFC, raw by some servers.
            try:
                data = _inflate(data, zlib.MAX_WBITS, url, limit)
            except zlib.error:
                data = _inflate(data, -zlib.MAX_WBITS, url, limit)
        else:
            raise Failure(f"{url} answered in an encoding wrap does not read ({name})", sent=True)
    return data


def _inflate(data: bytes, wbits: int, url: str, limit: int) -> bytes:
    inflater = zlib.decompressobj(wbits)
    try:
        out = inflater.decompress(data, limit + 1)
    except zlib.error as e:
        if wbits == zlib.MAX_WBITS:
            raise  # let deflate try the raw form
        raise Failure(f"{url} sent a compressed answer that does not decompress", sent=True) from e
    if len(out) > limit or inflater.unconsumed_tail:
        raise Failure(f"{url} sent an answer larger than {_size(limit)} uncompressed", sent=True)
    return out


def _size(limit: int) -> str:
    return f"{limit // (1 << 20)} MiB" if limit >= 1 << 20 else f"{limit} bytes"


def _secs(value: float) -> str:
    return f"{value:.1f}".removesuffix(".0")
