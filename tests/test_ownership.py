"""Write-back keeps what the file was (its owner, group, BOM, CRLF, non-ASCII text) and never
strands a user: a backup that fails does not stop the write, a file wrap cannot give back to its
owner is not replaced, and wrap's own directories are private and its own."""

from __future__ import annotations

import json
import os
import shutil
import stat
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import Home
from token_server import TokenServer

from launcher import state, store
from launcher.errors import WriteError

NOBODY = 65534
needs_root = pytest.mark.skipif(
    os.geteuid() != 0, reason="needs root: to give a file to another user (CI runs as root)"
)


def _refresh(home: Home, server: TokenServer, **env: str) -> tuple[int, str]:
    r = home.wrap("refresh", env=home.env(WRAP_TOKEN_URL=server.url, **env))
    return r.returncode, r.stderr


def _state(home: Home) -> Path:
    return home.root / "state" / "wrap"


@needs_root
def test_root_writing_a_users_file_keeps_its_owner_and_group(
    home: Home, server: TokenServer
) -> None:
    home.write_claude(time.time() + 3600)
    os.chown(home.creds, NOBODY, NOBODY)
    code, err = _refresh(home, server)
    assert code == 0, err
    st = home.creds.stat()
    assert (st.st_uid, st.st_gid) == (NOBODY, NOBODY)
    assert stat.S_IMODE(st.st_mode) == 0o600
    assert home.read()["claudeAiOauth"]["refreshToken"] == "test-refresh-1"


@pytest.fixture
def shared_dir() -> Iterator[Path]:
    # Outside pytest's 0700 tmp root, so that another user can reach it.
    d = Path(tempfile.mkdtemp(prefix="wrap-own-", dir="/tmp"))
    d.chmod(0o777)
    try:
        yield d
    finally:
        shutil.rmtree(d)


@needs_root
def test_a_user_who_cannot_give_the_file_back_does_not_replace_it(shared_dir: Path) -> None:
    # Root's file in a directory anyone may write: nobody could replace it, but it would then
    # be nobody's, and root's own programs locked out. The write is refused, nothing left.
    target = shared_dir / "creds.json"
    target.write_bytes(b'{"old": true}\n')
    target.chmod(0o666)
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child reports through the pipe
        os.close(read)
        outcome = b"wrote"
        try:
            os.setgid(NOBODY)
            os.setuid(NOBODY)
            store.atomic_write(str(target), b'{"new": true}\n', warn=lambda _: None)
        except WriteError as e:
            outcome = str(e).encode()
        except BaseException as e:
            outcome = repr(e).encode()
        os.write(write, outcome)
        os._exit(0)
    os.close(write)
    with os.fdopen(read, "rb") as f:
        outcome = f.read().decode()
    os.waitpid(pid, 0)
    assert "belongs to uid 0" in outcome
    assert "the file was left as it was" in outcome
    assert target.read_bytes() == b'{"old": true}\n'
    assert target.stat().st_uid == 0
    assert [p.name for p in shared_dir.iterdir()] == ["creds.json"]  # no temp file left


def test_a_backup_that_cannot_be_made_does_not_stop_the_write(
    home: Home, server: TokenServer
) -> None:
    home.write_claude(time.time() + 3600)
    blocked = home.root / "not-a-dir"
    blocked.write_text("a file where the state directory would be")
    code, err = _refresh(home, server, XDG_STATE_HOME=str(blocked))
    assert code == 0, err
    assert home.read()["claudeAiOauth"]["refreshToken"] == "test-refresh-1"
    [line] = err.splitlines()
    assert "could not back up" in line
    assert "writing it anyway" in line


@needs_root
def test_a_state_dir_of_another_user_is_refused_in_one_line(
    home: Home, server: TokenServer
) -> None:
    home.write_claude(time.time() + 3600)
    _state(home).mkdir(parents=True)
    os.chown(_state(home), NOBODY, NOBODY)
    code, err = _refresh(home, server)
    assert code == 0, err
    assert home.read()["claudeAiOauth"]["refreshToken"] == "test-refresh-1"
    [line] = err.splitlines()
    assert f"{_state(home)} belongs to another user (uid {NOBODY})" in line
    # Nothing of wrap's kept in it: no record, no backup.
    assert [p for p in _state(home).rglob("*") if not p.is_dir()] == []


