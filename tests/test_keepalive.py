"""`wrap keepalive`: one pass over every account, against the rotating token server."""

from __future__ import annotations

import contextlib
import json
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from conftest import BIN, Home
from keepalive_env import DAY, Webhook, account, config, snapshot, webhook_fixture  # noqa: F401
from token_server import TokenServer

from launcher.keepalive import notify, passes


@pytest.fixture
def bad() -> Iterator[TokenServer]:
    """A server that knows none of the accounts' refresh tokens: each one is rejected."""
    with TokenServer() as s:
        s.seed("a-token-nobody-has")
        yield s


def test_due_account_refreshed_once_fresh_one_untouched(home: Home, server: TokenServer) -> None:
    config(home, good=server.url)
    due = account(home.root / ".good", "due.json", 3600, "old-refresh", email="due@example.com")
    fresh = account(home.root / ".good", "fresh.json", 30 * DAY, "fresh-refresh")
    before = fresh.read_bytes()
    r = home.wrap("keepalive")
    assert r.returncode == 0, r.stderr
    (line,) = r.stdout.splitlines()
    assert line.startswith("✓ due@example.com (good): refreshed, expires ")
    assert json.loads(due.read_text())["refresh_token"] == "test-refresh-1"
    assert fresh.read_bytes() == before
    # The next pass finds both well ahead of their thresholds: no request, no line.
    r = home.wrap("keepalive")
    assert (r.returncode, r.stdout) == (0, ""), r.stderr
    assert server.refresh_requests == 1
    assert server.reused == 0


def test_due_means_before_the_next_pass_plus_a_margin() -> None:
    threshold, every = 1800.0, 900.0
    ahead = every + passes.MARGIN
    now = 1_000_000.0
    # A one-hour token refreshed at half-life: due while a pass would otherwise find it past.
    assert passes.due(now + threshold + every + 1, now, threshold, ahead)
    assert not passes.due(now + threshold + ahead + 1, now, threshold, ahead)
    assert not passes.due(None, now, threshold, ahead)  # no expiry: never due


def test_a_pass_over_fresh_accounts_touches_no_network_and_writes_nothing(
    home: Home, server: TokenServer
) -> None:
    config(home, good=server.url)
    for i in range(50):
        account(home.root / ".good", f"a{i}.json", 30 * DAY, f"rt-{i}")
    assert home.wrap("keepalive").returncode == 0  # the first pass learns the accounts
    before = snapshot(home.root, skip=("last-pass.json",))
    r = home.wrap("keepalive")
    assert (r.returncode, r.stdout, r.stderr) == (0, "", "")
    assert server.refresh_requests == 0
    # Its one write is its own record of the pass, for `wrap keepalive status`.
    assert snapshot(home.root, skip=("last-pass.json",)) == before
    last = json.loads((home.root / "state" / "wrap" / "keepalive" / "last-pass.json").read_text())
    assert (last["result"], last["untouched"], last["outcomes"]) == ("ok", 50, [])


def test_rejected_account_is_told_once_and_suspended(
    home: Home, server: TokenServer, bad: TokenServer, webhook: Webhook
) -> None:
    config(home, good=server.url, bad=bad.url, webhook=webhook.url)
    dead = account(home.root / ".bad", "bad-oauth-1-work.json", 3600, "spent")
    r = home.wrap("keepalive")
    assert r.returncode == 5, r.stderr
    assert r.stdout == (
        "! work (bad): its refresh token was rejected: it cannot be refreshed until you log "
        "in again; run: qwen\n"
    )
    assert r.stderr.count("wrap: notice: work (bad)") == 1
    (post,) = webhook.received()
    assert {k: post[k] for k in ("account", "profile", "condition", "command")} == {
        "account": "work",
        "profile": "bad",
        "condition": "rejected",
        "command": "qwen",
    }
    assert "rejected" in post["message"]
    assert post["text"].startswith("wrap: work (bad): ")
    # Suspended: later passes send nothing and tell nothing more, but still show it.
    for _ in range(2):
        r = home.wrap("keepalive")
        assert r.returncode == 0, r.stderr
        assert r.stdout.startswith("! work (bad): ")
        assert "notice:" not in r.stderr
    assert bad.refresh_requests == 1
    assert webhook.received() == []
    # Logged in again (a new file): the condition clears; when it comes back it is news again.
    account(home.root / ".bad", dead.name, 30 * DAY, "new-login")
    r = home.wrap("keepalive")
    assert (r.returncode, r.stdout) == (0, ""), r.stderr
    account(home.root / ".bad", dead.name, 3600, "spent-again")
    assert home.wrap("keepalive").returncode == 5
    assert [p["condition"] for p in webhook.received()] == ["rejected"]
    assert bad.refresh_requests == 2


