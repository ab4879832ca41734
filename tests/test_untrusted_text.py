"""Text wrap did not write (a server's answer, a fleet machine's error, an account name from a
file) reaches the terminal, the state, notices and crash reports only redacted and cleaned: a
token is masked before any cut, a run of one is masked too, and no escape sequence passes."""

from __future__ import annotations

import io
import json
import sys
import threading
import time
from collections.abc import Iterator

import hostile_server as hs
import pytest
from conftest import Home, one_line

from launcher import config, gate, redact
from launcher.errors import RefreshError
from launcher.log import Log

T0 = time.time()
# As long as Claude's refresh tokens (103 characters).
TOKEN = "sk-ant-ort01-" + "Q7xv9KpL2mWz4RtY8nBcD3fGhJ6sA1eU5iO0" * 2 + "zzzzzzzzzzzzzzzzzz"


@pytest.fixture(autouse=True)
def _forget() -> Iterator[None]:
    redact.forget()
    yield
    redact.forget()


def _runs(text: str, secret: str = TOKEN, length: int = redact.RUN) -> list[str]:
    """Every piece of SECRET of LENGTH characters that TEXT holds."""
    return [
        secret[i : i + length]
        for i in range(len(secret) - length + 1)
        if secret[i : i + length] in text
    ]


def _records(home: Home) -> str:
    records = sorted((home.root / "state" / "wrap" / "credentials").glob("*.json"))
    return "".join(p.read_text() for p in records)


def test_a_token_quoted_after_a_long_description_is_masked_not_cut(home: Home) -> None:
    # The server quotes the refresh token it refuses after 150 characters of prose: cut first
    # at 200 and redacted after, 50 characters of the token were left to print.
    home.write_claude(T0 + 3600, refresh=TOKEN)
    evil = {"error": "invalid_grant", "error_description": "x" * 150 + " " + TOKEN}
    with hs.serving(hs.answer(hs.response(400, evil))) as server:
        r = home.wrap_claude(env=home.env(WRAP_TOKEN_URL=server.url))
    line = one_line(r.stderr)
    assert "invalid_grant" in line
    assert _runs(line) == []
    assert "last_error" in _records(home)
    assert _runs(_records(home)) == []


def test_a_run_of_a_known_token_is_masked_wherever_it_was_cut() -> None:
    redact.add(TOKEN)
    half = TOKEN[20:80]
    assert redact.text(f"refused {half}; try again") == "refused <redacted>; try again"
    assert redact.text(f"a {TOKEN[: redact.RUN - 1]} b") == f"a {TOKEN[: redact.RUN - 1]} b"


def test_a_line_is_cleaned_while_other_threads_learn_tokens() -> None:
    """`wrap refresh --all` refreshes in worker threads: one cleans a line (its error for the
    state file, a -v line) while another learns the tokens of its answer. The cleaning must
    not raise (a set that grows under its loop), or the failure it was recording is lost."""
    redact.add(TOKEN)
    message = "y" * 2000
    errors: list[BaseException] = []
    learned = threading.Event()

    def clean() -> None:
        try:
            while not learned.is_set():
                assert redact.text(message) == message
        except BaseException as e:
            errors.append(e)

    old = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads as often as CPython allows
    worker = threading.Thread(target=clean)
    try:
        worker.start()
        for i in range(5000):
            redact.add(f"learned-token-{i:08d}")
            if errors:
                break
    finally:
        learned.set()
        worker.join()
        sys.setswitchinterval(old)
    assert errors == []


def test_a_crash_report_carries_no_token(home: Home) -> None:
    # A bug while handling a refused refresh: the chained RefreshError quotes the token.
    home.write_claude(T0 + 3600, refresh=TOKEN)
    redact.add(TOKEN)

    def broken(*args: object, **kwargs: object) -> None:
        try:
            raise RefreshError(f"the server refused {TOKEN} (invalid_grant)")
        except RefreshError as e:
            raise RuntimeError(f"while handling the refusal of {TOKEN[:60]}") from e

    err = io.StringIO()
    settings = config.resolve({"token_url": "http://127.0.0.1:9/t"}, home.env())
    code = gate.gate(
        settings, env=home.env(), now=lambda: T0, log=Log(stream=err), program="claude",
        renew=broken,
    )  # fmt: skip
    assert code is None
    assert "unexpected error (RuntimeError" in one_line(err.getvalue())
    [report] = sorted((home.root / "state" / "wrap" / "crashes").iterdir())
    text = report.read_text()
    assert "Traceback" in text
    assert "RefreshError: the server refused <redacted> (invalid_grant)" in text
    assert _runs(text) == []


def test_server_text_is_redacted_before_it_is_cut() -> None:
    # Only a few characters of the token are left at the cut: too few for a run to be
    # recognised, so only redacting first keeps them out.
    from launcher.refresh import grant

    redact.add(TOKEN)
    quoted = grant.clean("x" * (grant.MAX_QUOTED - 10) + " " + TOKEN)
    assert TOKEN[:8] not in quoted
    assert len(quoted) <= grant.MAX_QUOTED


# OSC 52 writes the clipboard, OSC 8 makes a link, OSC 0 sets the window title; the 8-bit
# introducer too. click strips only CSI sequences, and only when stdout is not a terminal.
HOSTILE = "ann\x1b]52;c;ZXZpbA==\x07\x1b]8;;https://evil.test/\x1b\\ie\x1b]8;;\x1b\\\x9d0;pwned\x07"


def _no_escapes(text: str) -> None:
    for bad in ("\x1b]", "\x07", "\x9d", "\x1b\\"):
        assert bad not in text


def test_wrap_status_cleans_every_cell(home: Home) -> None:
    doc = json.loads(home.write_claude(T0 + 30 * 86400))
    doc["email"] = HOSTILE
    home.write(doc)
    r = home.wrap("status")
    assert r.returncode == 0, r.stderr
    _no_escapes(r.stdout)
    assert "annie" in r.stdout  # what was printable of it stays
