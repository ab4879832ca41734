"""The token exchange over HTTP: a wall-clock deadline for the whole of it and a cap on its size
(real trickling, endless and compressing servers on 127.0.0.1), no proxy for loopback, the CA
store of the machine or the one SSL_CERT_FILE / SSL_CERT_DIR name."""

from __future__ import annotations

import json
import socket
import ssl
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import hostile_server as hs
import httpx
import pytest
from conftest import Home, one_line
from token_server import TokenServer

from launcher.errors import RefreshError, UsageError
from launcher.refresh import http

T0 = time.time()


# --- the refresh exchange: a deadline for the whole of it, a cap on its size -------------


def test_a_trickling_server_cannot_hold_the_exchange_past_its_deadline() -> None:
    # Every byte comes well within any read timeout; the whole answer would take ~15 s.
    body = hs.response(200, hs.OK)
    with (
        hs.serving(hs.trickle(body, every=body and 15 / len(body))) as server,
        pytest.raises(RefreshError, match="did not answer within 1 s") as e,
    ):
        hs.refresh_once(server.url, budget=1)
    assert e.value.sent
    assert not e.value.retryable
    assert len(server.requests) == 1


def test_trickling_headers_are_bounded_too() -> None:
    head = b"HTTP/1.1 200 hs.OK\r\n" + b"X-Slow: " + b"a" * 100 + b"\r\n"
    with (
        hs.serving(hs.trickle(head, every=0.15)) as server,
        pytest.raises(RefreshError, match="did not answer within 1 s"),
    ):
        hs.refresh_once(server.url, budget=1)


def test_an_endless_body_is_cut_at_the_size_cap() -> None:
    with (
        hs.serving(hs.endless()) as server,
        pytest.raises(RefreshError, match="larger than 1 MiB") as e,
    ):
        hs.refresh_once(server.url, budget=15)
    assert e.value.sent
    assert not e.value.retryable


def test_a_compression_bomb_is_cut_at_the_size_cap() -> None:
    with (
        hs.serving(hs.answer(hs.gzip_bomb(20 << 20))) as server,
        pytest.raises(RefreshError, match="larger than 1 MiB uncompressed"),
    ):
        hs.refresh_once(server.url)


def test_a_compressed_answer_within_the_cap_is_read() -> None:
    import gzip

    data = hs.response(200, gzip.compress(json.dumps(hs.OK).encode()), {"Content-Encoding": "gzip"})
    with hs.serving(hs.answer(data)) as server:
        assert hs.refresh_once(server.url).access_token == "new-access"
    assert server.requests[0].headers["accept-encoding"] == "identity"


def test_an_encoding_wrap_does_not_read_is_one_clean_error() -> None:
    data = hs.response(200, b"\x00\x01garbage", {"Content-Encoding": "br"})
    with (
        hs.serving(hs.answer(data)) as server,
        pytest.raises(RefreshError, match=r"encoding wrap does not read \(br\)"),
    ):
        hs.refresh_once(server.url)


def test_the_gate_under_a_trickling_server_warns_once_and_launches(home: Home) -> None:
    home.write_claude(T0 + 3600)
    data = home.creds.read_bytes()
    body = hs.response(200, hs.OK)
    with hs.serving(hs.trickle(body, every=15 / len(body))) as server:
        r = home.wrap_claude(env=home.env(WRAP_TOKEN_URL=server.url, WRAP_REFRESH_TIMEOUT="1s"))
    assert r.returncode == 0
    assert "did not answer within 1 s" in one_line(r.stderr)
    assert home.creds.read_bytes() == data
    assert len(home.reports()) == 1


# --- network: proxies and CA stores --------------------------------------------------------


@pytest.fixture
def proxy() -> Iterator[hs.HostileServer]:
    """A 'proxy' that records every connection and answers none."""
    with hs.serving(lambda conn, request: None) as listener:
        yield listener


