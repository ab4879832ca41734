"""Browser login: authorization code with PKCE (S256) and a loopback redirect (RFC 8252).

The listener binds 127.0.0.1 only and serves each connection in its own thread with a timeout
(a browser's idle preconnect holds nothing up). Only a request on the redirect path, for this
listener's Host, carrying this login's state ends the login; anything else gets a small page and
the listener keeps waiting. Without a display or over SSH, the URL is printed and the user pastes
back the redirect URL (or `code#state`) instead; a paste for another login is refused the same way.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import html
import http.server
import secrets
import threading
import time
from typing import TYPE_CHECKING
from urllib.parse import parse_qs, urlencode, urlsplit

from launcher.errors import LoginError

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

PAGE = """<!doctype html><meta charset="utf-8"><title>wrap: {title}</title>
<body style="font-family:sans-serif;max-width:32em;margin:4em auto">
<h1>{title}</h1><p>{text}</p></body>"""


class Pkce:
    """A fresh verifier, its S256 challenge and a random state for one login."""

    __slots__ = ("challenge", "state", "verifier")

    def __init__(self) -> None:
        self.verifier = secrets.token_urlsafe(64)
        digest = hashlib.sha256(self.verifier.encode("ascii")).digest()
        self.challenge = base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")
        self.state = secrets.token_urlsafe(24)


class Answer:
    __slots__ = ("code", "error", "foreign")

    def __init__(self, code: str | None, error: str | None, *, foreign: bool = False) -> None:
        self.code = code
        self.error = error
        # Not this login's answer (no or another state): ignored, the login goes on.
        self.foreign = foreign


def authorize_url(
    base: str,
    *,
    client_id: str,
    redirect_uri: str,
    scopes: str,
    pkce: Pkce,
    extra: dict[str, str] | None = None,
) -> str:
    params = {
        "response_type": "code",
        "client_id": client_id,
        "redirect_uri": redirect_uri,
        "state": pkce.state,
        "code_challenge": pkce.challenge,
        "code_challenge_method": "S256",
    }
    if scopes:
        params["scope"] = scopes
    params.update(extra or {})
    return f"{base}{'&' if '?' in base else '?'}{urlencode(params)}"


def check_answer(query: dict[str, list[str]], state: str) -> Answer:
    """Turn the redirect's query into a code, or an error to report (state checked first)."""
    got_state = query.get("state", [""])[0]
    if not secrets.compare_digest(got_state, state):
        return Answer(
            None,
            "an answer whose state does not match this login (a stale or forged "
            "redirect) was ignored",
            foreign=True,
        )
    if "error" in query:
        error = query["error"][0]
        desc = query.get("error_description", [""])[0]
        return Answer(
            None, f"the authorization server said {error}" + (f": {desc}" if desc else "")
        )
    code = query.get("code", [""])[0]
    if not code:
        return Answer(None, "the answer carries no authorization code")
    return Answer(code, None)


