"""Only the process that sends the refresh pays for the HTTP client: a launch that waits on the
lock and then finds the token refreshed never imports httpx, takes no vendor lock, and leaves
as soon as the refreshed token is on disk; the one that sends imports no CLI toolkit."""

from __future__ import annotations

import fcntl
import os
import subprocess
import sys
import time
from pathlib import Path

from conftest import BIN, Home, digest
from token_server import TokenServer


def _holds_open(pid: int, target: Path) -> bool:
    try:
        fds = os.listdir(f"/proc/{pid}/fd")
    except OSError:
        return False
    for fd in fds:
        try:
            if os.readlink(f"/proc/{pid}/fd/{fd}") == str(target):
                return True
        except OSError:
            continue
    return False


def _imports(stderr: str) -> set[str]:
    return {line.rsplit("|", 1)[-1].strip() for line in stderr.splitlines() if "|" in line}


def _waiting_launch(home: Home, env: dict[str, str], lock_file: Path) -> subprocess.Popen[str]:
    """A wrap-claude started while LOCK_FILE is held, once it is waiting on it."""
    proc = subprocess.Popen(
        [str(BIN / "wrap-claude")],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 30
    while not _holds_open(proc.pid, lock_file):
        assert proc.poll() is None
        assert time.monotonic() < deadline, "wrap never reached the lock"
        time.sleep(0.01)
    return proc


def test_a_launch_that_waits_and_finds_the_token_refreshed_never_imports_httpx(
    home: Home, server: TokenServer
) -> None:
    home.write_claude(time.time() + 60)
    lock_file = home.claude_dir / ".credentials.json.wrap.lock"
    env = home.env(WRAP_TOKEN_URL=server.url, PYTHONPROFILEIMPORTTIME="1", WRAP_THRESHOLD="1h")
    with open(lock_file, "w") as held:
        fcntl.flock(held, fcntl.LOCK_EX)  # another wrap is refreshing
        proc = _waiting_launch(home, env, lock_file)  # past its first read, on the lock
        home.write_claude(time.time() + 8 * 3600, access="new-access", refresh="new-refresh")
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert server.refresh_requests == 0
    assert len(home.reports()) == 1
    imported = _imports(err)
    assert "launcher.refresh.flight" in imported  # it did take the slow path
    assert not {m for m in imported if m.split(".")[0] in ("httpx", "httpcore", "certifi")}


def test_the_launch_that_sends_does_import_httpx(home: Home, server: TokenServer) -> None:
    home.write_claude(time.time() + 60)
    env = home.env(WRAP_TOKEN_URL=server.url, PYTHONPROFILEIMPORTTIME="1")
    r = home.wrap_claude(env=env)
    assert r.returncode == 0
    assert server.refresh_requests == 1
    assert "httpx" in _imports(r.stderr)


# httpx's package imports its command-line client, which imports these (launcher/refresh/http.py).
CLI_PACKAGES = ("click", "pygments", "rich")


def test_the_launch_that_sends_imports_no_command_line_toolkit(
    home: Home, server: TokenServer
) -> None:
    home.write_claude(time.time() + 60)
    r = home.wrap_claude(env=home.env(WRAP_TOKEN_URL=server.url, PYTHONPROFILEIMPORTTIME="1"))
    assert r.returncode == 0
    assert server.refresh_requests == 1
    imported = _imports(r.stderr)
    assert "httpx" in imported
    assert not {m for m in imported if m.split(".")[0] in CLI_PACKAGES}


def test_importing_the_refresh_module_leaves_httpx_whole_and_click_unimported() -> None:
    # Whoever imports the grant (renew, keepalive, login) gets the guard; httpx's CLI module
    # itself stays importable afterwards, as without the guard.
    probe = (
        "import sys, importlib.util\n"
        "import launcher.refresh.grant\n"
        "import httpx\n"
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'click', 'pygments', 'rich'}))\n"
        "print(httpx.Client is launcher.refresh.grant.httpx.Client)\n"
        "print('httpx._main' in sys.modules, importlib.util.find_spec('httpx._main') is not None)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    ).stdout.split("\n")
    assert out[:3] == ["[]", "True", "False True"]