def test_group_readable_credentials_are_written_back_0600_with_a_warning(
    home: Home, server: TokenServer
) -> None:
    home.write_claude(time.time() + 3600)
    home.creds.chmod(0o644)
    code, err = _refresh(home, server)
    assert code == 0, err
    assert stat.S_IMODE(home.creds.stat().st_mode) == 0o600
    [line] = err.splitlines()
    assert "(mode 644); writing it 0600" in line


def test_stale_temp_files_are_pruned_fresh_ones_kept(home: Home, server: TokenServer) -> None:
    home.write_claude(time.time() + 3600)
    stale = home.claude_dir / "..credentials.json.k3j2h1.tmp"
    recent = home.claude_dir / "..credentials.json.a9b8c7.tmp"
    other = home.claude_dir / ".other.json.zzz.tmp"
    for p in (stale, recent, other):
        p.write_text("a token a crashed write left behind")
    two_hours_ago = time.time() - 7200
    for p in (stale, other):
        os.utime(p, (two_hours_ago, two_hours_ago))
    code, err = _refresh(home, server)
    assert code == 0, err
    assert not stale.exists()
    assert recent.exists()  # may be another process's write in progress
    assert other.exists()  # not this file's


def test_bom_crlf_non_ascii_and_a_lone_surrogate_survive_write_back(
    home: Home, server: TokenServer
) -> None:
    doc = {
        "claudeAiOauth": {
            "accessToken": "old-access",
            "refreshToken": "old-refresh",
            "expiresAt": int((time.time() + 3600) * 1000),
        },
        "name": "Zoë ✓",
        "cut": "\ud83d",
    }
    text = json.dumps(doc, indent=2, ensure_ascii=False)
    text = text.replace('"\ud83d"', '"\\ud83d"').replace("\n", "\r\n") + "\r\n"
    home.creds.write_bytes(b"\xef\xbb\xbf" + text.encode("utf-8"))
    code, err = _refresh(home, server)
    assert code == 0, err
    data = home.creds.read_bytes()
    assert data.startswith(b"\xef\xbb\xbf{\r\n")
    assert data.count(b"\n") == data.count(b"\r\n")
    assert data.endswith(b"}\r\n")
    assert "Zoë ✓".encode() in data
    assert b'"cut": "\\ud83d"' in data
    after = json.loads(data)
    assert after["claudeAiOauth"]["refreshToken"] == "test-refresh-1"
    assert after["cut"] == "\ud83d"


def test_state_dirs_are_0700_whatever_the_umask(home: Home, server: TokenServer) -> None:
    home.write_claude(time.time() + 3600)
    old = os.umask(0)
    try:
        code, err = _refresh(home, server)
    finally:
        os.umask(old)
    assert code == 0, err
    made = [home.root / "state", *(p for p in (home.root / "state").rglob("*") if p.is_dir())]
    assert len(made) >= 5  # state, wrap, credentials, backups, backups/<key>
    assert {oct(stat.S_IMODE(p.stat().st_mode)) for p in made} == {oct(0o700)}


def test_a_symlink_at_the_lock_path_is_not_followed(home: Home, server: TokenServer) -> None:
    data = home.write_claude(time.time() + 3600)
    victim = home.root / "victim"
    (home.claude_dir / ".credentials.json.wrap.lock").symlink_to(victim)
    code, err = _refresh(home, server)
    assert code == 5
    assert "is a symlink, which wrap never follows" in err
    assert not victim.exists()
    assert home.creds.read_bytes() == data
    assert server.refresh_requests == 0


def test_a_symlink_at_the_state_record_path_is_not_followed(
    home: Home, server: TokenServer
) -> None:
    home.write_claude(time.time() + 3600)
    record = Path(state.state_path(str(_state(home)), str(home.creds)))
    record.parent.mkdir(parents=True)
    fifo = home.root / "fifo"
    os.mkfifo(fifo)  # read through the link, a FIFO would hang the launch
    record.symlink_to(fifo)
    code, err = _refresh(home, server)
    assert code == 0, err
    assert stat.S_ISFIFO(fifo.stat().st_mode)
    assert not record.is_symlink()  # replaced by wrap's own record, not written through
    assert json.loads(record.read_text())["refresh_count"] == 1