class Listener:
    """Loopback HTTP server for the redirect; ends at the first answer that is this login's."""

    # Per connection: an idle one (a browser's preconnect) is dropped after this, and never
    # holds up the others, each served in its own thread.
    CONNECTION_TIMEOUT = 10.0

    def __init__(
        self,
        ports: Sequence[int],
        path: str,
        state: str,
        say: Callable[[str], None] | None = None,
    ) -> None:
        self.path = path
        self.state = state
        self.say = say
        self.answer: Answer | None = None
        self.done = threading.Event()
        self.lock = threading.Lock()
        self.ignored = 0
        self.server = self._bind(ports)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True
        )

    @property
    def redirect_uri(self) -> str:
        return f"http://127.0.0.1:{self.port}{self.path}"

    def _bind(self, ports: Sequence[int]) -> http.server.ThreadingHTTPServer:
        handler = self._handler()
        for port in [*ports, 0]:
            try:
                server = http.server.ThreadingHTTPServer(("127.0.0.1", port), handler)
            except OSError:
                continue
            server.daemon_threads = True
            server.block_on_close = False  # an idle connection must not hold up close()
            return server
        raise LoginError("cannot listen on 127.0.0.1 for the login redirect")  # pragma: no cover

    def start(self) -> None:
        self.thread.start()

    def close(self) -> None:
        self.done.set()
        if self.thread.is_alive():
            self.server.shutdown()
            self.thread.join(timeout=2)
        self.server.server_close()

    def host_ok(self, host: str | None) -> bool:
        """Only this listener's own names: a page elsewhere cannot reach it by DNS rebinding."""
        return (host or "").lower() in (f"127.0.0.1:{self.port}", f"localhost:{self.port}")

    def claim(self, answer: Answer) -> bool:
        """Keep ANSWER unless one was kept already; True when it is the one that ends the login
        (the caller sets `done` once its page is sent, so the tab sees it before wrap exits)."""
        with self.lock:
            if self.answer is not None or self.done.is_set():
                return False
            self.answer = answer
            return True

    def ignore(self, why: str) -> None:
        with self.lock:
            self.ignored += 1
            first = self.ignored == 1
        if first and self.say is not None:
            self.say(f"{why}; still waiting for this login's answer")

    def _handler(self) -> type[http.server.BaseHTTPRequestHandler]:
        listener = self

        class Handler(http.server.BaseHTTPRequestHandler):
            timeout = Listener.CONNECTION_TIMEOUT  # applied to the connection's socket

            def do_GET(self) -> None:
                if not listener.host_ok(self.headers.get("Host")):
                    self._page(421, "Wrong address", "This is not the address of the login.")
                    return
                parts = urlsplit(self.path)
                if parts.path != listener.path:
                    self.send_error(404)  # a favicon, a probe: not an answer
                    return
                answer = check_answer(parse_qs(parts.query), listener.state)
                if answer.foreign:
                    listener.ignore(answer.error or "")
                    self._page(
                        400,
                        "Login failed",
                        "This answer is not for the login in progress, which is still "
                        "waiting: use the link wrap printed.",
                    )
                    return
                if not listener.claim(answer):
                    self._page(409, "Already answered", "This login has already ended.")
                    return
                try:
                    if answer.error:
                        self._page(400, "Login failed", answer.error)
                    else:
                        self._page(
                            200,
                            "Logged in",
                            "You are logged in. You can close this tab and return to the terminal.",
                        )
                finally:
                    listener.done.set()

            def _page(self, status: int, title: str, text: str) -> None:
                body = PAGE.format(title=html.escape(title), text=html.escape(text))
                data = body.encode("utf-8")
                self.send_response(status)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                self.send_header("Connection", "close")
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: object) -> None:
                pass

        return Handler


def run(
    *,
    authorize_base: str,
    client_id: str,
    scopes: str,
    extra: dict[str, str],
    ports: Sequence[int],
    path: str,
    timeout: float,
    paste_mode: bool,
    open_browser: Callable[[str], bool],
    say: Callable[[str], None],
    read_line: Callable[[float], str | None],
    clock: Callable[[], float] = time.monotonic,
) -> tuple[str, str, str]:
    """Run one login; return (code, redirect_uri, verifier) or raise LoginError."""
    pkce = Pkce()
    listener = Listener(ports, path, pkce.state, say)
    try:
        url = authorize_url(
            authorize_base,
            client_id=client_id,
            redirect_uri=listener.redirect_uri,
            scopes=scopes,
            pkce=pkce,
            extra=extra,
        )
        listener.start()
        if paste_mode:
            _explain_paste(url, say)
        else:
            threading.Thread(target=lambda: _open(open_browser, url, say), daemon=True).start()
        # Whichever comes first: the browser reaching the listener, or a pasted answer.
        deadline = clock() + timeout
        while not listener.done.is_set():
            remaining = deadline - clock()
            if remaining <= 0:
                what = "nothing was pasted" if paste_mode else "no answer from the browser"
                raise LoginError(f"{what} within {timeout:.0f} s")
            if not paste_mode:
                listener.done.wait(min(remaining, 0.1))
                continue
            line = read_line(min(remaining, 0.2))
            if line is not None and line.strip():
                answer = check_answer(_pasted(line), pkce.state)
                if answer.foreign:
                    say(
                        "that answer is not for this login (its state does not match): paste "
                        "the address the browser ended on after the link above"
                    )
                    continue
                return _result(answer, listener, pkce)
        assert listener.answer is not None
        return _result(listener.answer, listener, pkce)
    finally:
        listener.close()


def _result(answer: Answer, listener: Listener, pkce: Pkce) -> tuple[str, str, str]:
    if answer.error:
        raise LoginError(answer.error)
    assert answer.code is not None
    return answer.code, listener.redirect_uri, pkce.verifier


def _open(open_browser: Callable[[str], bool], url: str, say: Callable[[str], None]) -> None:
    say("opening your browser to log in; if it does not open, visit:")
    say(url)
    # Any browser failure leaves the printed URL to use.
    with contextlib.suppress(Exception):
        open_browser(url)


def _explain_paste(url: str, say: Callable[[str], None]) -> None:
    say("open this URL in a browser on any machine and log in:")
    say(url)
    say("then paste the address the browser ended on (or code#state) here:")


def _pasted(line: str) -> dict[str, list[str]]:
    line = line.strip()
    if "?" in line:
        return parse_qs(urlsplit(line).query)
    if "#" in line:
        code, _, state = line.partition("#")
        return {"code": [code], "state": [state]}
    raise LoginError("that is neither the redirect address nor code#state")
