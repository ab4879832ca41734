"""--token-url, WRAP_TOKEN_URL, WRAP_CLIENT_ID and a top-level token_url/client_id belong to the
launched profile only: `wrap refresh --all` never sends another account's refresh token or
client secret to them. Two real token servers: one the override names, one Gemini's own."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from conftest import FIXTURES, Home
from token_server import TokenServer

GEMINI_REFRESH = "1//gemini-refresh-token-value"
GEMINI_SECRET = "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"


def _gemini(home: Home, expires_at: float) -> Path:
    doc = json.loads((FIXTURES / "gemini.oauth_creds.json").read_text())
    doc["refresh_token"] = GEMINI_REFRESH
    doc["expiry_date"] = int(expires_at * 1000)
    path = home.root / ".gemini" / "oauth_creds.json"
    path.parent.mkdir()
    path.write_text(json.dumps(doc, indent=2))
    path.chmod(0o600)
    return path


def _config(home: Home, text: str) -> None:
    cfg = home.root / "config" / "wrap"
    cfg.mkdir(parents=True, exist_ok=True)
    (cfg / "config.toml").write_text(text)


@pytest.mark.parametrize("command", [("refresh", "--all"), ("keepalive",)])
@pytest.mark.parametrize("source", ["flag", "env", "top-level"])
def test_refresh_all_sends_each_token_to_its_own_profiles_url(
    home: Home, source: str, command: tuple[str, ...]
) -> None:
    home.write_claude(time.time() + 3600, refresh="claude-refresh-token")
    gemini = _gemini(home, time.time() + 60)
    with TokenServer() as override, TokenServer() as google:
        gemini_section = f'[profiles.gemini]\ntoken_url = "{google.url}"\n'
        args: list[str] = []
        env = home.env()
        if source == "flag":
            args = ["--token-url", override.url, "--client-id", "override-client"]
        elif source == "env":
            env = home.env(WRAP_TOKEN_URL=override.url, WRAP_CLIENT_ID="override-client")
        top = f'token_url = "{override.url}"\nclient_id = "override-client"\n'
        _config(home, (top if source == "top-level" else "") + gemini_section)
        r = home.wrap(*args, *command, env=env)
        assert r.returncode == 0, r.stdout + r.stderr
        # Claude (the launched profile) went to the override, Gemini to its own endpoint only.
        assert override.used == {"claude-refresh-token"}
        assert google.used == {GEMINI_REFRESH}
        [to_override] = override.requests
        assert to_override["client_id"] == "override-client"
        assert "client_secret" not in to_override
        [to_google] = google.requests
        assert to_google["client_id"].endswith(".apps.googleusercontent.com")
        assert to_google["client_secret"] == GEMINI_SECRET
    assert json.loads(gemini.read_text())["refresh_token"] == "test-refresh-1"


def test_the_override_follows_the_launched_profile(home: Home) -> None:
    # `--profile gemini`: now Gemini is the launched profile and Claude keeps its own URL,
    # which here is a second local server set per profile.
    home.write_claude(time.time() + 3600, refresh="claude-refresh-token")
    _gemini(home, time.time() + 60)
    with TokenServer() as override, TokenServer() as anthropic:
        _config(home, f'[profiles.claude]\ntoken_url = "{anthropic.url}"\n')
        r = home.wrap(
            "--profile", "gemini", "refresh", "--all", env=home.env(WRAP_TOKEN_URL=override.url)
        )
        assert r.returncode == 0, r.stdout + r.stderr
        assert override.used == {GEMINI_REFRESH}
        assert anthropic.used == {"claude-refresh-token"}


def test_another_file_of_the_launched_profile_does_not_take_the_override(home: Home) -> None:
    # Two Claude files: the gate uses $CLAUDE_CONFIG_DIR's, so only that one takes the override;
    # ~/.claude's keeps the URL set for the profile.
    home.write_claude(time.time() + 3600, refresh="home-refresh-token")
    work = home.root / "work"
    work.mkdir()
    (work / ".credentials.json").write_text(
        home.creds.read_text().replace("home-refresh-token", "work-refresh-token")
    )
    (work / ".credentials.json").chmod(0o600)
    with TokenServer() as override, TokenServer() as anthropic:
        _config(home, f'[profiles.claude]\ntoken_url = "{anthropic.url}"\n')
        env = home.env(WRAP_TOKEN_URL=override.url, CLAUDE_CONFIG_DIR=str(work))
        r = home.wrap("refresh", "--all", env=env)
        assert r.returncode == 0, r.stdout + r.stderr
        assert override.used == {"work-refresh-token"}
        assert anthropic.used == {"home-refresh-token"}
