"""Many launches, one refresh: real concurrent wrap-claude processes against a rotating server."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

from conftest import BIN, Home
from stress_concurrency import launch_many, run_stress, unexpected
from token_server import TokenServer

# Holds wrap's refresh lock on a file until told to let go on stdin.
HOLDER = """
import sys
from launcher import lock
with lock.locked(sys.argv[1], timeout=5, fallback=sys.argv[1] + ".fb"):
    print("held", flush=True)
    sys.stdin.readline()
"""


def test_simultaneous_launches_make_exactly_one_refresh(tmp_path: Path) -> None:
    n = 16
    r = run_stress(n, tmp_path)
    assert r.failures == []
    assert r.requests == 1
    assert r.launched == n
    assert r.saw_new_token == n
    assert r.file_ok


def test_a_failing_server_is_asked_by_one_launch_only(home: Home, server: TokenServer) -> None:
    n = 8
    home.write_claude(time.time() + 3600)
    server.faults = ["503-text"] * 100  # an answer that says nothing was processed: retried
    env = home.env(WRAP_TOKEN_URL=server.url)
    results = launch_many(n, env)
    assert [code for code, _ in results] == [0] * n  # all launched anyway
    assert server.refresh_requests == 4  # one launch's attempts; the others saw its failure
    assert len(home.reports()) == n
    for _, err in results:
        assert "could not refresh ~/.claude/.credentials.json" in err
    # Exactly one launch asked (and retried); each of the others was told it had just failed,
    # rather than being kept from asking by some other rule.
    told = [err for _, err in results if "another launch just tried and failed" in err]
    asked = [err for _, err in results if err not in told and "HTTP 503" in err]
    assert (len(asked), len(told)) == (1, n - 1)
    json.loads(home.creds.read_text())


def test_a_launch_that_waits_says_so_and_the_stress_harness_does_not_call_that_a_failure(
    home: Home, server: TokenServer
) -> None:
    home.write_claude(time.time() + 3600)
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(home.creds)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdin is not None
    assert holder.stdout is not None
    try:
        assert holder.stdout.readline().strip() == "held"
        waiter = subprocess.Popen(
            [str(BIN / "wrap-claude"), "x"],
            env=home.env(WRAP_TOKEN_URL=server.url),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert waiter.stderr is not None
        notice = waiter.stderr.readline()  # the event: it has waited past 2 s and said so
        holder.stdin.write("release\n")
        holder.stdin.flush()
        rest = waiter.stderr.read()
        assert waiter.wait(timeout=60) == 0
        waiter.stderr.close()
    finally:
        holder.kill()
        holder.wait()
        holder.stdin.close()
        holder.stdout.close()
    assert notice.startswith("wrap: waiting for another process to finish refreshing")
    assert rest == ""
    assert unexpected(notice + rest) == []
    assert unexpected(notice + "wrap: could not refresh the token\n") == [
        "wrap: could not refresh the token"
    ]
    assert server.refresh_requests == 1


def test_lock_is_beside_the_credentials_file(home: Home, server: TokenServer) -> None:
    home.write_claude(time.time() + 3600)
    home.wrap_claude(env=home.env(WRAP_TOKEN_URL=server.url))
    lock_file = home.claude_dir / ".credentials.json.wrap.lock"
    assert lock_file.exists()
    assert lock_file.stat().st_mode & 0o777 == 0o600