def test_a_persisting_condition_is_told_again_after_a_day() -> None:
    def notice() -> notify.Notice:
        return notify.Notice(
            account="a", profile="p", path="/f", condition="rejected", message="m", command="c"
        )

    ledger: dict[str, dict[str, dict[str, float]]] = {}
    t = 1_000_000.0
    (first,) = notify.to_send(ledger, {"/f": [notice()]}, t)
    notify.mark_told(ledger, first, t)
    assert notify.to_send(ledger, {"/f": [notice()]}, t + 3600) == []
    assert notify.to_send(ledger, {}, t + 7200) == []  # another account looked at: kept
    assert len(notify.to_send(ledger, {"/f": [notice()]}, t + notify.REPEAT_AFTER)) == 1
    # Not delivered anywhere (every channel failed): told again at the next pass.
    ledger = {}
    notify.to_send(ledger, {"/f": [notice()]}, t)
    assert len(notify.to_send(ledger, {"/f": [notice()]}, t + 900)) == 1


def test_failing_refreshes_are_told_after_three_in_a_row(home: Home, webhook: Webhook) -> None:
    with socket.socket() as s:  # a port nobody listens on: connection refused
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    config(home, down=f"http://127.0.0.1:{port}/token", webhook=webhook.url)
    account(home.root / ".down", "down-oauth-1-ci.json", 3600, "rt")
    env = home.env(WRAP_REFRESH_TIMEOUT="0")
    lines = []
    for _ in range(3):
        r = home.wrap("keepalive", env=env)
        assert r.returncode == 5, r.stderr
        lines.append(r.stdout)
    assert lines[0].startswith("✗ ci (down): refresh failed: ")
    assert lines[2].startswith("! ci (down): refreshing it failed 3 times in a row")
    assert lines[2].rstrip().endswith("run: wrap refresh ci")
    assert [(p["condition"], p["command"]) for p in webhook.received()] == [
        ("failing", "wrap refresh ci")
    ]


def test_file_invalid_then_gone_is_told_once_each(home: Home, webhook: Webhook) -> None:
    config(home, good="http://127.0.0.1:9/token", webhook=webhook.url)
    broken = home.root / ".good" / "good-oauth-1-home.json"
    broken.parent.mkdir()
    broken.write_text("{not json")
    for code in (0, 0):
        r = home.wrap("keepalive")
        assert r.returncode == code, r.stderr
        assert r.stdout.startswith("! home (good): ")
    broken.unlink()
    r = home.wrap("keepalive")
    assert r.stdout.startswith("! home (good): its credentials file ")
    assert "is gone" in r.stdout
    assert home.wrap("keepalive").stdout == ""  # no longer an account: not told again
    assert [p["condition"] for p in webhook.received()] == ["file_invalid", "file_gone"]


def test_configuration_errors_exit_2(home: Home) -> None:
    config(home, good="http://example.com/token")  # a cleartext token URL off loopback
    account(home.root / ".good", "g.json", 3600, "rt")
    r = home.wrap("keepalive")
    assert r.returncode == 2
    assert "https://" in r.stdout + r.stderr
    config(home, good="https://example.com/token", webhook="http://example.com/hook")
    r = home.wrap("keepalive")
    assert r.returncode == 2
    assert "notify_webhook" in r.stderr
    assert home.wrap("keepalive", "--every", "soon").returncode == 2


