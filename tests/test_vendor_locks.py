"""The CLIs' own locks as wrap takes them: Claude Code's lock directories, Qwen Code's lock file."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import FakeTime

from launcher import vendors
from launcher.lock import LockTimeout
from launcher.vendors import claude, held


def claude_locks(home: Path, ft: FakeTime | None = None, timeout: float = 5) -> vendors.Locks:
    ft = ft or FakeTime()
    return vendors.locks_for(
        "claude",
        str(home / ".claude" / ".credentials.json"),
        {"HOME": str(home)},
        timeout=timeout,
        record_dir=str(home / "state" / "locks"),
        clock=ft.clock,
        sleep=ft.sleep,
    )


@pytest.fixture
def chome(tmp_path: Path) -> Path:
    (tmp_path / ".claude").mkdir(mode=0o700)
    return tmp_path


def test_claude_refresh_takes_the_primary_then_the_legacy_lock(chome: Path) -> None:
    with claude_locks(chome).refresh():
        assert (chome / ".claude" / ".oauth_refresh.lock").is_dir()
        assert (chome / ".claude.lock").is_dir()
    assert not (chome / ".claude" / ".oauth_refresh.lock").exists()
    assert not (chome / ".claude.lock").exists()


def test_legacy_lock_is_beside_the_resolved_config_dir(tmp_path: Path) -> None:
    real = tmp_path / "real-claude"
    real.mkdir()
    (tmp_path / ".claude").symlink_to(real)
    with claude_locks(tmp_path).refresh():
        assert (tmp_path / "real-claude.lock").is_dir()
        assert (real / ".oauth_refresh.lock").is_dir()


def test_lock_dir_is_the_config_dir_for_a_symlinked_credentials_file(tmp_path: Path) -> None:
    elsewhere = tmp_path / "shared"
    elsewhere.mkdir()
    (elsewhere / "creds.json").write_text("{}")
    (tmp_path / ".claude").mkdir()
    (tmp_path / ".claude" / ".credentials.json").symlink_to(elsewhere / "creds.json")
    env = {"HOME": str(tmp_path)}
    assert claude.lock_dir(str(tmp_path / ".claude" / ".credentials.json"), env) == str(
        tmp_path / ".claude"
    )


def test_config_dir_follows_claudes_variables(tmp_path: Path) -> None:
    env = {"HOME": str(tmp_path), "CLAUDE_CONFIG_DIR": "/c", "CLAUDE_SECURESTORAGE_CONFIG_DIR": ""}
    assert claude.config_dir(env) == "/c"
    env["CLAUDE_SECURESTORAGE_CONFIG_DIR"] = "/s"
    assert claude.config_dir(env) == "/s"
    assert claude.config_dir({"HOME": str(tmp_path)}) == str(tmp_path / ".claude")


def test_a_live_claude_refresh_lock_makes_wrap_wait_and_give_up(chome: Path) -> None:
    lock_dir = chome / ".claude" / ".oauth_refresh.lock"
    lock_dir.mkdir()
    ft = FakeTime()
    with pytest.raises(LockTimeout, match="Claude Code"), claude_locks(chome, ft).refresh():
        pass
    assert ft.t >= 5
    assert lock_dir.is_dir()  # not ours to remove
    assert not (chome / ".claude.lock").exists()


def test_a_lock_a_live_claude_of_any_checked_version_could_hold_is_not_taken(chome: Path) -> None:
    # 2.1.218 calls a lock stale only after 60 s; one touched 59 s ago may be live.
    lock_dir = chome / ".claude" / ".oauth_refresh.lock"
    lock_dir.mkdir()
    old = time.time() - 59
    os.utime(lock_dir, (old, old))
    with pytest.raises(LockTimeout), claude_locks(chome, timeout=1).refresh():
        pass


def test_claude_lock_older_than_60s_is_taken_over(chome: Path) -> None:
    lock_dir = chome / ".claude" / ".oauth_refresh.lock"
    lock_dir.mkdir()
    old = time.time() - 61
    os.utime(lock_dir, (old, old))
    ft = FakeTime()
    with claude_locks(chome, ft).refresh():
        assert lock_dir.stat().st_mtime > old + 30
    assert ft.t == 0


def test_contended_legacy_lock_releases_the_primary_while_waiting(chome: Path) -> None:
    legacy = chome / ".claude.lock"
    legacy.mkdir()
    primary = chome / ".claude" / ".oauth_refresh.lock"
    seen: list[bool] = []
    ft = FakeTime()

    def sleep(s: float) -> None:
        seen.append(primary.exists())
        ft.sleep(s)

    locks = vendors.locks_for(
        "claude",
        str(chome / ".claude" / ".credentials.json"),
        {"HOME": str(chome)},
        timeout=2,
        record_dir=str(chome / "state"),
        clock=ft.clock,
        sleep=sleep,
    )
    with pytest.raises(LockTimeout, match="legacy"), locks.refresh():
        pass
    assert seen
    assert not any(seen)
    assert not primary.exists()


def test_wrap_touches_the_locks_it_holds(chome: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(held, "TOUCH_EVERY", 0.05)
    monkeypatch.setattr(held, "HEARTBEAT", held.Heartbeat())
    primary = chome / ".claude" / ".oauth_refresh.lock"
    with claude_locks(chome).refresh():
        old = time.time() - 30
        os.utime(primary, (old, old))
        os.utime(chome / ".claude.lock", (old, old))
        deadline = time.monotonic() + 10
        while primary.stat().st_mtime < old + 20 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert primary.stat().st_mtime > old + 20
        assert (chome / ".claude.lock").stat().st_mtime > old + 20


def test_a_lock_left_by_a_killed_wrap_is_taken_over_at_once(chome: Path) -> None:
    script = (
        "import os, sys\n"
        "from launcher import vendors\n"
        "import time\n"
        "locks = vendors.locks_for('claude', sys.argv[1], {'HOME': sys.argv[2]}, timeout=1,\n"
        "    record_dir=sys.argv[3], clock=time.monotonic, sleep=time.sleep)\n"
        "with locks.refresh():\n"
        "    os._exit(0)  # dies holding it, like kill -9\n"
    )
    creds = chome / ".claude" / ".credentials.json"
    subprocess.run(
        [sys.executable, "-c", script, str(creds), str(chome), str(chome / "state" / "locks")],
        check=True,
    )
    assert (chome / ".claude" / ".oauth_refresh.lock").is_dir()
    assert (chome / ".claude.lock").is_dir()
    ft = FakeTime()
    with claude_locks(chome, ft).refresh():
        pass
    assert ft.t == 0
    assert not (chome / ".claude" / ".oauth_refresh.lock").exists()
    assert not (chome / ".claude.lock").exists()


def test_sigterm_while_holding_releases_claudes_locks(chome: Path) -> None:
    script = (
        "import sys, time\n"
        "from launcher import vendors\n"
        "locks = vendors.locks_for('claude', sys.argv[1], {'HOME': sys.argv[2]}, timeout=1,\n"
        "    record_dir=sys.argv[3], clock=time.monotonic, sleep=time.sleep)\n"
        "with locks.refresh():\n"
        "    print('held', flush=True)\n"
        "    time.sleep(60)\n"
    )
    creds = chome / ".claude" / ".credentials.json"
    proc = subprocess.Popen(
        [sys.executable, "-c", script, str(creds), str(chome), str(chome / "state")],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "held"
    assert (chome / ".claude.lock").is_dir()
    proc.send_signal(signal.SIGTERM)
    proc.communicate(timeout=10)
    assert not (chome / ".claude" / ".oauth_refresh.lock").exists()
    assert not (chome / ".claude.lock").exists()


def test_storage_write_lock_is_held_around_a_write(chome: Path) -> None:
    with claude_locks(chome).write():
        assert (chome / ".claude" / ".storage-write.lock").is_dir()
    assert not (chome / ".claude" / ".storage-write.lock").exists()


def test_other_profiles_take_no_vendor_lock(tmp_path: Path) -> None:
    locks = vendors.locks_for(
        None,
        str(tmp_path / "x.json"),
        {"HOME": str(tmp_path)},
        timeout=1,
        record_dir=str(tmp_path / "rec"),
        clock=time.monotonic,
        sleep=time.sleep,
    )
    with locks.refresh(), locks.write():
        assert list(tmp_path.iterdir()) == []


def file_locks(kind: str, name: str, tmp_path: Path, ft: FakeTime) -> vendors.Locks:
    """The locks of KIND's CLI for a credentials file NAME in TMP_PATH, on a fake clock."""
    return vendors.locks_for(
        kind,
        str(tmp_path / name),
        {"HOME": str(tmp_path)},
        timeout=3,
        record_dir=str(tmp_path / "rec"),
        clock=ft.clock,
        sleep=ft.sleep,
    )


