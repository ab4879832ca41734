"""The fleet store and its secrets: a TLS store is the host it claims to be before it hears a
password, the store's secrets are one printable line and never printed, a URL that holds them
is never quoted raw, and whatever the store answers ends in one clear line."""

from __future__ import annotations

import json
import os
import socket
import ssl
import subprocess
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
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


# --- the store's secrets: one printable line, never shown -----------------------------------

TOKEN = "s3cret-store-token-0123456789"


def _fleet_account(home: Home, fleet: str, *, due: bool = False) -> None:
    home.write_claude(time.time() + (60 if due else 30 * 86400))
    _config(home, fleet)


def test_a_token_file_with_a_comment_line_is_a_usage_error_that_shows_no_secret(
    home: Home, tmp_path: Path
) -> None:
    # h11 quoted the whole header value (the token and the comment) in every launch's line.
    token_file = tmp_path / "bao-token"
    token_file.write_text(f"{TOKEN}\n# the CI token, rotated monthly\n")
    _fleet_account(home, f'url = "openbao://127.0.0.1:9"\ntoken_file = "{token_file}"', due=True)
    r = home.wrap("fleet", "status")
    assert r.returncode == 2
    line = one_line(r.stderr)
    assert f"{token_file} (token_file) must hold one line of printable characters" in line
    assert TOKEN not in r.stderr
    launched = home.wrap_claude()
    assert launched.returncode == 0
    assert "must hold one line" in one_line(launched.stderr)
    assert TOKEN not in launched.stderr
    assert len(home.reports()) == 1


@pytest.mark.parametrize("var", ["WRAP_FLEET_TOKEN", "WRAP_FLEET_PASSWORD"])
def test_a_secret_with_a_newline_in_the_environment_is_a_usage_error(home: Home, var: str) -> None:
    _fleet_account(home, 'url = "openbao://127.0.0.1:9"')
    r = home.wrap("fleet", "status", env=home.env(**{var: f"{TOKEN}\nsecond-line-{TOKEN}"}))
    assert r.returncode == 2
    assert f"{var} must hold one line of printable characters" in one_line(r.stderr)
    assert "s3cret" not in r.stderr


def test_a_secret_is_redacted_wherever_a_store_quotes_it(home: Home) -> None:
    # Once parsed it is a known value: a store's error that quotes it shows <redacted>.
    from launcher import redact
    from launcher.fleet import settings

    redact.forget()
    settings.parse({"fleet": {"url": "etcd://127.0.0.1"}}, {"WRAP_FLEET_PASSWORD": TOKEN}, "/c")
    assert (
        redact.text(f"authentication failed for {TOKEN}") == "authentication failed for <redacted>"
    )
    redact.forget()


def test_a_token_file_that_is_a_fifo_fails_at_once(home: Home, tmp_path: Path) -> None:
    # Opened blocking, a FIFO held every launch past the refresh timeout (forever: no writer).
    fifo = tmp_path / "token-fifo"
    os.mkfifo(fifo)
    _fleet_account(home, f'url = "openbao://127.0.0.1:9"\ntoken_file = "{fifo}"', due=True)
    r = home.wrap("fleet", "status", timeout=20)
    assert r.returncode == 2
    assert f"{fifo} is a FIFO (named pipe), not a token_file" in one_line(r.stderr)
    launched = home.wrap_claude(timeout=20)
    assert launched.returncode == 0
    assert len(home.reports()) == 1


@pytest.mark.parametrize("password", ["pa/ss-word", "pa?ss-word", "pa#ss-word", "p@ss/word"])
def test_a_fleet_url_with_a_password_is_never_quoted(home: Home, password: str) -> None:
    # With / ? or # in it, urlsplit ends the netloc inside the password: the "invalid port"
    # message quoted the whole URL, the password with it.
    url = f"etcd://wrap:{password}@127.0.0.1:2379"
    _fleet_account(home, 'url = "etcd://127.0.0.1:9"', due=True)
    env = home.env(WRAP_FLEET_URL=url)
    r = home.wrap("fleet", "status", env=env)
    assert r.returncode == 2
    assert "carries a password: use WRAP_FLEET_PASSWORD" in one_line(r.stderr)
    launched = home.wrap_claude(env=env)
    kept = home.wrap("keepalive", env=env)
    said = r.stderr + launched.stderr + kept.stdout + kept.stderr
    last = home.root / "state" / "wrap" / "keepalive" / "last-pass.json"
    said += last.read_text() if last.exists() else ""
    for piece in (password, password[2:]):
        assert piece not in said


