"""Living beside the real CLIs: every decision and every refresh token sent come from a read
made under the CLI's own locks, and the file is re-checked just before it is replaced.

The CLIs here are played by the test itself, following the lock protocols of
launcher/vendors/ (the real programs are driven in test_real_clis.py).
"""

from __future__ import annotations

import fcntl
import json
import os
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
from conftest import BIN, FIXTURES, Home, claude_doc
from token_server import TokenServer

from launcher import profiles, state, store

DAY = 86400


def _wait_for_wrap_lock(lock_file: Path, proc: subprocess.Popen[str]) -> None:
    """Return once a wrap process holds its own flock on LOCK_FILE (it is inside renew)."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate()
        if lock_file.exists():
            with open(lock_file, "rb") as f:
                try:
                    fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    return
                fcntl.flock(f, fcntl.LOCK_UN)
        time.sleep(0.01)
    raise AssertionError("wrap never took its lock")


def _start(home: Home, *args: str, env: dict[str, str], prog: str = "wrap-claude") -> Any:
    return subprocess.Popen(
        [str(BIN / prog), *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
    )


def test_wrap_waits_for_claudes_refresh_and_sends_nothing_after_it(
    home: Home, server: TokenServer
) -> None:
    now = time.time()
    home.write_claude(now + 60)
    claude_lock = home.claude_dir / ".oauth_refresh.lock"
    claude_lock.mkdir()  # claude is refreshing
    proc = _start(home, env=home.env(WRAP_TOKEN_URL=server.url, WRAP_THRESHOLD="1h"))
    _wait_for_wrap_lock(home.claude_dir / ".credentials.json.wrap.lock", proc)
    # Claude's refresh lands: the server has spent old-refresh, the file holds the new chain.
    server.valid = {"claude-new"}
    server.used.add("old-refresh")
    theirs = home.write(claude_doc(now + 8 * 3600, access="claude-acc", refresh="claude-new"))
    claude_lock.rmdir()
    _out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert server.refresh_requests == 0
    assert home.creds.read_bytes() == theirs
    assert [r["argv"] for r in home.reports()] == [[]]


def test_a_write_by_another_program_during_the_request_is_kept(
    home: Home, server: TokenServer
) -> None:
    home.write_claude(time.time() + 60)

    def claude_adds_an_mcp_login() -> None:
        doc = home.read()
        doc["mcpOAuth"]["new-server|1"] = {"serverName": "new-server", "accessToken": "m"}
        home.creds.write_text(json.dumps(doc))

    server.on_request = claude_adds_an_mcp_login
    r = home.wrap_claude(env=home.env(WRAP_TOKEN_URL=server.url))
    assert r.returncode == 0, r.stderr
    doc = home.read()
    assert doc["claudeAiOauth"]["refreshToken"] == "test-refresh-1"
    assert doc["claudeAiOauth"]["accessToken"] == "test-access-1"
    assert set(doc["mcpOAuth"]) == {"example-server|abc123", "new-server|1"}


def test_another_login_written_during_the_request_is_adopted_not_overwritten(
    home: Home, server: TokenServer
) -> None:
    home.write_claude(time.time() + 60)
    login = claude_doc(time.time() + 8 * 3600, access="login-acc", refresh="login-refresh")

    def user_logs_in_elsewhere() -> None:
        home.creds.write_text(json.dumps(login))

    server.on_request = user_logs_in_elsewhere
    r = home.wrap_claude(env=home.env(WRAP_TOKEN_URL=server.url))
    assert r.returncode == 0, r.stderr
    assert home.read() == login
    assert server.refresh_requests == 1


def test_claudes_request_carries_its_scopes_and_the_files_client_id(
    home: Home, server: TokenServer
) -> None:
    doc = claude_doc(time.time() + 60)
    doc["claudeAiOauth"]["clientId"] = "client-from-the-file"
    home.write(doc)
    r = home.wrap_claude(env=home.env(WRAP_TOKEN_URL=server.url))
    assert r.returncode == 0, r.stderr
    (sent,) = server.requests
    assert sent["scope"] == profiles.CLAUDE_SCOPES
    assert "user:inference" in sent["scope"].split()
    assert sent["client_id"] == "client-from-the-file"
    assert sent["grant_type"] == "refresh_token"
    assert sent["_content_type"] == "application/json"


def test_the_answers_scope_becomes_the_files_scopes(home: Home, server: TokenServer) -> None:
    home.write_claude(time.time() + 60)
    server.extra = {"scope": "user:profile user:inference user:plugins"}
    r = home.wrap_claude(env=home.env(WRAP_TOKEN_URL=server.url))
    assert r.returncode == 0, r.stderr
    oauth = home.read()["claudeAiOauth"]
    assert oauth["scopes"] == ["user:profile", "user:inference", "user:plugins"]
    assert oauth["subscriptionType"] == "max"


def test_an_answer_without_user_inference_is_a_failed_refresh_that_keeps_the_new_refresh_token(
    home: Home, server: TokenServer
) -> None:
    home.write_claude(time.time() + 60)
    server.extra = {"scope": "user:profile"}
    r = home.wrap_claude(env=home.env(WRAP_TOKEN_URL=server.url))
    assert r.returncode == 0
    assert "user:inference" in r.stderr
    oauth = home.read()["claudeAiOauth"]
    assert oauth["refreshToken"] == "test-refresh-1"  # rotated: must not be thrown away
    assert oauth["accessToken"] == "old-access"  # claude would not use the new one


def test_a_request_that_got_no_answer_is_not_replayed_by_the_next_launch(
    home: Home, server: TokenServer
) -> None:
    home.write_claude(time.time() + 3600)
    server.delay = 3  # the server rotates, but only after wrap stopped waiting
    env = home.env(WRAP_TOKEN_URL=server.url, WRAP_REFRESH_TIMEOUT="1")
    first = home.wrap_claude(env=env)
    assert first.returncode == 0
    assert server.refresh_requests == 1
    server.delay = 0
    second = home.wrap_claude(env=env)
    assert second.returncode == 0
    assert server.refresh_requests == 1
    assert "not send it again blindly" in second.stderr
    assert "wrap --refresh-token" in second.stderr
    assert len(home.reports()) == 2  # both launched
    forced = home.wrap("--refresh-token", env=env)
    assert server.refresh_requests == 2, forced.stderr


def test_the_same_launch_does_not_resend_after_a_gateway_error(
    home: Home, server: TokenServer
) -> None:
    home.write_claude(time.time() + 3600)
    server.faults = ["502", "ok"]
    r = home.wrap_claude(env=home.env(WRAP_TOKEN_URL=server.url))
    assert r.returncode == 0
    assert server.refresh_requests == 1
    again = home.wrap_claude(env=home.env(WRAP_TOKEN_URL=server.url))
    assert server.refresh_requests == 1, again.stderr


def _qwen_home(home: Home, expires_at: float) -> Path:
    qhome = home.root / "qwen-home"
    qhome.mkdir(mode=0o700)
    doc = json.loads((FIXTURES / "qwen.oauth_creds.json").read_text())
    doc["refresh_token"] = "old-refresh"
    doc["expiry_date"] = int(expires_at * 1000)
    (qhome / "oauth_creds.json").write_text(json.dumps(doc, indent=2))
    return qhome


def test_wrap_takes_qwens_lock_file_and_rereads_under_it(home: Home, server: TokenServer) -> None:
    qhome = _qwen_home(home, time.time() + 10)
    qwen_lock = qhome / "oauth_creds.lock"
    qwen_lock.write_text("qwen-lock-id")  # qwen is refreshing
    env = home.env(WRAP_TOKEN_URL=server.url, QWEN_HOME=str(qhome), WRAP_THRESHOLD="1h")
    proc = _start(home, "--profile", "qwen", "--", "true", env=env, prog="wrap")
    _wait_for_wrap_lock(qhome / ".oauth_creds.json.wrap.lock", proc)
    doc = json.loads((qhome / "oauth_creds.json").read_text())
    doc.update(refresh_token="qwen-new", expiry_date=int((time.time() + 8 * 3600) * 1000))
    (qhome / "oauth_creds.json").write_text(json.dumps(doc))
    qwen_lock.unlink()
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert server.refresh_requests == 0
    assert json.loads((qhome / "oauth_creds.json").read_text())["refresh_token"] == "qwen-new"


def test_wrap_holds_qwens_lock_while_it_refreshes(home: Home, server: TokenServer) -> None:
    qhome = _qwen_home(home, time.time() + 10)
    seen: list[bool] = []
    server.on_request = lambda: seen.append((qhome / "oauth_creds.lock").exists())
    env = home.env(WRAP_TOKEN_URL=server.url, QWEN_HOME=str(qhome))
    r = home.wrap("--profile", "qwen", "--", "true", env=env)
    assert r.returncode == 0, r.stderr
    assert seen == [True]
    assert not (qhome / "oauth_creds.lock").exists()


def test_claudes_locks_are_held_during_the_request_and_gone_after(
    home: Home, server: TokenServer
) -> None:
    home.write_claude(time.time() + 60)
    seen: list[tuple[bool, bool]] = []
    server.on_request = lambda: seen.append(
        ((home.claude_dir / ".oauth_refresh.lock").is_dir(), (home.root / ".claude.lock").is_dir())
    )
    r = home.wrap_claude(env=home.env(WRAP_TOKEN_URL=server.url))
    assert r.returncode == 0, r.stderr
    assert seen == [(True, True)]
    leftovers = {p.name for p in home.claude_dir.iterdir()} | {p.name for p in home.root.iterdir()}
    assert not {".oauth_refresh.lock", ".storage-write.lock", ".claude.lock"} & leftovers


def test_a_codex_file_caught_mid_rewrite_is_read_again(tmp_path: Path) -> None:
    path = tmp_path / "auth.json"
    whole = (FIXTURES / "codex.auth.json").read_bytes()
    path.write_bytes(whole[: len(whole) // 2])  # codex truncates, then writes
    pauses: list[float] = []

    def codex_finishes(s: float) -> None:
        pauses.append(s)
        path.write_bytes(whole)

    data, _doc, _ = store.read_parsed(profiles.CODEX, str(path), codex_finishes)
    assert data == whole
    assert pauses == [0.2]


def test_a_half_written_file_of_a_cli_that_renames_is_invalid_at_once(tmp_path: Path) -> None:
    path = tmp_path / "oauth_creds.json"
    path.write_bytes(b'{"access_token": "x", "refr')
    pauses: list[float] = []
    with pytest.raises(Exception, match="not valid JSON"):
        store.read_parsed(profiles.GEMINI, str(path), pauses.append)
    assert pauses == []


def test_a_lone_surrogate_in_the_file_does_not_lose_the_rotated_token(
    home: Home, server: TokenServer
) -> None:
    doc = claude_doc(time.time() + 60)
    text = json.dumps(doc, indent=2).replace('"max"', '"max \\ud83d"')
    home.creds.write_text(text)
    r = home.wrap_claude(env=home.env(WRAP_TOKEN_URL=server.url))
    assert r.returncode == 0, r.stderr
    back = home.read()
    assert back["claudeAiOauth"]["refreshToken"] == "test-refresh-1"
    assert back["claudeAiOauth"]["subscriptionType"] == "max \ud83d"
    assert [r["argv"] for r in home.reports()] == [[]]


@pytest.fixture
def read_only_claude_dir(home: Home) -> Any:
    """~/.claude on its own tmpfs, made read-only by the test (needs root, as in CI)."""
    if os.geteuid() != 0:
        pytest.skip("mounting a read-only tmpfs needs root (CI runs as root)")
    target = home.claude_dir
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=1m,mode=0700", "tmpfs", str(target)],
        capture_output=True,
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")

    def make_read_only() -> None:
        subprocess.run(["mount", "-o", "remount,ro", str(target)], check=True)

    yield make_read_only
    subprocess.run(["umount", "-l", str(target)], check=False)


def test_after_a_failed_write_the_next_launch_uses_the_recovered_token(
    home: Home, server: TokenServer, read_only_claude_dir: Any
) -> None:
    data = home.write_claude(time.time() + 60)
    read_only_claude_dir()
    env = home.env(WRAP_TOKEN_URL=server.url)
    first = home.wrap_claude(env=env)
    assert first.returncode == 0
    assert "recovered" in first.stderr
    assert home.creds.read_bytes() == data
    second = home.wrap_claude(env=env)
    assert second.returncode == 0
    assert server.refresh_requests == 2
    assert server.reused == 0  # the second launch sent the recovered token, not the spent one
    remembered = state.load(str(home.root / "state" / "wrap"), str(home.creds))
    assert remembered.pending_recovery is not None
    assert json.loads(Path(remembered.pending_recovery).read_text())["claudeAiOauth"][
        "refreshToken"
    ] == ("test-refresh-2")


def test_a_recovery_file_reached_through_a_link_is_not_taken(
    home: Home, server: TokenServer
) -> None:
    # A recovery file is one wrap wrote itself: one that is a link (to a document someone
    # else put there) is not put into the credentials file, nor is its refresh token sent.
    server.seed("file-refresh")
    home.write_claude(time.time() + 60, refresh="file-refresh")
    state_dir = home.root / "state" / "wrap"
    planted = home.root / "planted.json"
    planted.write_text(json.dumps(claude_doc(time.time() + 60, refresh="planted-refresh")))
    link = state_dir / "recovery" / "credentials.json.recovered.json"
    link.parent.mkdir(parents=True, mode=0o700)
    link.symlink_to(planted)
    remembered = state.CredState(os.path.realpath(home.creds))
    remembered.pending_recovery = str(link)
    remembered.pending_version = store.fingerprint(str(home.creds))
    state.save(str(state_dir), remembered)
    r = home.wrap_claude(env=home.env(WRAP_TOKEN_URL=server.url))
    assert r.returncode == 0, r.stderr
    assert server.refresh_requests == 1
    assert server.reused == 0
    assert home.read()["claudeAiOauth"]["refreshToken"] == server.newest_refresh


def test_sigterm_while_the_request_is_out_saves_its_answer_then_stops(
    home: Home, server: TokenServer
) -> None:
    import signal
    import threading

    home.write_claude(time.time() + 60)
    arrived, release = threading.Event(), threading.Event()

    def hold() -> None:
        arrived.set()
        release.wait(30)

    server.on_request = hold
    proc = _start(home, env=home.env(WRAP_TOKEN_URL=server.url))
    assert arrived.wait(30)
    proc.send_signal(signal.SIGTERM)  # the request is out: the server will rotate
    release.set()
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 128 + signal.SIGTERM, err
    assert "Traceback" not in err
    assert home.read()["claudeAiOauth"]["refreshToken"] == "test-refresh-1"  # not lost
    assert home.reports() == []  # asked to stop: nothing launched
    leftovers = {p.name for p in home.claude_dir.iterdir()} | {p.name for p in home.root.iterdir()}
    assert not {".oauth_refresh.lock", ".storage-write.lock", ".claude.lock"} & leftovers
    again = home.wrap_claude(env=home.env(WRAP_TOKEN_URL=server.url))
    assert again.returncode == 0
    assert server.reused == 0