def qwen_locks(tmp_path: Path, ft: FakeTime) -> vendors.Locks:
    return file_locks("qwen", "oauth_creds.json", tmp_path, ft)


def test_qwen_lock_is_an_exclusive_file_with_an_id_removed_after(tmp_path: Path) -> None:
    with qwen_locks(tmp_path, FakeTime()).refresh():
        content = (tmp_path / "oauth_creds.lock").read_text()
        assert len(content) >= 16
    assert not (tmp_path / "oauth_creds.lock").exists()


def test_a_live_qwen_lock_makes_wrap_wait(tmp_path: Path) -> None:
    (tmp_path / "oauth_creds.lock").write_text("someone-else")
    ft = FakeTime()
    with pytest.raises(LockTimeout, match="Qwen"), qwen_locks(tmp_path, ft).refresh():
        pass
    assert (tmp_path / "oauth_creds.lock").read_text() == "someone-else"


def test_a_qwen_lock_a_live_qwen_of_any_checked_version_could_hold_is_not_taken(
    tmp_path: Path,
) -> None:
    # 0.24 calls a lock abandoned only after 35 s; one touched 34 s ago may be live.
    lock_file = tmp_path / "oauth_creds.lock"
    lock_file.write_text("someone-else")
    old = time.time() - 34
    os.utime(lock_file, (old, old))
    with pytest.raises(LockTimeout, match="Qwen"), qwen_locks(tmp_path, FakeTime()).refresh():
        pass
    assert lock_file.read_text() == "someone-else"


