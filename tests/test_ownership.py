"""Write-back keeps what the file was (its owner, group, BOM, CRLF, non-ASCII text) and never
strands a user: a backup that fails does not stop the write, a file wrap cannot give back to its
owner is not replaced, and wrap's own directories are private and its own."""

from __future__ import annotations

import json
import os
import stat
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import Home
from token_server import TokenServer

from launcher import state, store
from launcher.lock import locked

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


def _as_nobody(action: Callable[[], str]) -> str:
    """ACTION's outcome, run in a child process as the user nobody."""
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child reports through the pipe
        os.close(read)
        try:
            os.setgid(NOBODY)
            os.setuid(NOBODY)
            outcome = action()
        except BaseException as e:
            outcome = f"{type(e).__name__}: {e}"
        os.write(write, outcome.encode())
        os._exit(0)
    os.close(write)
    with os.fdopen(read, "rb") as f:
        outcome = f.read().decode()
    os.waitpid(pid, 0)
    return outcome


@needs_root
def test_no_lock_beside_the_file_and_a_state_dir_of_another_user_is_one_error(
    shared_dir: Path,
) -> None:
    creds_dir = shared_dir / "claude"
    creds_dir.mkdir(mode=0o755)  # root's: nobody cannot make the lock beside the file
    state_dir = shared_dir / "state"
    state_dir.mkdir()
    state_dir.chmod(0o777)  # anyone may write in it, but it is root's, not nobody's

    def lock() -> str:
        with locked(
            str(creds_dir / ".credentials.json"),
            timeout=1,
            fallback=str(state_dir / "locks" / "x.lock"),
        ):
            return "locked"

    outcome = _as_nobody(lock)
    assert outcome.startswith("WriteError: cannot create the lock file beside")
    assert f"{state_dir} belongs to another user (uid 0)" in outcome
    assert list(state_dir.iterdir()) == []


@needs_root
def test_a_user_who_cannot_give_the_file_back_does_not_replace_it(shared_dir: Path) -> None:
    # Root's file in a directory anyone may write: nobody could replace it, but it would then
    # be nobody's, and root's own programs locked out. The write is refused, nothing left.
    target = shared_dir / "creds.json"
    target.write_bytes(b'{"old": true}\n')
    target.chmod(0o666)

    def write() -> str:
        store.atomic_write(str(target), b'{"new": true}\n', warn=lambda _: None)
        return "wrote"

    outcome = _as_nobody(write)
    assert outcome.startswith("WriteError: cannot write")
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


def test_a_symlink_at_a_vendor_lock_record_is_not_followed(home: Home, server: TokenServer) -> None:
    # Claude's own lock is held (a live CLI): wrap compares it with its record of a lock it
    # made. A record planted as a link to a FIFO must not hang that look; the wait ends.
    from launcher.vendors import claude

    data = home.write_claude(time.time() + 3600)
    env = home.env(WRAP_TOKEN_URL=server.url, WRAP_LOCK_TIMEOUT="1s")
    locks = claude.ClaudeLocks(
        str(home.creds),
        env,
        timeout=1,
        record_dir=str(_state(home) / "locks"),
        clock=time.monotonic,
        sleep=time.sleep,
    )
    record = Path(locks.primary.record or "")
    record.parent.mkdir(parents=True)
    fifo = home.root / "fifo"
    os.mkfifo(fifo)
    record.symlink_to(fifo)
    Path(locks.primary.path).mkdir()
    r = home.wrap("refresh", env=env)
    assert r.returncode == 5
    assert "held by another refresh" in r.stdout + r.stderr
    assert home.creds.read_bytes() == data
    assert server.refresh_requests == 0