class Running:
    """`wrap -v keepalive ARGS` in the background, its stderr read line by line."""

    def __init__(self, home: Home, *args: str) -> None:
        self.proc = subprocess.Popen(
            [str(BIN / "wrap"), "-v", "keepalive", *args],
            env=home.env(),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.lines: list[str] = []

    def wait_for(self, text: str, count: int = 1) -> None:
        """Read stderr until TEXT has appeared COUNT times (or the process ended)."""
        assert self.proc.stderr is not None
        while sum(text in line for line in self.lines) < count:
            line = self.proc.stderr.readline()
            assert line, f"exited before {count} x {text!r}: {self.lines}"
            self.lines.append(line)

    def stop(self) -> tuple[int, str, str]:
        self.proc.send_signal(signal.SIGTERM)
        out, err = self.proc.communicate(timeout=60)
        return self.proc.returncode, out, "".join(self.lines) + err


def test_foreground_passes_every_second(
    home: Home, server: TokenServer, bad: TokenServer, webhook: Webhook
) -> None:
    config(home, good=server.url, bad=bad.url, webhook=webhook.url)
    due = account(home.root / ".good", "good-oauth-1-due.json", 3600, "old-refresh")
    fresh = account(home.root / ".good", "good-oauth-2-fresh.json", 30 * DAY, "fresh-refresh")
    account(home.root / ".bad", "bad-oauth-1-dead.json", 3600, "spent")
    before = fresh.read_bytes()
    run = Running(home, "--every", "1s")
    run.wait_for("keepalive pass done", count=4)
    code, out, err = run.stop()
    assert code == 0, err
    assert server.refresh_requests == 1
    assert json.loads(due.read_text())["refresh_token"] == ("test-refresh-1")
    assert fresh.read_bytes() == before
    assert bad.refresh_requests == 1  # rejected once, then suspended
    assert err.count("notice: dead (bad)") == 1
    assert [p["account"] for p in webhook.received()] == ["dead"]
    assert out.count("✓ due (good): refreshed") == 1


def test_sigterm_in_the_middle_of_a_refresh_finishes_it(home: Home, server: TokenServer) -> None:
    config(home, good=server.url)
    due = account(home.root / ".good", "good-oauth-1-due.json", 3600, "old-refresh")
    account(home.root / ".good", "good-oauth-2-next.json", 3600, "not-reached")
    arrived, release = threading.Event(), threading.Event()

    def hold() -> None:
        arrived.set()
        release.wait(30)

    server.on_request = hold
    run = Running(home, "--every", "1s")
    assert arrived.wait(30)
    run.proc.send_signal(signal.SIGTERM)  # the request is in flight at the server
    release.set()
    out, err = run.proc.communicate(timeout=60)
    assert run.proc.returncode == 0, err
    # The answer was written back whole, the next account not begun, nothing sent twice.
    assert json.loads(due.read_text())["refresh_token"] == "test-refresh-1"
    assert server.refresh_requests == 1
    assert server.reused == 0
    assert out.startswith("✓ due (good): refreshed")
    last = home.root / "state" / "wrap" / "keepalive" / "last-pass.json"
    assert json.loads(last.read_text())["result"] == "stopped"


def test_sigterm_while_waiting_for_another_refresh_abandons_it(
    home: Home, server: TokenServer
) -> None:
    import fcntl

    from launcher import lock

    config(home, good=server.url)
    due = account(home.root / ".good", "good-oauth-1-due.json", 3600, "old-refresh")
    before = due.read_bytes()
    held = Path(lock.lock_path(str(due)))
    with open(held, "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)  # another process is refreshing this file
        run = Running(home)
        run.wait_for("waiting for another process")
        code, _, err = run.stop()
    assert code == 0, err
    assert due.read_bytes() == before
    assert server.refresh_requests == 0


def test_login_deadline_hook_tells_within_login_warning() -> None:
    class Settings:
        login_warning = 3 * DAY

    now = 1_000_000_000.0

    def iso(ts: float) -> str:
        return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))

    assert passes.login_ending({"login_expires_at": iso(now + DAY)}, Settings(), now) == now + DAY
    assert passes.login_ending({"login_expires_at": iso(now + 4 * DAY)}, Settings(), now) is None
    # Until the report carries the deadline there is nothing to tell.
    assert passes.login_ending({}, Settings(), now) is None


def test_firewall_cooldown_holds_the_account_back_without_failing(
    home: Home, server: TokenServer
) -> None:
    config(home, good=server.url)
    account(home.root / ".good", "good-oauth-1-cdn.json", 3600, "old-refresh")
    server.faults = ["403-html"] * 4
    r = home.wrap("keepalive")
    assert r.returncode == 5, r.stderr
    assert r.stdout.startswith("✗ cdn (good): refresh failed: ")
    sent = server.refresh_requests
    # In the cooldown nothing is sent and nothing fails: the CLI refreshes itself meanwhile.
    r = home.wrap("keepalive")
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("- cdn (good): held back: ")
    assert server.refresh_requests == sent