def test_a_launch_that_waits_and_finds_the_token_refreshed_takes_no_vendor_lock(
    home: Home, server: TokenServer
) -> None:
    # Claude's own refresh lock is held (a live claude refreshing, as far as wrap can tell):
    # a launch that had to go on to it would wait out WRAP_LOCK_TIMEOUT and say so.
    home.write_claude(time.time() + 60)
    lock_file = home.claude_dir / ".credentials.json.wrap.lock"
    env = home.env(WRAP_TOKEN_URL=server.url, WRAP_THRESHOLD="1h", WRAP_LOCK_TIMEOUT="2")
    with open(lock_file, "w") as held:
        fcntl.flock(held, fcntl.LOCK_EX)  # another wrap is refreshing
        proc = _waiting_launch(home, env, lock_file)  # past its first read, on the lock
        home.write_claude(time.time() + 8 * 3600, access="new-access", refresh="new-refresh")
        (home.claude_dir / ".oauth_refresh.lock").mkdir()
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert err == ""
    assert server.refresh_requests == 0
    [report] = home.reports()
    assert report["token_digest"] == digest("new-access")


def test_a_launch_that_waits_and_finds_the_token_still_due_takes_the_vendor_lock(
    home: Home, server: TokenServer
) -> None:
    # The other side of the shortcut: still expiring after the wait, so this launch must go
    # on to Claude's lock (held here) before it may decide to send.
    home.write_claude(time.time() + 60)
    lock_file = home.claude_dir / ".credentials.json.wrap.lock"
    env = home.env(WRAP_TOKEN_URL=server.url, WRAP_THRESHOLD="1h", WRAP_LOCK_TIMEOUT="2")
    with open(lock_file, "w") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        proc = _waiting_launch(home, env, lock_file)  # past its first read, on the lock
        (home.claude_dir / ".oauth_refresh.lock").mkdir()
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert "Claude Code's own lock" in err
    assert server.refresh_requests == 0


def test_a_waiting_launch_leaves_once_the_refreshed_token_is_on_disk_without_the_lock(
    home: Home, server: TokenServer
) -> None:
    home.write_claude(time.time() + 60)
    lock_file = home.claude_dir / ".credentials.json.wrap.lock"
    # Were it to wait for the lock, it would give up after 5 s and launch on the old token.
    env = home.env(WRAP_TOKEN_URL=server.url, WRAP_THRESHOLD="1h", WRAP_LOCK_TIMEOUT="5")
    with open(lock_file, "w") as held:
        fcntl.flock(held, fcntl.LOCK_EX)  # held until the launch has ended
        proc = _waiting_launch(home, env, lock_file)
        home.write_claude(time.time() + 8 * 3600, access="new-access", refresh="new-refresh")
        _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert "could not refresh" not in err
    assert server.refresh_requests == 0
    [report] = home.reports()
    assert report["token_digest"] == digest("new-access")


def test_a_waiting_launch_sees_the_lifetime_the_refresher_records_after_the_token(
    home: Home, server: TokenServer
) -> None:
    # An 8-hour token under the 7-day default threshold is fresh only by the lifetime rule,
    # whose lifetime the refresher saves after the file: the wait ends on that write.
    from launcher import config, state

    home.write_claude(time.time() + 60)
    lock_file = home.claude_dir / ".credentials.json.wrap.lock"
    env = home.env(WRAP_TOKEN_URL=server.url, WRAP_LOCK_TIMEOUT="5")
    with open(lock_file, "w") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        proc = _waiting_launch(home, env, lock_file)
        home.write_claude(time.time() + 8 * 3600, access="new-access", refresh="new-refresh")
        # Time for a few polls to see this file change alone (not fresh yet): had they not,
        # the state write below would be seen with it, and the test would prove less.
        time.sleep(0.5)
        remembered = state.load(config.state_dir(env), str(home.creds))
        remembered.lifetime = 8 * 3600.0
        state.save(config.state_dir(env), remembered)
        _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert "could not refresh" not in err
    assert server.refresh_requests == 0
    [report] = home.reports()
    assert report["token_digest"] == digest("new-access")
