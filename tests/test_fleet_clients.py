"""Every HTTP client of the fleet comes from wrap's one factory (launcher/refresh/http.py):
a loopback store and a loopback token URL are never reached through a proxy (a proxy once
received the OpenBao token and the etcd password), and a private CA in SSL_CERT_FILE is
honoured by the fleet's HTTPS clients."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import hostile_server as hs
import pytest
from test_fleet import Fleet, fleet, pushed, store  # noqa: F401 - the fixtures, reused
from test_http import tls_server  # noqa: F401 - the fixture, reused

from launcher.fleet.etcd import EtcdBackend
from launcher.fleet.openbao import OpenBaoBackend
from launcher.fleet.settings import FleetSettings

PROXY_VARIABLES = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy")


@pytest.fixture
def proxy() -> Iterator[hs.HostileServer]:
    """A 'proxy' that records every connection and answers none."""
    with hs.serving(lambda conn, request: None) as listener:
        yield listener


def test_a_loopback_store_and_token_url_see_no_proxied_request(
    fleet: Fleet,  # noqa: F811
    proxy: hs.HostileServer,
) -> None:
    proxied = {name: proxy.origin for name in PROXY_VARIABLES} | {"NO_PROXY": ""}
    laptop = fleet.logged_in()
    r = laptop.wrap("fleet", "push", env=laptop.env(**proxied))
    assert r.returncode == 0, r.stderr
    desk = fleet.machine("desk")
    launch = desk.wrap_claude("-p", "hi", env=desk.env(**proxied))
    assert launch.returncode == 0, launch.stderr
    assert launch.stderr == ""
    assert fleet.tokens.refresh_requests == 1  # the holder's grant reached the server itself
    assert desk.access() == "test-access-1"
    assert proxy.connections == 0


@pytest.mark.parametrize("backend", [EtcdBackend, OpenBaoBackend], ids=["etcd", "openbao"])
def test_the_fleets_https_clients_honour_a_private_ca_in_ssl_cert_file(
    tls_server: tuple[str, Path],  # noqa: F811
    backend: type[EtcdBackend] | type[OpenBaoBackend],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    url, ca = tls_server
    port = int(url.rsplit(":", 1)[1].split("/")[0])

    def reach() -> str:
        fs = FleetSettings(
            backend="etcd",
            tls=True,
            url=f"etcd+https://localhost:{port}",
            where=f"etcd+https://localhost:{port}",
            host="localhost",
            port=port,
            mount="secret",
            prefix="wrap",
            machine="here",
            user=None,
            token=None,
            password=None,
            ca_file=None,
            clock_skew=0.0,
        )
        client = backend(fs, timeout=5).client
        with client:
            return client.post("/token", json={}).json()["access_token"]  # type: ignore[no-any-return]

    with pytest.raises(Exception, match="CERTIFICATE_VERIFY_FAILED"):
        reach()
    monkeypatch.setenv("SSL_CERT_FILE", str(ca))
    assert reach() == "new-access"
