"""The fleet store and its secrets: a TLS store is the host it claims to be before it hears a
password, the store's secrets are one printable line and never printed, a URL that holds them
is never quoted raw, and whatever the store answers ends in one clear line."""

from __future__ import annotations

import socket
import ssl
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import Home, one_line
from tls_proxy import CertificateAuthority

PASSWORD = "store-password-0123456789"


def _config(home: Home, fleet: str) -> None:
    cfg = home.root / "config" / "wrap" / "config.toml"
    cfg.parent.mkdir(parents=True, exist_ok=True)
    cfg.write_text(f'[fleet]\n{fleet}\n[profiles.claude]\nfleet = "work"\n')


class TLSListener:
    """A TLS server on 127.0.0.1 with a certificate for NAME that keeps what clients send
    after the handshake, and answers every command with a password error."""

    def __init__(self, ca: CertificateAuthority, name: str) -> None:
        self.context = ca.context(name)
        self.received = b""
        self._sock = socket.create_server(("127.0.0.1", 0))
        self._sock.settimeout(0.1)
        self.port = self._sock.getsockname()[1]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                raw, _ = self._sock.accept()
            except TimeoutError:
                continue
            raw.settimeout(5)
            try:
                with self.context.wrap_socket(raw, server_side=True) as conn:
                    data = conn.recv(65536)
                    self.received += data
                    if data:
                        conn.sendall(b"-WRONGPASS invalid username-password pair\r\n")
            except (OSError, ssl.SSLError):
                raw.close()

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        self._sock.close()


@pytest.fixture
def ca(tmp_path: Path) -> CertificateAuthority:
    d = tmp_path / "ca"
    d.mkdir()
    return CertificateAuthority(d)


@pytest.fixture
def listener(request: pytest.FixtureRequest, ca: CertificateAuthority) -> Iterator[TLSListener]:
    server = TLSListener(ca, request.param)
    yield server
    server.close()


@pytest.mark.parametrize("listener", ["redis.other.example"], indirect=True)
def test_a_rediss_store_with_a_certificate_for_another_name_hears_no_password(
    home: Home, ca: CertificateAuthority, listener: TLSListener
) -> None:
    home.write_claude(None)
    _config(home, f'url = "rediss://localhost:{listener.port}/0"\nca_file = "{ca.path}"')
    r = home.wrap("fleet", "status", env=home.env(WRAP_FLEET_PASSWORD=PASSWORD))
    assert r.returncode == 6
    assert "localhost" in one_line(r.stderr)
    assert PASSWORD not in r.stderr
    assert listener.received == b""


@pytest.mark.parametrize("listener", ["localhost"], indirect=True)
def test_a_rediss_store_with_its_own_name_is_spoken_to(
    home: Home, ca: CertificateAuthority, listener: TLSListener
) -> None:
    # The control: the same store with the right name gets AUTH (and refuses it).
    home.write_claude(None)
    _config(home, f'url = "rediss://localhost:{listener.port}/0"\nca_file = "{ca.path}"')
    r = home.wrap("fleet", "status", env=home.env(WRAP_FLEET_PASSWORD=PASSWORD))
    assert r.returncode == 6
    assert "refused wrap" in one_line(r.stderr)
    assert b"AUTH" in listener.received


def test_the_redis_client_is_told_to_check_the_name_whatever_its_defaults() -> None:
    # redis-py before 6.0 did not check host names unless told to.
    from launcher.fleet import settings
    from launcher.fleet.redis import RedisBackend

    fs = settings.parse({"fleet": {"url": "rediss://redis.example.com:6380/0"}}, {}, "/c")
    kwargs = RedisBackend(fs, timeout=1).client.connection_pool.connection_kwargs
    assert kwargs["ssl_check_hostname"] is True
    assert kwargs["ssl_cert_reqs"] == "required"
