"""Many launches, one refresh: real concurrent wrap-claude processes against a rotating server."""

from __future__ import annotations

import json
import time
from pathlib import Path

from conftest import Home
from stress_concurrency import launch_many, run_stress
from token_server import TokenServer

from launcher import refresh


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
    server.faults = ["503-text"] * 100  # retried within one launch: it cannot have rotated
    env = home.env(WRAP_TOKEN_URL=server.url)
    results = launch_many(n, env)
    assert [code for code, _ in results] == [0] * n  # all launched anyway
    assert server.refresh_requests == refresh.MAX_ATTEMPTS
    assert len(home.reports()) == n
    for _, err in results:
        assert "could not refresh the token" in err
    json.loads(home.creds.read_text())


def test_lock_is_beside_the_credentials_file(home: Home, server: TokenServer) -> None:
    home.write_claude(time.time() + 3600)
    home.wrap_claude(env=home.env(WRAP_TOKEN_URL=server.url))
    lock_file = home.claude_dir / ".credentials.json.wrap.lock"
    assert lock_file.exists()
    assert lock_file.stat().st_mode & 0o777 == 0o600
