"""Crash safety: kill -9 at random moments of a refresh, and a full or read-only disk."""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import BIN, Home
from token_server import TokenServer

RUNS = 200


def test_kill_9_at_any_moment_leaves_the_whole_old_or_the_whole_new_file(home: Home) -> None:
    seed = random.randrange(1 << 30)
    rng = random.Random(seed)
    with TokenServer(rotate=False) as server:
        env = home.env(WRAP_TOKEN_URL=server.url)
        original = home.write_claude(time.time() + 3600)
        old_doc = json.loads(original)
        # One undisturbed run tells how long a whole refresh-and-exec takes here.
        start = time.perf_counter()
        assert home.wrap_claude(env=env).returncode == 0
        span = time.perf_counter() - start
        outcomes: Counter[str] = Counter()
        for run in range(RUNS):
            home.creds.write_bytes(original)
            proc = subprocess.Popen(
                [str(BIN / "wrap-claude")],
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            time.sleep(rng.uniform(0, span * 1.2))
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            data = home.creds.read_bytes()
            try:
                doc = json.loads(data)
            except ValueError:
                pytest.fail(f"run {run} (seed {seed}): the file does not parse: {data[:80]!r}")
            if data == original:
                outcomes["old"] += 1
                continue
            oauth = doc["claudeAiOauth"]
            assert oauth["accessToken"].startswith("test-access-"), f"seed {seed}"
            for key in ("scopes", "subscriptionType", "rateLimitTier", "refreshToken"):
                assert oauth[key] == old_doc["claudeAiOauth"][key], f"seed {seed}"
            assert doc["mcpOAuth"] == old_doc["mcpOAuth"]
            outcomes["new"] += 1
    # Kills landed both before and after the write, or the loop proved nothing.
    assert outcomes["old"] > 0, (outcomes, seed)
    assert outcomes["new"] > 0, (outcomes, seed)


@pytest.fixture
def small_fs(tmp_path: Path) -> Iterator[Path]:
    """A real 256 KiB tmpfs, so a full disk and a read-only one are the kernel's, not a mock."""
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    r = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=256k,mode=0700", "tmpfs", str(mnt)],
        capture_output=True,
        check=False,
    )
    if r.returncode != 0 or shutil.which("mount") is None:
        pytest.skip("needs permission to mount a tmpfs")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)


def _fill(directory: Path) -> None:
    fd = os.open(directory / "filler", os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        while True:
            os.write(fd, b"\0" * 4096)
    except OSError:
        pass
    finally:
        os.close(fd)
    # Leave no room at all, block or inode.
    for i in range(10000):
        try:
            (directory / f"f{i}").write_bytes(b"x")
        except OSError:
            break


def _recovered(home: Home) -> list[Path]:
    return sorted((home.root / "state" / "wrap" / "recovery").glob("*.json"))


def test_full_disk_keeps_original_and_saves_rotated_token_to_recovery_file(
    home: Home, server: TokenServer, small_fs: Path
) -> None:
    creds = small_fs / ".credentials.json"
    home.creds.unlink(missing_ok=True)
    original = home.write_claude(time.time() + 3600)
    creds.write_bytes(original)
    creds.chmod(0o600)
    _fill(small_fs)
    r = home.wrap_claude(env=home.env(WRAP_TOKEN_URL=server.url, WRAP_CREDENTIALS=str(creds)))
    assert r.returncode == 0  # launched anyway
    assert creds.read_bytes() == original
    assert "no space left" in r.stderr
    [kept] = _recovered(home)
    assert str(kept) in r.stderr
    assert kept.stat().st_mode & 0o777 == 0o600
    assert json.loads(kept.read_text())["claudeAiOauth"]["refreshToken"] == "test-refresh-1"
    assert "test-refresh-1" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


def test_read_only_directory_keeps_original_and_saves_rotated_token(
    home: Home, server: TokenServer, small_fs: Path
) -> None:
    creds = small_fs / ".credentials.json"
    original = home.write_claude(time.time() + 3600)
    creds.write_bytes(original)
    creds.chmod(0o600)
    subprocess.run(["mount", "-o", "remount,ro", str(small_fs)], check=True)
    r = home.wrap_claude(env=home.env(WRAP_TOKEN_URL=server.url, WRAP_CREDENTIALS=str(creds)))
    assert r.returncode == 0
    assert creds.read_bytes() == original
    assert "read-only" in r.stderr
    [kept] = _recovered(home)
    assert json.loads(kept.read_text())["claudeAiOauth"]["refreshToken"] == "test-refresh-1"


def test_backups_are_private_and_bounded(home: Home, server: TokenServer) -> None:
    home.write_claude(time.time() + 300 * 86400)
    env = home.env(WRAP_TOKEN_URL=server.url)
    for _ in range(8):
        assert home.wrap("--refresh-token", env=env).returncode == 0
    backups = list((home.root / "state" / "wrap" / "backups").iterdir())
    [folder] = backups
    files = sorted(folder.iterdir())
    assert len(files) == 5
    assert all(f.stat().st_mode & 0o777 == 0o600 for f in files)
    assert folder.stat().st_mode & 0o777 == 0o700
    for f in files:
        json.loads(f.read_text())