def test_a_loopback_token_url_never_goes_through_a_proxy(
    home: Home, server: TokenServer, proxy: hs.HostileServer
) -> None:
    home.write_claude(T0 + 3600)
    variables = {
        name: proxy.origin
        for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "all_proxy")
    }
    r = home.wrap_claude(env=home.env(WRAP_TOKEN_URL=server.url, NO_PROXY="", **variables))
    assert r.returncode == 0
    assert r.stderr == ""
    assert server.refresh_requests == 1
    assert proxy.connections == 0
    assert home.read()["claudeAiOauth"]["accessToken"] == "test-access-1"


def test_a_remote_token_url_honours_the_proxy(proxy: hs.HostileServer, monkeypatch: Any) -> None:
    # The other side of the rule: the corporate proxy is still used for the real endpoint.
    monkeypatch.setenv("HTTPS_PROXY", proxy.origin)
    with (
        http.client_for("https://token.example.com/t") as client,
        pytest.raises(httpx.HTTPError),  # the listener hangs up
    ):
        client.post("https://token.example.com/t", timeout=5)
    assert proxy.connections == 1


def test_a_loopback_http_url_loads_no_ca_bundle(monkeypatch: Any) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("a CA bundle was loaded")

    monkeypatch.setattr(ssl.SSLContext, "load_verify_locations", refuse)
    monkeypatch.setattr(ssl.SSLContext, "load_default_certs", refuse)
    monkeypatch.setattr(ssl.SSLContext, "set_default_verify_paths", refuse)
    with http.client_for("http://127.0.0.1:9/token") as client:
        assert client is not None
    with pytest.raises(AssertionError, match="CA bundle"):
        http.client_for("https://token.example.com/t")


@pytest.fixture(scope="module")
def tls_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """An https token endpoint on 127.0.0.1 with a certificate from a CA of its own."""
    d = tmp_path_factory.mktemp("tls")
    conf = d / "san.cnf"
    conf.write_text("subjectAltName=DNS:localhost,IP:127.0.0.1\n")

    def openssl(*args: str) -> None:
        subprocess.run(["openssl", *args], cwd=d, check=True, capture_output=True)

    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out",
            "ca.pem", "-days", "2", "-subj", "/CN=wrap test CA")  # fmt: skip
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "srv.key", "-out", "srv.csr",
            "-subj", "/CN=localhost")  # fmt: skip
    openssl("x509", "-req", "-in", "srv.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
            "-CAcreateserial", "-out", "srv.pem", "-days", "2", "-extfile", str(conf))  # fmt: skip
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(d / "srv.pem", d / "srv.key")
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(8)
    sock.settimeout(0.05)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = sock.accept()
            except TimeoutError:
                continue
            try:
                with ctx.wrap_socket(conn, server_side=True) as tls:
                    tls.settimeout(5)
                    if hs._read_request(tls) is not None:
                        tls.sendall(hs.response(200, hs.OK))
            except (OSError, ssl.SSLError):
                pass

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield f"https://localhost:{sock.getsockname()[1]}/token", d / "ca.pem"
    stop.set()
    thread.join(timeout=5)
    sock.close()


@pytest.mark.parametrize("variable", ["SSL_CERT_FILE", "SSL_CERT_DIR"])
def test_the_corporate_ca_store_is_honoured(
    tls_server: tuple[str, Path], variable: str, tmp_path: Path, monkeypatch: Any
) -> None:
    url, ca = tls_server
    if variable == "SSL_CERT_FILE":
        monkeypatch.setenv(variable, str(ca))
    else:
        subprocess.run(["openssl", "rehash", str(ca.parent)], check=True, capture_output=True)
        monkeypatch.setenv(variable, str(ca.parent))
    assert hs.refresh_once(url).access_token == "new-access"


def test_without_the_ca_a_private_certificate_is_refused(tls_server: tuple[str, Path]) -> None:
    url, _ = tls_server
    with pytest.raises(RefreshError, match="CERTIFICATE_VERIFY_FAILED") as e:
        hs.refresh_once(url)
    one_line(str(e.value))


def test_a_missing_ca_file_is_a_usage_error(monkeypatch: Any, tmp_path: Path) -> None:
    monkeypatch.setenv("SSL_CERT_FILE", str(tmp_path / "nope.pem"))
    with pytest.raises(UsageError, match="SSL_CERT_FILE"):
        http.client_for("https://token.example.com/t")
