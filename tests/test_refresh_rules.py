"""The cardinal rule on every profile, through the console scripts against the rotating token
server (a reused refresh token revokes the family): a signal while the request is out waits
until the answer is saved; an answer that delivered a new refresh token ends the retries with
the old one; a vendor CLI refreshing for wrap is never killed."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time

import pytest
from conftest import ROOT, Home, one_line
from refresh_cases import FILES, install, refresh_token, start
from test_fleet import wait_stopped
from token_server import TokenServer

from launcher import config, state

SIGNALS = (signal.SIGTERM, signal.SIGHUP, signal.SIGINT)


@pytest.mark.parametrize("name", sorted(FILES))
@pytest.mark.parametrize("signum", SIGNALS, ids=lambda s: signal.Signals(s).name)
def test_a_signal_while_the_request_is_out_waits_until_the_answer_is_saved(
    home: Home, name: str, signum: int
) -> None:
    path = install(home, name)
    arrived, release = threading.Event(), threading.Event()

    def hold() -> None:
        arrived.set()
        release.wait(30)

    with TokenServer() as server:
        server.on_request = hold
        env = home.env(WRAP_TOKEN_URL=server.url)
        proc = start(home, name, env)
        assert arrived.wait(30), "the refresh request never arrived"
        proc.send_signal(signum)  # the request is out: the server rotates when it answers
        release.set()
        _, err = proc.communicate(timeout=60)
        assert "Traceback" not in err
        if signum == signal.SIGINT:
            # Ctrl-C at the gate gives up the refresh and launches (contract), once the
            # answer in flight is saved.
            assert proc.returncode == 0, err
            assert "interrupted" in one_line(err)
            assert len(home.reports()) == 1
        else:
            assert proc.returncode == 128 + signum, err
            assert f"stopped by signal {signum}" in one_line(err)
            assert home.reports() == []  # asked to stop: nothing launched
        assert server.newest_refresh == "test-refresh-1"
        assert refresh_token(name, path) == server.newest_refresh  # saved, not lost
        server.on_request = None
        again = start(home, name, env)
        _, err = again.communicate(timeout=60)
        assert again.returncode == 0, err
        assert server.reused == 0
        assert server.replayed == []


@pytest.mark.parametrize("name", ["claude", "codex"])
@pytest.mark.parametrize("fault", ["503-rotated", "cf-200-rotated"])
def test_an_answer_that_delivered_a_new_refresh_token_is_never_retried_with_the_old_one(
    home: Home, name: str, fault: str
) -> None:
    path = install(home, name)
    with TokenServer() as server:
        server.faults = [fault]
        server.retry_after = "0"
        env = home.env(WRAP_TOKEN_URL=server.url)
        proc = start(home, name, env)
        _, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err  # fail open: the program launched
        assert len(home.reports()) == 1
        assert server.refresh_requests == 1  # no retry with the spent token
        assert server.reused == 0
        assert refresh_token(name, path) == server.newest_refresh == "test-refresh-1"
        assert "new refresh token" in err
        assert "test-refresh" not in err


SLOW_CLAUDE = """#!{python}
# A stand-in for Claude Code's `auth status --json` that refreshes slowly: it sends the file's
# refresh token to the token server, then waits for the test's go before writing the answer.
import json, os, sys, time, urllib.request
path = os.path.join(os.environ["HOME"], ".claude", ".credentials.json")
if sys.argv[1:] == ["auth", "status", "--json"]:
    doc = json.load(open(path))
    oauth = doc["claudeAiOauth"]
    body = json.dumps({{"grant_type": "refresh_token", "refresh_token": oauth["refreshToken"]}})
    request = urllib.request.Request(
        os.environ["SLOW_TOKEN_URL"], body.encode(), {{"Content-Type": "application/json"}}
    )
    answer = json.load(urllib.request.urlopen(request))
    open(os.environ["SLOW_SENT"], "w").close()
    while not os.path.exists(os.environ["SLOW_GO"]):
        time.sleep(0.02)
    oauth["accessToken"] = answer["access_token"]
    oauth["refreshToken"] = answer["refresh_token"]
    oauth["expiresAt"] = int((time.time() + answer["expires_in"]) * 1000)
    with open(path + ".tmp", "w") as f:
        json.dump(doc, f)
    os.replace(path + ".tmp", path)
    print(json.dumps({{"loggedIn": True}}))
"""


def test_a_vendor_cli_past_the_refresh_timeout_is_left_to_finish_and_its_token_never_resent(
    home: Home,
) -> None:
    home.write_claude(time.time() + 60)
    fake = home.bin / "claude"
    fake.write_text(SLOW_CLAUDE.format(python=sys.executable))
    fake.chmod(0o755)
    sent, go = home.root / "sent", home.root / "go"
    with TokenServer() as server:
        server.seed("old-refresh")
        env = home.env(
            WRAP_TOKEN_URL=server.url,
            SLOW_TOKEN_URL=server.url,
            SLOW_SENT=str(sent),
            SLOW_GO=str(go),
        )
        via_cli = {**env, "WRAP_REFRESH_VIA": "cli", "WRAP_REFRESH_TIMEOUT": "1s"}
        r = home.wrap("refresh", env=via_cli)
        assert r.returncode == 5, r.stderr
        assert "left to finish on its own" in one_line(r.stderr)
        assert sent.exists()  # the CLI did send, and was not killed: it waits for the go
        # wrap itself would refresh next; the file still holds the token the CLI spent.
        launch = home.wrap_claude(env=env)
        assert launch.returncode == 0, launch.stderr
        assert server.refresh_requests == 1  # the spent token was not sent again
        remembered = state.load(config.state_dir(env), str(home.creds))
        assert remembered.unanswered == state.token_digest("old-refresh")
        go.touch()
        deadline = time.monotonic() + 30
        while home.read()["claudeAiOauth"]["refreshToken"] == "old-refresh":
            assert time.monotonic() < deadline, "the CLI never finished its refresh"
            time.sleep(0.02)
        assert home.read()["claudeAiOauth"]["refreshToken"] == server.newest_refresh
        assert server.replayed == []
        assert server.reused == 0


@pytest.mark.parametrize("point", ["before_send", "after_send"])
def test_a_launch_killed_at_a_stop_point_of_the_flight_loses_no_token(
    home: Home, point: str
) -> None:
    home.write_claude(time.time() + 60)
    with TokenServer() as server:
        server.seed("old-refresh")
        env = home.env(WRAP_TOKEN_URL=server.url)
        proc = subprocess.Popen(
            [sys.executable, str(ROOT / "tests" / "bin" / "stop_at.py"), point],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        wait_stopped(proc)
        proc.kill()  # no handler, no finally: as a machine losing power
        proc.communicate()
        sent = server.refresh_requests
        assert sent == (point == "after_send")
        # The answer's refresh token reached the file before anything else could fail.
        expected = "test-refresh-1" if sent else "old-refresh"
        assert home.read()["claudeAiOauth"]["refreshToken"] == expected
        r = home.wrap_claude(env=env)
        assert r.returncode == 0, r.stderr
        assert server.refresh_requests == sent + 1
        assert server.replayed == []
        assert server.reused == 0
        assert home.read()["claudeAiOauth"]["refreshToken"] == server.newest_refresh
