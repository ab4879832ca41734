"""The refresh request as each vendor's CLI sends it: headers, body fields and their order."""

from __future__ import annotations

import json
import time

from conftest import FIXTURES, Home
from token_server import TokenServer

from launcher import profiles
from launcher.vendors import codex, request


def test_claude_refresh_looks_like_claude_codes(home: Home, server: TokenServer) -> None:
    home.write_claude(time.time() + 60)
    r = home.wrap_claude(env=home.env(WRAP_TOKEN_URL=server.url))
    assert r.returncode == 0, r.stderr
    (sent,) = server.requests
    (headers,) = server.headers
    assert server.orders == [["grant_type", "refresh_token", "client_id", "scope"]]
    assert sent["_content_type"] == "application/json"
    assert headers["accept"] == "application/json, text/plain, */*"
    assert headers["user-agent"] == "axios/1.15.2"


def codex_refresh(home: Home) -> tuple[dict[str, object], dict[str, str], list[str]]:
    """`wrap --profile codex --refresh-token` against a token server: the fields wrap sent
    (without the token), its headers and the body's field order."""
    codex_home = home.root / "codex"
    codex_home.mkdir()
    doc = json.loads((FIXTURES / "codex.auth.json").read_text())
    doc["tokens"]["refresh_token"] = "old-refresh"
    (codex_home / "auth.json").write_text(json.dumps(doc, indent=2))
    with TokenServer(jwt=True) as server:
        server.seed("old-refresh")
        env = home.env(WRAP_TOKEN_URL=server.url, CODEX_HOME=str(codex_home), TERM="xterm")
        r = home.wrap("--profile", "codex", "--refresh-token", env=env)
        assert r.returncode == 0, r.stderr
        ((sent,), (headers,), (order,)) = server.requests, server.headers, server.orders
    return sent, headers, order


def test_codex_refresh_looks_like_codex_execs(home: Home) -> None:
    sent, headers, order = codex_refresh(home)
    assert order == ["client_id", "grant_type", "refresh_reason", "refresh_token"]
    assert sent["refresh_reason"] == "proactive_expiry"
    assert headers["originator"] == "codex_exec"
    agent = headers["user-agent"]
    assert agent.startswith(f"codex_exec/{codex.CHECKED} (")  # no codex installed here
    assert agent.endswith(") xterm")
    assert "python-httpx" not in agent


def test_machine_parts_of_a_user_agent_are_filled_in() -> None:
    filled = request.headers(profiles.CODEX.headers, {"TERM": "screen"})
    agent = filled["User-Agent"]
    assert "{" not in agent
    assert agent.endswith(") screen")
    os_part = agent.split("(")[1].split(";")[0]
    assert len(os_part.split(" ")[-1].split(".")) == 3  # os_info's three-number version


def test_a_custom_profile_sets_its_own_headers(home: Home, server: TokenServer) -> None:
    config = home.root / "config" / "wrap" / "config.toml"
    config.parent.mkdir(parents=True)
    config.write_text('[profiles.claude]\nheaders = { "User-Agent" = "my-tool/1.0" }\n')
    home.write_claude(time.time() + 60)
    r = home.wrap_claude(env=home.env(WRAP_TOKEN_URL=server.url))
    assert r.returncode == 0, r.stderr
    assert server.headers[0]["user-agent"] == "my-tool/1.0"
