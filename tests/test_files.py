"""What reaches the disk: a login leaves a file it cannot parse alone, text is kept as it was
written (non-ASCII, '+00:00'), a failed write leaves no temporary file holding a new token, and
a write is made durable (the file and its directory are fsynced)."""

from __future__ import annotations

import errno
import io
import json
import os
import sys
from pathlib import Path
from typing import Any

import pexpect
import pytest
from conftest import BIN, FIXTURES, Home, claude_doc
from test_login_setup import _configure
from token_server import TokenServer

from launcher import config, gate
from launcher.log import Log

T0 = 1_800_000_000.0


def _gate(home: Home, url: str, now: float = T0, **flags: str) -> str:
    err = io.StringIO()
    settings = config.resolve({"token_url": url, **flags}, home.env())
    code = gate.gate(settings, env=home.env(), now=lambda: now, log=Log(stream=err), program="c")
    assert code is None
    return err.getvalue()


def test_a_login_never_overwrites_a_file_it_cannot_parse(home: Home) -> None:
    _configure(home)
    home.creds.write_bytes(b'{"claudeAiOauth": {"accessToken": "half-writ')
    before = home.creds.read_bytes()
    runs = home.root / "runs"
    screen = io.StringIO()
    child = pexpect.spawn(
        str(BIN / "wrap"),
        ["login"],
        env=home.env(FAKE_SETUP_RUNS=str(runs)),
        timeout=30,
        encoding="utf-8",
    )
    child.logfile_read = screen
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 5, screen.getvalue()
    assert "move it away to log in again" in screen.getvalue()
    assert home.creds.read_bytes() == before
    assert not runs.exists()  # refused before the setup command ran


def test_non_ascii_text_is_written_as_it_was_not_escaped(home: Home, server: TokenServer) -> None:
    doc = claude_doc(T0 + 3600)
    doc["account"] = {"displayName": "Jürgen Groß ✓", "org": "日本"}
    home.creds.write_text(json.dumps(doc, indent=2, ensure_ascii=False), encoding="utf-8")
    _gate(home, server.url)
    raw = home.creds.read_bytes()
    assert json.loads(raw)["claudeAiOauth"]["accessToken"] == "test-access-1"
    assert "Jürgen Groß ✓".encode() in raw
    assert "日本".encode() in raw
    assert b"\\u" not in raw


@pytest.mark.parametrize("zone", ["+00:00", "Z"])
def test_an_iso_expiry_keeps_its_zone_suffix(home: Home, zone: str) -> None:
    path = home.root / ".aws" / "sso" / "cache" / "kiro-auth-token.json"
    path.parent.mkdir(parents=True)
    doc = json.loads((FIXTURES / "kiro-auth-token.social.json").read_text())
    doc["expiresAt"] = "2026-01-08T06:30:59.065" + zone
    path.write_text(json.dumps(doc, indent=2))
    with TokenServer() as server:
        server.seed(doc["refreshToken"])
        url = server.url.replace("/token", "/{region}/refreshToken")
        err = io.StringIO()
        settings = config.resolve({"profile": "kiro", "token_url": url}, home.env())
        code = gate.gate(
            settings,
            env=home.env(),
            now=lambda: 1767853859 - 86400,
            log=Log(stream=err),
            program="kiro",
        )
        assert (code, err.getvalue()) == (None, "")
        assert server.refresh_requests == 1
    written = json.loads(path.read_text())["expiresAt"]
    assert written == "2026-01-07T14:30:59.000" + zone


def _fd_path(fd: int) -> str:
    return os.readlink(f"/proc/self/fd/{fd}")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/fd")
def test_the_file_and_its_directory_are_fsynced_around_the_replace(
    home: Home, server: TokenServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    home.write_claude(T0 + 3600)
    events: list[tuple[str, str]] = []
    moved: list[str] = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd: int) -> None:
        events.append(("fsync", _fd_path(fd)))
        real_fsync(fd)

    def replace(src: Any, dst: Any, **kw: Any) -> None:
        events.append(("replace", str(dst)))
        moved.append(str(src))
        real_replace(src, dst, **kw)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "replace", replace)
    _gate(home, server.url)
    assert home.read()["claudeAiOauth"]["accessToken"] == "test-access-1"
    target, directory = str(home.creds), str(home.claude_dir)
    at = events.index(("replace", target))
    # The new content is on the disk before it takes the name, and the rename after.
    source = moved[[e for e in events if e[0] == "replace"].index(("replace", target))]
    assert Path(source).parent == home.claude_dir
    assert events[at - 1] == ("fsync", source)
    assert ("fsync", directory) in events[at + 1 :]


@pytest.mark.parametrize("failing", ["fsync", "replace"])
def test_a_failed_write_leaves_no_temporary_file_with_the_new_token(
    home: Home, server: TokenServer, monkeypatch: pytest.MonkeyPatch, failing: str
) -> None:
    data = home.write_claude(T0 + 3600)
    real_fsync, real_replace = os.fsync, os.replace

    def full(where: str) -> bool:
        return Path(where).parent == home.claude_dir

    def fsync(fd: int) -> None:
        if failing == "fsync" and full(_fd_path(fd)):
            raise OSError(errno.ENOSPC, "No space left on device")
        real_fsync(fd)

    def replace(src: Any, dst: Any, **kw: Any) -> None:
        if failing == "replace" and full(str(dst)):
            raise OSError(errno.ENOSPC, "No space left on device")
        real_replace(src, dst, **kw)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "replace", replace)
    err = _gate(home, server.url)
    assert "no space left on the device" in err
    assert server.refresh_requests == 1  # a new token was received, and could not be written
    assert home.creds.read_bytes() == data
    assert sorted(p.name for p in home.claude_dir.iterdir() if p.name.endswith(".tmp")) == []
    assert "test-refresh-1" not in b"".join(
        p.read_bytes() for p in home.claude_dir.iterdir() if p.is_file()
    ).decode(errors="replace")


@pytest.mark.parametrize("end", [b"\n", b""])
def test_the_final_newline_is_kept_as_the_file_had_it(
    home: Home, server: TokenServer, end: bytes
) -> None:
    home.creds.write_bytes(json.dumps(claude_doc(T0 + 3600), indent=2).encode() + end)
    _gate(home, server.url)
    raw = home.creds.read_bytes()
    assert json.loads(raw)["claudeAiOauth"]["accessToken"] == "test-access-1"
    assert raw.endswith(b"}" + end)