def test_a_pass_while_another_runs_is_skipped(home: Home, server: TokenServer) -> None:
    import fcntl

    config(home, good=server.url)
    account(home.root / ".good", "good-oauth-1-due.json", 3600, "old-refresh")
    folder = home.root / "state" / "wrap" / "keepalive"
    folder.mkdir(parents=True)
    with open(folder / "pass.lock", "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)  # the timer's pass is still running
        r = home.wrap("keepalive")
    assert (r.returncode, r.stdout) == (0, "")
    assert "another keepalive pass is running" in r.stderr
    assert server.refresh_requests == 0


def test_a_login_ending_within_login_warning_is_told_once(home: Home, webhook: Webhook) -> None:
    config(home, webhook=webhook.url)
    data = json.loads(home.write_claude(time.time() + 30 * DAY))
    data["claudeAiOauth"]["refreshTokenExpiresAt"] = int((time.time() + 2 * DAY) * 1000)
    home.write(data)
    for _ in range(2):
        r = home.wrap("keepalive")
        assert r.returncode == 0, r.stderr
        assert r.stdout.startswith("! claude (claude): its login ends ")
        assert r.stdout.rstrip().endswith("run: wrap login claude")
    assert [(p["condition"], p["command"]) for p in webhook.received()] == [
        ("login_ending", "wrap login claude")
    ]
    # Beyond login_warning there is nothing to tell.
    r = home.wrap("keepalive", env=home.env(WRAP_LOGIN_WARNING="1d"))
    assert (r.returncode, r.stdout) == (0, ""), r.stderr


class _Recorder:
    """A loopback HTTP server that records every request (method, path) and answers STATUS,
    with a Location header when given."""

    def __init__(self, status: int = 200, location: str | None = None) -> None:
        self.seen: list[tuple[str, str]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def _any(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                outer.seen.append((self.command, self.path))
                self.send_response(status)
                if location:
                    self.send_header("Location", location)
                self.send_header("Content-Length", "0")
                self.end_headers()

            do_GET = do_POST = do_CONNECT = _any

            def log_message(self, format: str, *args: object) -> None:
                pass

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._httpd.server_address[1]}"
        threading.Thread(target=self._httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()


def _a_notice(home: Home, hook: str, **env: str) -> subprocess.CompletedProcess[str]:
    config(home, good="http://127.0.0.1:9/token", webhook=hook)
    broken = home.root / ".good" / "good-oauth-1-home.json"
    broken.parent.mkdir()
    broken.write_text("{not json")  # told once: file_invalid
    return home.wrap("keepalive", env=home.env(**env))


def test_the_webhook_follows_no_redirect(home: Home) -> None:
    # urllib followed a 302 to any host and scheme (as a GET, with the notice's words in the
    # query of a new URL if the server liked).
    target = _Recorder()
    hook = _Recorder(302, location=f"{target.url}/elsewhere")
    try:
        r = _a_notice(home, f"{hook.url}/hook")
    finally:
        hook.close()
        target.close()
    assert hook.seen == [("POST", "/hook")]
    assert target.seen == []
    assert "could not reach notify_webhook: HTTP 302 from the webhook" in r.stderr


def test_a_loopback_webhook_never_goes_through_a_proxy(home: Home, webhook: Webhook) -> None:
    proxy = _Recorder(502)
    try:
        r = _a_notice(home, webhook.url, http_proxy=proxy.url, HTTP_PROXY=proxy.url)
    finally:
        proxy.close()
    assert proxy.seen == []
    assert [p["condition"] for p in webhook.received()] == ["file_invalid"], r.stderr


def test_fleet_pulls_that_keep_failing_are_told_like_local_failures(
    home: Home, webhook: Webhook
) -> None:
    # The store is gone: every pass's pull fails, and nothing counted them.
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    cfg = home.root / "config" / "wrap" / "config.toml"
    cfg.parent.mkdir(parents=True)
    cfg.write_text(
        f'notify_webhook = "{webhook.url}"\n[fleet]\nurl = "etcd://127.0.0.1:{port}"\n'
        '[profiles.claude]\nfleet = "work"\n'
    )
    home.write_claude(time.time() + 3600, refresh=None)
    lines = []
    for _ in range(3):
        r = home.wrap("keepalive", env=home.env(WRAP_REFRESH_TIMEOUT="2s"))
        assert r.returncode == 5, r.stderr
        lines.append(r.stdout)
    assert "cannot reach the fleet store" in lines[0]
    assert lines[2].startswith("! claude (claude): refreshing it failed 3 times in a row")
    assert [p["condition"] for p in webhook.received()] == ["failing"]


def _gemini(home: Home, url: str, count: int) -> list[Path]:
    """COUNT due accounts of a gemini-based profile in one folder: Gemini's CLI takes no lock
    that the files of a folder share, so nothing keeps their refreshes apart."""
    folder = home.root / "config" / "wrap"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.toml").write_text(
        f'[profiles.gem]\nbase = "gemini"\npaths = ["~/.gem/*.json"]\ntoken_url = "{url}"\n'
    )
    return [
        account(home.root / ".gem", f"gem-{n}.json", 3600, f"seed-of-gem-{n}")
        for n in range(1, count + 1)
    ]


class Held:
    """Wraps a TokenServer's answers: counts the requests out at once, and holds the first
    FIRST ones until they are all out together (or RELEASE, when given, is set)."""

    def __init__(self, server: TokenServer, first: int, release: threading.Event | None = None):
        self.together = threading.Barrier(first, timeout=30)
        self.first = first
        self.release = release
        self.all_out = threading.Event()
        self.count = threading.Lock()
        self.now = self.most = self.arrived = 0
        answer = server._answer

        def held(fields: dict[str, object]) -> object:
            with self.count:
                self.now += 1
                self.most = max(self.most, self.now)
                self.arrived += 1
                among_first = self.arrived <= first
            try:
                if among_first:
                    with contextlib.suppress(threading.BrokenBarrierError):
                        self.together.wait()
                    self.all_out.set()
                    if release is not None:
                        release.wait(30)
                return answer(fields)  # type: ignore[arg-type]
            finally:
                with self.count:
                    self.now -= 1

        server._answer = held  # type: ignore[method-assign]


def test_a_pass_refreshes_due_accounts_four_at_once_in_a_stable_order(home: Home) -> None:
    with TokenServer() as server:
        files = _gemini(home, server.url, 6)
        for path in files:
            server.seed(json.loads(path.read_text())["refresh_token"])
        held = Held(server, 4)
        r = home.wrap("keepalive")
        assert server.refresh_requests == 6
    assert r.returncode == 0, r.stderr
    assert not held.together.broken  # four were out at once
    assert held.most == 4
    lines = r.stdout.splitlines()
    assert all(line.startswith("✓ gem-") for line in lines), lines
    # In the order status lists them, whichever finished first.
    listed = json.loads(home.wrap("status", "--json").stdout)
    assert [line[2:].split(" (")[0] for line in lines] == [o["account"] for o in listed]
    assert len(lines) == 6
    assert server.replayed == []
    assert server.reused == 0
    assert {json.loads(p.read_text())["refresh_token"] for p in files} == server.valid


def test_sigterm_during_a_concurrent_pass_loses_no_rotated_token(home: Home) -> None:
    release = threading.Event()
    with TokenServer() as server:
        files = _gemini(home, server.url, 6)
        seeds = {json.loads(p.read_text())["refresh_token"] for p in files}
        for seed in seeds:
            server.seed(seed)
        held = Held(server, 4, release)
        run = Running(home)
        assert held.all_out.wait(30)
        run.proc.send_signal(signal.SIGTERM)  # four requests are in flight at the server
        release.set()
        out, err = run.proc.communicate(timeout=60)
        assert run.proc.returncode == 0, err
        # The four answers were written back whole; the two accounts not begun were not sent.
        assert server.refresh_requests == 4
        on_disk = {json.loads(p.read_text())["refresh_token"] for p in files}
        assert on_disk == server.valid  # the newest refresh token of each account is on disk
        assert len(on_disk & seeds) == 2
        assert server.replayed == []
        assert server.reused == 0
    assert out.count("✓ gem-") == 4, out
    last = json.loads((home.root / "state" / "wrap" / "keepalive" / "last-pass.json").read_text())
    assert last["result"] == "stopped"
    assert [o["action"] for o in last["outcomes"]].count(passes.NOT_REACHED) == 2


def test_an_unreachable_endpoint_fails_the_pass_that_tried_it_then_is_left_alone(
    home: Home,
) -> None:
    # Issue 25's cooldown must not hide the real attempt from keepalive's count of failures
    # (an endpoint that stays down would never raise the "failing" notice otherwise).
    with socket.socket() as s:  # a port nobody listens on: connection refused
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    config(home, down=f"http://127.0.0.1:{port}/token")
    account(home.root / ".down", "down-oauth-1-ci.json", 3600, "rt")
    r = home.wrap("keepalive")
    assert r.returncode == 5, r.stdout + r.stderr
    assert r.stdout.startswith("✗ ci (down): refresh failed: ")
    r = home.wrap("keepalive")  # inside the cooldown: not tried, and not a failure
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.startswith("- ci (down): held back: ")
