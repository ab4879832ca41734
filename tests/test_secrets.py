"""Token values a server echoes back never reach a terminal, the state file or JSON output;
neither do the terminal escape sequences a server's text may carry."""

from __future__ import annotations

import io
import json
import sys
import time
from pathlib import Path

import pexpect
import pytest
from conftest import BIN, Home
from token_server import TokenServer

from launcher import redact

SECRET = "sk-ant-ort01-SECRETvalue0123456789abcdef"


def _no_secret(text: str, *secrets: str) -> None:
    for secret in (SECRET, *secrets):
        assert secret not in text
    assert "\x1b" not in text
    assert "\x07" not in text


def _state_records(home: Home) -> str:
    records = sorted((home.root / "state" / "wrap" / "credentials").glob("*.json"))
    assert records, "no state record was written"
    return "".join(p.read_text() for p in records)


def test_a_quoted_refresh_token_is_redacted_everywhere(home: Home) -> None:
    home.write_claude(time.time() + 3600, refresh=SECRET)
    with TokenServer() as server:
        server.faults = ["echo_token"] * 4
        env = home.env(WRAP_TOKEN_URL=server.url)
        launched = home.wrap_claude("-p", "x", env=env)
        forced = home.wrap("--refresh-token", "-v", env=env)
        one = home.wrap("refresh", env=env)
        every = home.wrap("refresh", "--all", env=env)
        status = home.wrap("status", "--json", env=env)
        assert server.refresh_requests == 4  # each command did ask (and was answered)
    assert launched.returncode == 0, launched.stderr
    assert home.reports()
    assert "<redacted> is not valid" in launched.stderr
    assert forced.returncode == 5
    assert "<redacted>" in forced.stderr
    assert one.returncode == 5
    assert "<redacted>" in one.stderr
    assert every.returncode == 5
    assert "<redacted>" in every.stdout
    for r in (launched, forced, one, every, status):
        _no_secret(r.stdout + r.stderr)
    record = _state_records(home)
    assert "<redacted> is not valid" in json.loads(record)["last_error"]
    _no_secret(record)


def test_a_received_refresh_token_quoted_in_an_error_is_redacted_and_kept(home: Home) -> None:
    home.write_claude(time.time() + 3600, refresh=SECRET)
    new = "echoed-new-refresh-token"
    with TokenServer() as server:
        server.faults = ["echo_new"]
        r = home.wrap("refresh", env=home.env(WRAP_TOKEN_URL=server.url))
    assert r.returncode == 5
    assert "issued <redacted>, but try again later" in r.stderr
    _no_secret(r.stdout + r.stderr, new)
    _no_secret(_state_records(home), new)
    # The token the server did send is saved, not thrown away with the error.
    assert home.read()["claudeAiOauth"]["refreshToken"] == new


def test_escapes_in_a_problem_line_are_stripped(home: Home, tmp_path: Path) -> None:
    # A file name is outside text too: one holding an escape sequence cannot drive the terminal.
    odd = tmp_path / "creds\x1b[31m.json"
    r = home.wrap_claude(env=home.env(WRAP_CREDENTIALS=str(odd)))
    assert r.returncode == 0
    assert home.reports()
    assert "creds.json" in r.stderr
    _no_secret(r.stderr)


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        (f"bad token {SECRET}!", "bad token <redacted>!"),
        # An escape inside the token does not hide it from redaction.
        (f"bad {SECRET[:10]}\x1b[1m{SECRET[10:]}", "bad <redacted>"),
        ("two\nlines\tand\x00nul\x7f", "two lines andnul"),
        ("title \x1b]0;owned\x07 clear \x1b[2J bell \x07 c1 \x9b31m", "title  clear  bell  c1 "),
        ("ünïcødé ✓ stays", "ünïcødé ✓ stays"),
        ("short ok", "short ok"),
    ],
)
def test_redact_text(message: str, expected: str) -> None:
    redact.add(SECRET, "ok", "", None, 12345)
    try:
        assert redact.text(message) == expected
    finally:
        redact.forget()


def test_an_authorization_code_quoted_by_the_server_is_redacted(home: Home) -> None:
    # A browser login whose code exchange fails with a description that quotes the code.
    code = "authorization-code-0123456789"
    browser = home.bin / "redirecting-browser"
    browser.write_text(
        f"#!{sys.executable}\n"
        "import sys, urllib.parse, urllib.request\n"
        "q = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(sys.argv[1]).query))\n"
        f"back = q['redirect_uri'] + '?' + urllib.parse.urlencode({{'code': {code!r}, "
        "'state': q['state']})\n"
        "urllib.request.urlopen(back).read()\n"
    )
    browser.chmod(0o755)
    with TokenServer() as server:
        server.faults = ["echo_token"]
        cfg = home.root / "config" / "wrap"
        cfg.mkdir(parents=True)
        (cfg / "config.toml").write_text(
            "[profiles.web]\n"
            'paths = ["~/.web/creds.json"]\n'
            'access_token = "access_token"\nexpiry = "expiry_date"\nexpiry_unit = "ms"\n'
            f'token_url = "{server.url}"\nauthorize_url = "http://127.0.0.1:9/authorize"\n'
            'client_id = "web"\nbody = "form"\nlogin_method = "browser"\n'
        )
        child = pexpect.spawn(
            str(BIN / "wrap"),
            ["login", "web"],
            env=home.env(BROWSER=str(browser), DISPLAY=":0"),
            timeout=30,
            encoding="utf-8",
        )
        screen = io.StringIO()
        child.logfile_read = screen
        child.expect(pexpect.EOF)
        child.close()
        assert server.refresh_requests == 1
    assert child.exitstatus == 5
    assert "<redacted> is not valid" in screen.getvalue()
    _no_secret(screen.getvalue(), code)


def test_keepalive_lines_records_and_notices_carry_no_quoted_token(home: Home) -> None:
    # Rejected once (the record of the pass keeps the error), then failing three passes in a
    # row with a description quoting the token it sent (the notice quotes the last error).
    home.write_claude(time.time() + 3600, refresh=SECRET)
    new = "echoed-new-refresh-token"
    runs = []
    with TokenServer() as server:
        env = home.env(WRAP_TOKEN_URL=server.url)
        server.faults = ["echo_token"]
        runs.append(home.wrap("keepalive", env=env))
        home.write_claude(time.time() + 3600, refresh=SECRET)  # logged in again
        server.faults = ["echo_new"] * 3
        for _ in range(3):
            runs.append(home.wrap("keepalive", env=env))
        assert server.refresh_requests == 4
    assert "<redacted>" in runs[-1].stdout
    for r in runs:
        assert r.returncode == 5
        _no_secret(r.stdout + r.stderr, new)
    for kept in (home.root / "state" / "wrap").rglob("*.json"):
        if "backups" not in kept.parts and "recovery" not in kept.parts:
            _no_secret(kept.read_text(), new)