def test_held_locks_are_touched_well_within_the_shortest_staleness() -> None:
    # Claude Code 2.1.197 and Qwen Code 0.12 call a lock stale after 10 s: a loaded machine may
    # miss a touch or two, so at most every 2 s (the touch itself is tested above, faster).
    assert held.TOUCH_EVERY <= 2.0


def test_a_qwen_lock_past_35s_is_abandoned(tmp_path: Path) -> None:
    lock_file = tmp_path / "oauth_creds.lock"
    lock_file.write_text("dead")
    old = time.time() - 36
    os.utime(lock_file, (old, old))
    ft = FakeTime()
    with qwen_locks(tmp_path, ft).refresh():
        assert lock_file.read_text() != "dead"
    assert ft.t == 0


def test_a_qwen_lock_replaced_by_another_holder_is_not_removed(tmp_path: Path) -> None:
    lock_file = tmp_path / "oauth_creds.lock"
    with qwen_locks(tmp_path, FakeTime()).refresh():
        lock_file.write_text("taken-over")
    assert lock_file.read_text() == "taken-over"


def codex_locks(tmp_path: Path, ft: FakeTime) -> vendors.Locks:
    return file_locks("codex", "auth.json", tmp_path, ft)


def test_wrap_writes_codexs_file_under_codexs_two_flocks(tmp_path: Path) -> None:
    import fcntl

    ft = FakeTime()
    with codex_locks(tmp_path, ft).write():
        for name in ("auth.lock", "auth.json.lock"):
            with open(tmp_path / name, "rb") as other, pytest.raises(BlockingIOError):
                fcntl.flock(other, fcntl.LOCK_EX | fcntl.LOCK_NB)
    assert ft.t == 0
    with open(tmp_path / "auth.lock", "rb") as other:
        fcntl.flock(other, fcntl.LOCK_EX | fcntl.LOCK_NB)  # released after


def test_a_codex_write_in_progress_makes_wrap_wait_then_write_anyway(tmp_path: Path) -> None:
    import fcntl

    ft = FakeTime()
    with open(tmp_path / "auth.lock", "w") as codex_holds:
        fcntl.flock(codex_holds, fcntl.LOCK_EX)
        with codex_locks(tmp_path, ft).write():
            pass
    assert ft.t >= 10  # waited for codex, then wrote rather than lose a rotated token


def test_codex_refresh_takes_no_lock_before_sending(tmp_path: Path) -> None:
    with codex_locks(tmp_path, FakeTime()).refresh():
        assert list(tmp_path.iterdir()) == []
