"""The cross-process refresh lock wrap processes share (vendors' locks: test_vendor_locks.py)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import FakeTime

from launcher import lock
from launcher.lock import LockTimeout

HOLDER = """
import sys, time
from launcher import lock
with lock.locked(sys.argv[1], timeout=5, fallback=sys.argv[1] + ".fb"):
    print("held", flush=True)
    time.sleep(60)
"""


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
        assert 30 <= ft.t < 30.2  # gives up at the bound, not later
    finally:
        _stop(holder)


def test_lock_of_a_killed_process_is_free_at_once(tmp_path: Path) -> None:
    creds = tmp_path / "c.json"
    holder = _hold(creds)
    # While the holder lives, the lock is held: a waiter gives up at its bound.
    ft = FakeTime()
    with (
        pytest.raises(LockTimeout),
        lock.locked(
            str(creds), timeout=1, fallback=str(tmp_path / "fb"), clock=ft.clock, sleep=ft.sleep
        ),
    ):
        pass
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