# --- what a store answers: one clear line, and IPv6 hosts work -----------------------------


class FakeBao:
    """An OpenBao KV v2 on loopback (IPv4 or IPv6) that serves one record as given: RECORD
    (JSON text, hostile or not) under secret/wrap/work at VERSION."""

    def __init__(self, record: str, *, version: object = 3, host: str = "127.0.0.1") -> None:
        self.record = record
        self.version = version
        outer = self

        class Server(ThreadingHTTPServer):
            address_family = socket.AF_INET6 if ":" in host else socket.AF_INET

        class Handler(BaseHTTPRequestHandler):
            def _send(self, status: int, body: object) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_LIST(self) -> None:
                self._send(200, {"data": {"keys": ["work"]}})

            def do_GET(self) -> None:
                if self.path == "/v1/secret/data/wrap/work":
                    meta = {"version": outer.version}
                    self._send(200, {"data": {"data": {"record": outer.record}, "metadata": meta}})
                else:
                    self._send(404, {"errors": []})

            def log_message(self, format: str, *args: object) -> None:
                pass

        self._httpd = Server((host, 0), Handler)
        self.url = f"openbao://{'[::1]' if ':' in host else host}:{self._httpd.server_port}"
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()


def _record(**fields: object) -> str:
    doc = {"claudeAiOauth": {"accessToken": "a", "expiresAt": int((time.time() + 3600) * 1000)}}
    data: dict[str, object] = {
        "format": 1,
        "profile": "claude",
        "doc": doc,
        "refresh_token": "r",
        "expires_at": time.time() + 3600,
        "last_refresh": {"at": time.time(), "machine": "laptop"},
    }
    data.update(fields)
    return json.dumps(data)


def _status(home: Home, bao: FakeBao, *args: str) -> subprocess.CompletedProcess[str]:
    _config(home, f'url = "{bao.url}"')
    return home.wrap("fleet", "status", *args, env=home.env(WRAP_FLEET_TOKEN=TOKEN))


@pytest.mark.parametrize(
    "fields",
    [
        {"last_refresh": "yesterday"},
        {"last_refresh": {"at": "noon", "machine": ["a", "b"]}},
        {"expires_at": float("inf")},
        {"expires_at": 1e300, "login_expires_at": float("-inf")},
        {"rejected": {"at": [], "machine": {"x": 1}, "error": 5}},
        {"refreshing": {"since": "then", "machine": []}},
    ],
    ids=["string last_refresh", "list machine", "Infinity", "far", "rejected", "refreshing"],
)
def test_a_hostile_record_is_shown_without_a_crash(home: Home, fields: dict[str, object]) -> None:
    bao = FakeBao(_record(**fields))
    try:
        table = _status(home, bao)
        as_json = _status(home, bao, "--json")
    finally:
        bao.close()
    for r in (table, as_json):
        assert r.returncode == 0, r.stderr
        assert "unexpected error" not in r.stderr
        assert "Traceback" not in r.stderr
    assert table.stdout.startswith("RECORD")
    [entry] = json.loads(as_json.stdout)
    assert entry["name"] == "work"
    assert "['a', 'b']" not in table.stdout


@pytest.mark.parametrize("version", ["abc", [], -1, 2.5, True])
def test_an_unusable_openbao_version_is_one_clear_line(home: Home, version: object) -> None:
    # It is what compare-and-swap hangs on: the record is unreadable, nothing is guessed.
    home.write_claude(time.time() + 60)
    bao = FakeBao(_record(), version=version)
    try:
        shown = _status(home, bao, "--json")
        pulled = home.wrap("fleet", "pull", env=home.env(WRAP_FLEET_TOKEN=TOKEN))
    finally:
        bao.close()
    assert shown.returncode == 0, shown.stderr
    [entry] = json.loads(shown.stdout)
    assert entry["state"] == "unreadable"
    assert "answered a record version that is not a number" in entry["error"]
    assert pulled.returncode == 6
    assert "answered a record version that is not a number" in one_line(pulled.stderr)


def test_an_ipv6_loopback_store_works(home: Home) -> None:
    # urlsplit's hostname drops the brackets: the client was given http://::1:PORT.
    bao = FakeBao(_record(), host="::1")
    try:
        r = _status(home, bao, "--json")
    finally:
        bao.close()
    assert r.returncode == 0, r.stderr
    [entry] = json.loads(r.stdout)
    assert entry["last_refreshed_by"] == "laptop"
