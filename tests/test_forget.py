"""`wrap forget`: says what it removes, removes what wrap keeps, never the credentials."""

from __future__ import annotations

import fcntl
import os
import threading
import time
from pathlib import Path

from conftest import DAY, Home
from token_server import TokenServer

from launcher import lock


def _refreshed(home: Home) -> bytes:
    """A claude account wrap has refreshed once: state, a backup and lock files exist."""
    home.write_claude(time.time() + 3600)
    with TokenServer() as server:
        r = home.wrap("--refresh-token", env=home.env(WRAP_TOKEN_URL=server.url))
    assert r.returncode == 0, r.stderr
    return home.creds.read_bytes()


def _kept(home: Home) -> list[Path]:
    state = home.root / "state" / "wrap"
    beside = [home.claude_dir / ".credentials.json.wrap.lock"]
    return [p for p in [*state.rglob("*"), *beside] if p.is_file()]


def test_forget_lists_then_removes_state_backups_and_locks_but_not_the_file(home: Home) -> None:
    data = _refreshed(home)
    before = _kept(home)
    assert any("backups" in str(p) for p in before)
    assert any(p.name == ".credentials.json.wrap.lock" for p in before)
    assert any("credentials" in p.parts[-2] for p in before)

    r = home.wrap("forget", "claude")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0].startswith("removing what wrap keeps (")
    listed = "\n".join(lines[1:])
    assert str(home.claude_dir / ".credentials.json.wrap.lock") in listed
    assert "backups" in listed
    assert lines[-1] == "the credentials themselves are untouched"
    assert _kept(home) == []
    assert home.creds.read_bytes() == data

    again = home.wrap("forget", "claude")
    assert again.returncode == 0
    assert again.stdout.startswith("nothing to remove")


def test_dry_run_removes_nothing(home: Home) -> None:
    _refreshed(home)
    before = _kept(home)
    r = home.wrap("forget", "--dry-run")
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("would remove what wrap keeps (")
    assert _kept(home) == before


def test_forget_all_keeps_recovery_copies_and_says_so(home: Home) -> None:
    _refreshed(home)
    recovery = home.root / "state" / "wrap" / "recovery"
    recovery.mkdir(mode=0o700)
    (recovery / "credentials.json.20260101T000000Z.recovered.json").write_text("{}")
    r = home.wrap("forget", "--all")
    assert r.returncode == 0, r.stderr
    assert f"kept: {recovery}" in r.stdout
    assert [p.name for p in _kept(home)] == ["credentials.json.20260101T000000Z.recovered.json"]


def test_an_unknown_name_is_a_usage_error(home: Home) -> None:
    home.write_claude(time.time() + 30 * DAY)
    r = home.wrap("forget", "nosuch")
    assert r.returncode == 2
    assert "no account named 'nosuch'" in r.stderr


def test_a_lock_held_by_a_refresh_is_left_in_place(home: Home) -> None:
    _refreshed(home)
    held = lock.lock_path(str(home.creds))
    fd = os.open(held, os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        r = home.wrap("forget", "claude")
    finally:
        os.close(fd)
    assert r.returncode == 1
    assert "held by a running refresh or login; left in place" in r.stderr
    assert os.path.exists(held)


def test_a_waiter_whose_lock_file_was_forgotten_locks_the_new_one(tmp_path: Path) -> None:
    # What `wrap forget` does to a lock file (unlink it while holding it) must not leave a
    # waiter holding a lock on a file nobody else can find.
    target = tmp_path / "creds.json"
    target.write_text("{}")
    path = lock.lock_path(str(target))
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    fcntl.flock(fd, fcntl.LOCK_EX)
    polling = threading.Event()
    inside = threading.Event()
    leave = threading.Event()

    def waiting() -> bool:
        polling.set()  # it holds a descriptor of the old file and found it locked
        return False

    def waiter() -> None:
        fallback = str(tmp_path / "fb")
        with lock.locked(str(target), timeout=30, fallback=fallback, settled=waiting):
            inside.set()
            leave.wait(30)

    thread = threading.Thread(target=waiter)
    thread.start()
    try:
        assert polling.wait(30)
        os.unlink(path)
        os.close(fd)
        assert inside.wait(30)
        probe = os.open(path, os.O_RDWR)  # it exists again, and the waiter holds it
        try:
            try:
                fcntl.flock(probe, fcntl.LOCK_EX | fcntl.LOCK_NB)
                raise AssertionError("the waiter holds a lock on an unlinked file")
            except BlockingIOError:
                pass
        finally:
            os.close(probe)
    finally:
        leave.set()
        thread.join(30)


def test_forget_all_leaves_a_lock_held_inside_the_state_directory(home: Home) -> None:
    # keepalive/pass.lock keeps two passes from overlapping: a running pass keeps it.
    _refreshed(home)
    folder = home.root / "state" / "wrap" / "keepalive"
    folder.mkdir(mode=0o700, exist_ok=True)
    held = folder / "pass.lock"
    (folder / "last-pass.json").write_text("{}")
    fd = os.open(held, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        r = home.wrap("forget", "--all")
    finally:
        os.close(fd)
    assert r.returncode == 1
    assert held.exists()
    assert not (folder / "last-pass.json").exists()
    assert "left in place" in r.stderr


def test_forget_keeps_the_memory_of_a_refresh_token_that_got_no_answer(home: Home) -> None:
    # A 502 may follow a rotation: wrap remembers not to send that token again. Forgetting the
    # account's state must not forget that, or the next launch replays a spent token.
    data = home.write_claude(time.time() + 3600)
    with TokenServer() as server:
        server.faults = ["502"]
        env = home.env(WRAP_TOKEN_URL=server.url)
        assert "HTTP 502" in home.wrap_claude(env=env).stderr
        r = home.wrap("forget", "claude")
        assert r.returncode == 0, r.stderr
        assert "remembers a refresh token that may have rotated" in r.stdout
        r = home.wrap("forget", "--all", "--yes")
        assert "remembers a refresh token that may have rotated" in r.stdout
        assert "got no answer" in home.wrap_claude(env=env).stderr
        assert server.refresh_requests == 1  # never replayed
        assert server.reused == 0
    assert home.creds.read_bytes() == data
