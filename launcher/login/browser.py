"""Browser login: authorization code with PKCE (S256) and a loopback redirect (RFC 8252).

The listener binds 127.0.0.1 only, takes the first answer on the redirect path, checks its
state, shows the browser a small page, and closes. Without a display or over SSH, the URL is
printed and the user pastes back the redirect URL (or `code#state`) instead.
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
    __slots__ = ("code", "error")

    def __init__(self, code: str | None, error: str | None) -> None:
        self.code = code
        self.error = error


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
            "the answer's state does not match this login (a stale or forged "
            "redirect); start the login again",
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
    """One-shot loopback HTTP server for the redirect."""

    def __init__(self, ports: Sequence[int], path: str, state: str) -> None:
        self.path = path
        self.state = state
        self.answer: Answer | None = None
        self.done = threading.Event()
        self.server = self._bind(ports)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self._serve, daemon=True)

    @property
    def redirect_uri(self) -> str:
        return f"http://127.0.0.1:{self.port}{self.path}"

    def _bind(self, ports: Sequence[int]) -> http.server.HTTPServer:
        handler = self._handler()
        for port in [*ports, 0]:
            try:
                return http.server.HTTPServer(("127.0.0.1", port), handler)
            except OSError:
                continue
        raise LoginError("cannot listen on 127.0.0.1 for the login redirect")  # pragma: no cover

    def _serve(self) -> None:
        while not self.done.is_set():
            self.server.handle_request()

    def start(self) -> None:
        self.server.timeout = 0.2
        self.thread.start()

    def close(self) -> None:
        self.done.set()
        if self.thread.is_alive():
            self.thread.join(timeout=2)
        self.server.server_close()

    def _handler(self) -> type[http.server.BaseHTTPRequestHandler]:
        listener = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                parts = urlsplit(self.path)
                if parts.path != listener.path or listener.done.is_set():
                    self.send_error(404)
                    return
                answer = check_answer(parse_qs(parts.query), listener.state)
                if answer.error:
                    body = PAGE.format(title="Login failed", text=html.escape(answer.error))
                    status = 400
                else:
                    text = "You are logged in. You can close this tab and return to the terminal."
                    body = PAGE.format(title="Logged in", text=text)
                    status = 200
                data = body.encode("utf-8")
                self.send_response(status)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                self.send_header("Connection", "close")
                self.end_headers()
                self.wfile.write(data)
                listener.answer = answer
                listener.done.set()

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
    listener = Listener(ports, path, pkce.state)
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
                answer = _pasted(line)
                return _result(check_answer(answer, pkce.state), listener, pkce)
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
