"""An endpoint that cannot be reached (nothing listens, the name does not resolve) costs a launch
one connection attempt at most; then the endpoint is left alone for a short cooldown that grows
with each failure in a row, kept in wrap's state and cleared by a success or a changed file.

Attempts are counted where they happen: every call of socket.create_connection (httpx's only
way to open a connection here), the real one, against a port nobody listens on and against an
`.invalid` host (RFC 6761: it never resolves)."""

from __future__ import annotations

import io
import socket
import subprocess
from typing import Any

import pytest
from conftest import BIN, Home
from token_server import TokenServer

from launcher import config, gate, state
from launcher.log import Log

T0 = 1_900_000_000.0


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


URLS = {
    "refused": lambda: f"http://127.0.0.1:{_closed_port()}/v1/oauth/token",
    "dns": lambda: "https://token.wrap-test.invalid/v1/oauth/token",
}


class Attempts:
    """socket.create_connection, counted (the real one still runs)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.n = 0
        real = socket.create_connection

        def counted(*args: Any, **kwargs: Any) -> socket.socket:
            self.n += 1
            return real(*args, **kwargs)

        monkeypatch.setattr(socket, "create_connection", counted)


def _gate(home: Home, t: float, url: str, **flags: Any) -> tuple[int | None, str]:
    err = io.StringIO()
    settings = config.resolve({"token_url": url, **flags}, home.env())
    code = gate.gate(settings, env=home.env(), now=lambda: t, log=Log(stream=err), program="c")
    return code, err.getvalue()


def _remembered(home: Home) -> state.CredState:
    return state.load(config.state_dir(home.env()), str(home.creds))


@pytest.mark.parametrize("kind", sorted(URLS))
def test_one_attempt_then_a_cooldown_that_grows(
    home: Home, monkeypatch: pytest.MonkeyPatch, kind: str
) -> None:
    url = URLS[kind]()
    attempts = Attempts(monkeypatch)
    before = home.write_claude(T0 + 3600)  # expiring, still valid
    code, err = _gate(home, T0, url)
    assert code is None
    assert attempts.n == 1
    [line] = err.splitlines()
    assert "cannot connect to" in line
    assert "tries it again in 30 s" in line
    assert home.creds.read_bytes() == before

    for later in (1, 10, 29):  # inside the cooldown: no attempt, nothing said, launched
        assert _gate(home, T0 + later, url) == (None, "")
    assert attempts.n == 1

    code, err = _gate(home, T0 + 31, url)  # over: one attempt, and the next cooldown is longer
    assert attempts.n == 2
    assert "tries it again in 2 min" in err
    assert _gate(home, T0 + 31 + 119, url) == (None, "")
    assert attempts.n == 2
    remembered = _remembered(home)
    assert remembered.unreachable_count == 2
    assert remembered.unreachable_url == url


def test_a_changed_file_or_another_endpoint_is_tried_at_once(
    home: Home, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = URLS["refused"]()
    attempts = Attempts(monkeypatch)
    home.write_claude(T0 + 3600)
    _gate(home, T0, url)
    assert attempts.n == 1
    home.write_claude(T0 + 3600, access="another-access")  # someone wrote the file
    _gate(home, T0 + 1, url)
    assert attempts.n == 2
    other = URLS["refused"]()
    _gate(home, T0 + 2, other)
    assert attempts.n == 3


def test_a_success_clears_the_cooldown(home: Home, monkeypatch: pytest.MonkeyPatch) -> None:
    url = URLS["refused"]()
    home.write_claude(T0 + 3600)
    _gate(home, T0, url)
    assert _remembered(home).unreachable_until is not None
    with TokenServer() as server:
        server.seed("old-refresh")
        code, err = _gate(home, T0 + 1, server.url)
        assert (code, err) == (None, "")
        assert server.refresh_requests == 1
    remembered = _remembered(home)
    assert remembered.unreachable_until is None
    assert remembered.unreachable_count == 0


def test_an_expired_token_inside_the_cooldown_says_so_and_strict_does_not_launch(
    home: Home, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = URLS["dns"]()
    attempts = Attempts(monkeypatch)
    home.write_claude(T0 - 60)
    code, err = _gate(home, T0, url)
    assert (code, attempts.n) == (None, 1)
    assert "launching c with an expired token" in err
    code, err = _gate(home, T0 + 5, url)
    assert (code, attempts.n) == (None, 1)
    [line] = err.splitlines()
    assert "could not be reached at the last try; wrap tries it again after" in line
    assert "it will be tried again at the next launch" not in line
    code, err = _gate(home, T0 + 6, url, strict=True)
    assert (code, attempts.n) == (5, 1)
    assert "not launching c with an expired token (--strict)" in err


def test_a_forced_refresh_tries_even_inside_the_cooldown(
    home: Home, monkeypatch: pytest.MonkeyPatch
) -> None:
    from launcher.errors import RefreshError
    from launcher.refresh.route import renew

    url = URLS["refused"]()
    attempts = Attempts(monkeypatch)
    home.write_claude(T0 + 3600)
    _gate(home, T0, url)
    settings = config.resolve({"token_url": url}, home.env())
    state_dir = config.state_dir(home.env())
    with pytest.raises(RefreshError, match="could not be reached at the last try"):
        renew(settings, state_dir, now=lambda: T0 + 1, log=Log(stream=io.StringIO()))
    assert attempts.n == 1  # a keepalive pass, say: it leaves the endpoint alone too
    with pytest.raises(RefreshError, match="cannot connect"):
        renew(settings, state_dir, now=lambda: T0 + 2, log=Log(stream=io.StringIO()), forced=True)
    assert attempts.n == 2


def test_offline_launches_through_the_console_script(home: Home) -> None:
    # The second launch inside the cooldown does not even load the HTTP client.
    home.write_claude(__import__("time").time() + 3600)
    env = home.env(WRAP_TOKEN_URL=URLS["dns"](), FAKE_CREDENTIALS=str(home.creds))
    first = home.wrap_claude("hello", env=env)
    assert first.returncode == 0, first.stderr
    assert "cannot connect" in first.stderr
    second = subprocess.run(
        [str(BIN / "python"), "-X", "importtime", str(BIN / "wrap-claude"), "hello"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
        stdin=subprocess.DEVNULL,
    )
    assert second.returncode == 0
    imported = {
        line.rsplit("|", 1)[-1].strip().split(".")[0]
        for line in second.stderr.splitlines()
        if line.startswith("import time:")
    }
    assert "httpx" not in imported
    assert [line for line in second.stderr.splitlines() if line.startswith("wrap:")] == []
    assert [r["argv"] for r in home.reports()] == [["hello"], ["hello"]]
