"""Reading the Claude file: every bad input is a state with one line naming the path, and is
never written to."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import FIXTURES, Home

from launcher import credentials, profiles
from launcher.errors import CredentialsError


def test_reads_fixture() -> None:
    data = (FIXTURES / "claude.credentials.json").read_bytes()
    doc, creds = credentials.parse(profiles.CLAUDE, data, "x")
    assert creds.access_token == doc["claudeAiOauth"]["accessToken"]
    assert creds.refresh_token == doc["claudeAiOauth"]["refreshToken"]
    assert creds.expires_at == 1765759825.273


def test_repr_hides_tokens() -> None:
    creds = credentials.Credentials("secret-access", "secret-refresh", 1.0)
    assert "secret" not in repr(creds)


def _oauth(**fields: object) -> bytes:
    oauth: dict[str, object] = {"accessToken": "a", "refreshToken": "r", "expiresAt": 1}
    for k, v in fields.items():
        if v is _DROP:
            del oauth[k]
        else:
            oauth[k] = v
    return json.dumps({"claudeAiOauth": oauth}).encode()


_DROP = object()

BAD_CONTENT = [
    ("empty file", b"", "invalid", "is empty"),
    ("whitespace", b"  \n", "invalid", "is empty"),
    ("not json", b"{not json", "invalid", "not valid JSON"),
    ("truncated", b'{"claudeAiOauth": {"accessToken": "a"', "invalid", "not valid JSON"),
    ("array", b"[1, 2]", "invalid", "not an object"),
    ("string", b'"token"', "invalid", "not an object"),
    ("no oauth section", b'{"other": 1}', "missing", "no access token"),
    ("oauth is a list", b'{"claudeAiOauth": []}', "invalid", "claudeAiOauth is not an object"),
    ("no access token", _oauth(accessToken=_DROP), "missing", "no access token"),
    ("empty access token", _oauth(accessToken=""), "missing", "no access token"),
    ("access token number", _oauth(accessToken=5), "invalid", "accessToken is not a string"),
    ("refresh token number", _oauth(refreshToken=5), "invalid", "refreshToken is not a string"),
    ("expiresAt string", _oauth(expiresAt="1765759825273"), "invalid", "expiresAt is not a number"),
    ("expiresAt bool", _oauth(expiresAt=True), "invalid", "expiresAt is not a number"),
    ("expiresAt negative", _oauth(expiresAt=-1), "invalid", "out of range"),
    ("expiresAt absurd", _oauth(expiresAt=10**20), "invalid", "out of range"),
    (
        "expiresAt NaN",
        b'{"claudeAiOauth": {"accessToken": "a", "expiresAt": NaN}}',
        "invalid",
        "out of range",
    ),
]


@pytest.mark.parametrize(
    ("case", "data", "state", "text"), BAD_CONTENT, ids=[c[0] for c in BAD_CONTENT]
)
def test_bad_content_states(case: str, data: bytes, state: str, text: str) -> None:
    with pytest.raises(CredentialsError) as e:
        credentials.parse(profiles.CLAUDE, data, "/some/path.json")
    assert e.value.state == state
    assert text in str(e.value)
    assert "/some/path.json" in str(e.value)


def test_missing_expiry_is_fresh_forever() -> None:
    _, creds = credentials.parse(profiles.CLAUDE, _oauth(expiresAt=_DROP), "p")
    assert creds.expires_at is None


def test_null_refresh_token_is_none() -> None:
    _, creds = credentials.parse(profiles.CLAUDE, _oauth(refreshToken=None), "p")
    assert creds.refresh_token is None


# Through the real launcher: the program still launches, one line names the file, nothing is
# written, and --check-only reports the state with exit 4.


def _setup_content(data: bytes) -> Callable[[Home], None]:
    def setup(home: Home) -> None:
        home.creds.write_bytes(data)
        home.creds.chmod(0o600)

    return setup


def _setup_dir(home: Home) -> None:
    home.creds.mkdir()


def _setup_unreadable(home: Home) -> None:
    home.write_claude(1.0)
    home.creds.chmod(0o000)


def _setup_missing(home: Home) -> None:
    pass


LAUNCH_CASES = [
    ("missing file", _setup_missing, "missing", "no credentials file at"),
    ("empty", _setup_content(b""), "invalid", "is empty"),
    ("not json", _setup_content(b"{oops"), "invalid", "not valid JSON"),
    ("array", _setup_content(b"[]"), "invalid", "not an object"),
    ("expiresAt string", _setup_content(_oauth(expiresAt="soon")), "invalid", "not a number"),
    ("directory", _setup_dir, "invalid", "is a directory"),
]
if os.geteuid() != 0:  # root reads a 0000 file anyway
    LAUNCH_CASES.append(("unreadable", _setup_unreadable, "invalid", "permission denied"))


@pytest.mark.parametrize(
    ("case", "setup", "state", "text"), LAUNCH_CASES, ids=[c[0] for c in LAUNCH_CASES]
)
def test_bad_file_launches_anyway_and_is_not_written(
    home: Home, case: str, setup: Callable[[Home], None], state: str, text: str
) -> None:
    setup(home)
    before = _snapshot(home.creds)
    r = home.wrap_claude("--version", env=home.env(WRAP_TOKEN_URL="http://127.0.0.1:9/token"))
    assert r.returncode == 0, r.stderr
    assert [rep["argv"] for rep in home.reports()] == [["--version"]]
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    assert text in lines[0]
    assert str(home.creds) in lines[0]
    assert _snapshot(home.creds) == before
    assert not list(home.claude_dir.glob(".*.wrap.lock"))

    check = home.wrap("--check-only", "--json")
    assert check.returncode == 4
    assert json.loads(check.stdout)["state"] == state


def test_strict_refuses_to_launch_with_invalid_file(home: Home) -> None:
    home.creds.write_bytes(b"{oops")
    r = home.wrap_claude(env=home.env(WRAP_STRICT="1"))
    assert r.returncode == 4
    assert home.reports() == []
    assert "not launching" in r.stderr


def _snapshot(path: Path) -> tuple[object, ...]:
    if path.is_dir():
        return ("dir", sorted(os.listdir(path)))
    if not path.exists():
        return ("absent",)
    st = path.stat()
    os.chmod(path, 0o600)
    try:
        data = path.read_bytes()
    finally:
        os.chmod(path, st.st_mode & 0o7777)
    return (data, st.st_mode, st.st_mtime_ns, st.st_ino)
