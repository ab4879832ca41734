"""The browser login's loopback listener, over real sockets: an idle connection holds nothing up,
only this login's answer on the redirect path for the listener's own Host ends it, it listens on
127.0.0.1 only, its pages escape what they echo, and each login has its own state."""

from __future__ import annotations

import http.client
import socket
import threading
from collections.abc import Iterator
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest

from launcher.errors import LoginError
from launcher.login import browser

PATH = "/callback"


class Login:
    """browser.run in a thread, with the URL it would open and what it said."""

    def __init__(self, *, paste: list[str] | None = None) -> None:
        self.opened = threading.Event()
        self.url = ""
        self.said: list[str] = []
        self.result: tuple[str, str, str] | None = None
        self.error: LoginError | None = None
        self.pasted = list(paste or [])
        self.paste_mode = paste is not None
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _open(self, url: str) -> bool:
        self.url = url
        self.opened.set()
        return True

    def _read_line(self, timeout: float) -> str | None:
        self.opened.wait(min(timeout, 0.02))  # as a terminal would block a moment
        return self.pasted.pop(0) if self.pasted else None

    def _say(self, line: str) -> None:
        self.said.append(line)
        if "state=" in line:  # the printed authorize URL (paste mode)
            self.url = line
            self.opened.set()

    def _run(self) -> None:
        try:
            self.result = browser.run(
                authorize_base="https://auth.example.invalid/authorize",
                client_id="client",
                scopes="openid",
                extra={},
                ports=[],
                path=PATH,
                timeout=30,
                paste_mode=self.paste_mode,
                open_browser=self._open,
                say=self._say,
                read_line=self._read_line,
            )
        except LoginError as e:
            self.error = e

    def __enter__(self) -> Login:
        self.thread.start()
        assert self.opened.wait(10)
        return self

    def __exit__(self, *exc: object) -> None:
        self.thread.join(timeout=30)

    @property
    def params(self) -> dict[str, str]:
        return {k: v[0] for k, v in parse_qs(urlsplit(self.url).query).items()}

    @property
    def port(self) -> int:
        port = urlsplit(self.params["redirect_uri"]).port
        assert port is not None
        return port

    def get(self, target: str, host: str | None = None) -> tuple[int, str]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            conn.putrequest("GET", target, skip_host=True)
            conn.putheader("Host", host or f"127.0.0.1:{self.port}")
            conn.endheaders()
            response = conn.getresponse()
            return response.status, response.read().decode()
        finally:
            conn.close()

    def answer(self, **query: str) -> tuple[int, str]:
        return self.get(f"{PATH}?{urlencode(query)}")

    def finish(self) -> tuple[str, str, str]:
        self.thread.join(timeout=30)
        assert not self.thread.is_alive(), "the login did not end"
        if self.error is not None:
            raise self.error
        assert self.result is not None
        return self.result


@pytest.fixture
def login() -> Iterator[Login]:
    with Login() as running:
        yield running


def test_an_idle_connection_does_not_hold_up_the_answer(login: Login) -> None:
    idle = socket.create_connection(("127.0.0.1", login.port))  # a browser's preconnect
    try:
        status, _ = login.answer(code="the-code", state=login.params["state"])
        assert status == 200
        code, redirect_uri, _ = login.finish()
    finally:
        idle.close()
    assert code == "the-code"
    assert redirect_uri == login.params["redirect_uri"]


def test_answers_with_no_or_another_state_are_ignored_and_the_login_goes_on(login: Login) -> None:
    for query in ({"code": "forged"}, {"code": "forged", "state": "another-login"}):
        status, page = login.answer(**query)
        assert status == 400
        assert "not for the login in progress" in page
    assert login.thread.is_alive()
    assert login.answer(code="real", state=login.params["state"])[0] == 200
    assert login.finish()[0] == "real"
    assert len([s for s in login.said if "still waiting" in s]) == 1


def test_only_the_redirect_path_counts(login: Login) -> None:
    state = login.params["state"]
    assert login.get(f"/favicon.ico?code=x&state={state}")[0] == 404
    assert login.get(f"{PATH}/../other?code=x&state={state}")[0] == 404
    assert login.thread.is_alive()
    assert login.answer(code="real", state=state)[0] == 200
    assert login.finish()[0] == "real"


@pytest.mark.parametrize("host", ["attacker.example", "attacker.example:{port}", "127.0.0.1"])
def test_a_request_for_another_host_is_refused(login: Login, host: str) -> None:
    state = login.params["state"]
    status, _ = login.get(f"{PATH}?code=rebound&state={state}", host=host.format(port=login.port))
    assert status == 421
    assert login.thread.is_alive()
    assert login.get(f"{PATH}?code=real&state={state}", host=f"localhost:{login.port}")[0] == 200
    assert login.finish()[0] == "real"


def test_the_listener_is_on_127_0_0_1_only(login: Login) -> None:
    assert urlsplit(login.params["redirect_uri"]).hostname == "127.0.0.1"
    # Another loopback address reaches a socket bound to all interfaces, not this one.
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.2", login.port), timeout=5).close()
    login.answer(code="x", state=login.params["state"])
    login.finish()


def test_an_error_description_is_escaped_in_the_page(login: Login) -> None:
    status, page = login.answer(
        error="access_denied",
        error_description="<script>alert(1)</script>",
        state=login.params["state"],
    )
    assert status == 400
    assert "<script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    with pytest.raises(LoginError, match="access_denied"):
        login.finish()


def test_each_login_has_its_own_random_state() -> None:
    states = []
    for _ in range(2):
        with Login() as one:
            states.append(one.params["state"])
            assert one.params["code_challenge_method"] == "S256"
            one.answer(code="x", state=one.params["state"])
            one.finish()
    assert states[0] != states[1]
    assert all(len(s) >= 32 for s in states)


def test_a_pasted_code_with_another_state_is_refused() -> None:
    with Login(paste=[]) as pasting:
        state = pasting.params["state"]
        pasting.pasted.extend(["stolen-code#another-state", f"real-code#{state}"])
        code, _, _ = pasting.finish()
    assert code == "real-code"
    assert any("not for this login" in s for s in pasting.said)
