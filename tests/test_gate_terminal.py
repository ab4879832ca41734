"""When the gate may log in (a terminal on both ends, a refusal no refresh can mend) and when it
must not; and the setup token it keeps for the program, which never overrides the user's own."""

from __future__ import annotations

import io
import json
import time
from pathlib import Path

import pexpect
import pytest
from conftest import BIN, Home, digest
from test_login_setup import TOKEN, _configure, _finish
from token_server import TokenServer

from launcher import config, gate, state
from launcher.log import Log
from launcher.login import save_env_token


def _on_a_terminal(home: Home, command: str, **env: str) -> tuple[pexpect.spawn, io.StringIO]:
    """COMMAND run by sh under a real pty: its redirections decide which ends are a terminal."""
    screen = io.StringIO()
    child = pexpect.spawn(
        "/bin/sh", ["-c", command], env=home.env(**env), timeout=30, encoding="utf-8"
    )
    child.logfile_read = screen
    return child, screen


def _launch(home: Home, fault: str, redirect: str = "") -> tuple[str, Path]:
    """wrap-claude on a terminal (less what REDIRECT takes away) against a server answering
    FAULT; its screen and where a setup-command run would be recorded."""
    _configure(home)
    home.write_claude(time.time() - 60)
    runs = home.root / "runs"
    with TokenServer() as server:
        server.faults = [fault]
        child, screen = _on_a_terminal(
            home,
            f"{BIN / 'wrap-claude'} -p hi {redirect}",
            WRAP_TOKEN_URL=server.url,
            FAKE_SETUP_RUNS=str(runs),
            WRAP_LOGIN_TIMEOUT="5s",  # bounds the wait should a login start after all
        )
        assert _finish(child) == 0, screen.getvalue()
        assert server.refresh_requests == 1
    assert [r["argv"] for r in home.reports()] == [["-p", "hi"]]
    return screen.getvalue(), runs


@pytest.mark.parametrize(
    "redirect",
    ["| cat", "< /dev/null"],
    ids=["stdout-is-a-pipe", "stdin-is-not-a-terminal"],
)
def test_no_login_unless_both_stdin_and_stdout_are_a_terminal(home: Home, redirect: str) -> None:
    # `claude -p ... | jq`: a login drawn into the pipe would hang the pipeline.
    screen, runs = _launch(home, "invalid_grant", redirect)
    assert "invalid_grant" in screen
    assert not runs.exists(), screen


def test_a_server_error_on_a_terminal_never_logs_in(home: Home) -> None:
    # A 500 says nothing about the token: the next launch may refresh it; a login is needless.
    screen, runs = _launch(home, "500")
    assert "HTTP 500" in screen
    assert not runs.exists(), screen
    assert home.read()["claudeAiOauth"]["accessToken"] == "old-access"


def test_a_file_without_a_refresh_token_logs_in_on_a_terminal(home: Home) -> None:
    _configure(home)
    home.write_claude(time.time() - 60, refresh=None)
    with TokenServer() as server:
        child, screen = _on_a_terminal(
            home, f"{BIN / 'wrap-claude'} -p hi", WRAP_TOKEN_URL=server.url
        )
        child.expect("Paste code here")
        child.sendline("good-code")
        assert _finish(child) == 0, screen.getvalue()
        assert server.refresh_requests == 0  # nothing to send
    assert "no refresh token" in screen.getvalue()
    assert home.read()["claudeAiOauth"]["accessToken"] == TOKEN
    [report] = home.reports()
    assert report["token_digest"] == digest(TOKEN)


def _keep(home: Home, token: str, expires_at: float) -> None:
    env = home.env()
    save_env_token(config.state_dir(env), str(home.creds), token, expires_at)


def test_a_kept_setup_token_is_handed_to_the_program(home: Home) -> None:
    _configure(home, 'setup_token = "env"\n')
    home.write_claude(time.time() + 30 * 86400)
    _keep(home, "kept-token", time.time() + 86400)
    r = home.wrap_claude()
    assert r.returncode == 0, r.stderr
    assert home.reports()[0]["env_token_digest"] == digest("kept-token")


def test_the_users_own_token_is_never_overridden_by_a_kept_one(home: Home) -> None:
    _configure(home, 'setup_token = "env"\n')
    home.write_claude(time.time() + 30 * 86400)
    _keep(home, "kept-token", time.time() + 86400)
    r = home.wrap_claude(env=home.env(**{state.ENV_TOKEN: "users-own-token"}))
    assert r.returncode == 0, r.stderr
    assert home.reports()[0]["env_token_digest"] == digest("users-own-token")


def test_an_expired_kept_token_is_never_handed_over(home: Home) -> None:
    _configure(home, 'setup_token = "env"\n')
    home.write_claude(time.time() + 30 * 86400)
    _keep(home, "kept-token", time.time() - 60)
    r = home.wrap_claude()
    assert r.returncode == 0, r.stderr
    assert home.reports()[0]["env_token_digest"] is None


def test_an_answer_without_expires_in_lives_an_hour_not_a_year(
    home: Home, server: TokenServer
) -> None:
    t0 = 1_800_000_000.0
    home.write_claude(t0 + 3600)
    server.faults = ["no_expires_in"]
    err = io.StringIO()
    settings = config.resolve({"token_url": server.url}, home.env())
    code = gate.gate(settings, env=home.env(), now=lambda: t0, log=Log(stream=err), program="c")
    assert (code, err.getvalue()) == (None, "")
    oauth = home.read()["claudeAiOauth"]
    assert oauth["accessToken"] == "test-access-1"
    assert oauth["expiresAt"] == int((t0 + 3600) * 1000)
    kept = Path(state.state_path(config.state_dir(home.env()), str(home.creds)))
    assert json.loads(kept.read_text())["lifetime"] == 3600
