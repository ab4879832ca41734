"""The cross-process refresh lock and Claude Code's own lock directory."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from launcher import lock, vendor_locks
from launcher.lock import LockTimeout

HOLDER = """
import sys, time
from launcher import lock
with lock.locked(sys.argv[1], timeout=5, fallback=sys.argv[1] + ".fb"):
    print("held", flush=True)
    time.sleep(60)
"""


class FakeTime:
    def __init__(self) -> None:
        self.t = 0.0

    def clock(self) -> float:
        return self.t

    def sleep(self, s: float) -> None:
        self.t += s


def _hold(path: Path) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(path)], stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "held"
    return proc


def _stop(proc: subprocess.Popen[str]) -> None:
    proc.kill()
    proc.wait()
    assert proc.stdout is not None
    proc.stdout.close()


def test_waiter_is_told_after_two_seconds_and_gives_up_at_bound(tmp_path: Path) -> None:
    creds = tmp_path / "c.json"
    holder = _hold(creds)
    try:
        ft = FakeTime()
        notices: list[float] = []
        with (
            pytest.raises(LockTimeout, match="WRAP_LOCK_TIMEOUT"),
            lock.locked(
                str(creds),
                timeout=30,
                fallback=str(tmp_path / "fb"),
                on_wait=lambda: notices.append(ft.t),
                clock=ft.clock,
                sleep=ft.sleep,
            ),
        ):
            pass
        assert len(notices) == 1
        assert 2.0 <= notices[0] < 2.2
        assert ft.t >= 30
    finally:
        _stop(holder)


def test_lock_of_a_killed_process_is_free_at_once(tmp_path: Path) -> None:
    creds = tmp_path / "c.json"
    holder = _hold(creds)
    os.kill(holder.pid, signal.SIGKILL)
    _stop(holder)
    ft = FakeTime()
    with lock.locked(
        str(creds), timeout=1, fallback=str(tmp_path / "fb"), clock=ft.clock, sleep=ft.sleep
    ):
        assert ft.t == 0


def test_lock_file_lives_beside_the_real_file_and_is_private(tmp_path: Path) -> None:
    real = tmp_path / "real" / "c.json"
    real.parent.mkdir()
    real.write_text("{}")
    link = tmp_path / "link.json"
    link.symlink_to(real)
    with lock.locked(str(link), timeout=1, fallback=str(tmp_path / "fb")):
        lock_file = real.parent / ".c.json.wrap.lock"
        assert lock_file.exists()
        assert lock_file.stat().st_mode & 0o777 == 0o600


def test_claude_lock_dir_held_while_inside(tmp_path: Path) -> None:
    creds = tmp_path / ".credentials.json"
    lock_dir = tmp_path / ".oauth_refresh.lock"
    with vendor_locks.vendor_lock("claude", str(creds), timeout=1, record=str(tmp_path / "rec")):
        assert lock_dir.is_dir()
    assert not lock_dir.exists()


def test_other_profiles_take_no_vendor_lock(tmp_path: Path) -> None:
    with vendor_locks.vendor_lock(
        None, str(tmp_path / "x.json"), timeout=1, record=str(tmp_path / "rec")
    ):
        assert list(tmp_path.iterdir()) == []


def test_claude_lock_waits_for_a_live_holder(tmp_path: Path) -> None:
    (tmp_path / ".oauth_refresh.lock").mkdir()
    ft = FakeTime()
    with (
        pytest.raises(LockTimeout, match="Claude Code"),
        vendor_locks.vendor_lock(
            "claude",
            str(tmp_path / ".credentials.json"),
            timeout=5,
            record=str(tmp_path / "state" / "rec"),
            clock=ft.clock,
            sleep=ft.sleep,
        ),
    ):
        pass
    assert (tmp_path / ".oauth_refresh.lock").is_dir()  # not ours to remove


def test_claude_lock_older_than_60s_is_taken_over(tmp_path: Path) -> None:
    lock_dir = tmp_path / ".oauth_refresh.lock"
    lock_dir.mkdir()
    old = time.time() - 61
    os.utime(lock_dir, (old, old))
    ft = FakeTime()
    with vendor_locks.vendor_lock(
        "claude",
        str(tmp_path / ".credentials.json"),
        timeout=5,
        record=str(tmp_path / "state" / "rec"),
        clock=ft.clock,
        sleep=ft.sleep,
    ):
        assert lock_dir.stat().st_mtime > old + 30
    assert ft.t == 0


def test_claude_lock_left_by_a_killed_wrap_is_taken_over_at_once(tmp_path: Path) -> None:
    creds = tmp_path / ".credentials.json"
    record = tmp_path / "state" / "rec"
    script = (
        "import os, sys\n"
        "from launcher import vendor_locks\n"
        "with vendor_locks.vendor_lock('claude', sys.argv[1], timeout=1, record=sys.argv[2]):\n"
        "    os._exit(0)  # dies holding it, like kill -9\n"
    )
    subprocess.run([sys.executable, "-c", script, str(creds), str(record)], check=True)
    assert (tmp_path / ".oauth_refresh.lock").is_dir()
    ft = FakeTime()
    with vendor_locks.vendor_lock(
        "claude", str(creds), timeout=5, record=str(record), clock=ft.clock, sleep=ft.sleep
    ):
        pass
    assert ft.t == 0
    assert not (tmp_path / ".oauth_refresh.lock").exists()
    assert not record.exists()
