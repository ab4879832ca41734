"""The gate in-process, with an injected clock, against a real token server on 127.0.0.1."""

from __future__ import annotations

import io
import json
import os
from pathlib import Path
from typing import Any

import pytest
from conftest import CLAUDE_2_1_337_KEYS, Clock, Home, claude_doc
from token_server import TokenServer

from launcher import config, gate, state
from launcher.errors import RefreshError
from launcher.log import Log
from launcher.refresh.route import renew

HOUR = 3600
DAY = 86400
T0 = 1_800_000_000.0


def _settings(home: Home, server: TokenServer, **flags: Any) -> config.Settings:
    return config.resolve({"token_url": server.url, **flags}, home.env())


def _gate(home: Home, server: TokenServer, t: float, **flags: Any) -> tuple[int | None, str]:
    err = io.StringIO()
    code = gate.gate(
        _settings(home, server, **flags),
        env=home.env(),
        now=Clock(t),
        log=Log(stream=err),
        program="claude",
    )
    return code, err.getvalue()


def test_fresh_token_no_network_no_lock_no_write(home: Home, server: TokenServer) -> None:
    data = home.write_claude(T0 + 30 * DAY)
    before = home.creds.stat()
    code, err = _gate(home, server, T0)
    assert (code, err) == (None, "")
    assert server.refresh_requests == 0
    assert home.creds.read_bytes() == data
    assert home.creds.stat().st_mtime_ns == before.st_mtime_ns
    assert sorted(p.name for p in home.claude_dir.iterdir()) == [".credentials.json"]
    assert not (home.root / "state").exists()


def test_expiring_token_is_refreshed_and_every_field_kept(home: Home, server: TokenServer) -> None:
    home.write_claude(T0 + 2 * DAY)
    original = home.read()
    code, err = _gate(home, server, T0)
    assert (code, err) == (None, "")
    new = home.read()
    oauth = new["claudeAiOauth"]
    assert oauth["accessToken"] == "test-access-1"
    assert oauth["refreshToken"] == "test-refresh-1"
    assert oauth["expiresAt"] == int((T0 + 28800) * 1000)
    assert list(new) == list(original)
    assert list(oauth) == list(original["claudeAiOauth"])
    for key in ("scopes", "subscriptionType", "rateLimitTier"):
        assert oauth[key] == original["claudeAiOauth"][key]
    assert new["mcpOAuth"] == original["mcpOAuth"]
    assert server.requests[0]["client_id"] == "9d1c250a-e61b-44d9-88ed-5944d1962f5e"


def _learn_lifetime(home: Home, server: TokenServer) -> config.Settings:
    """Wrap's own refresh at T0 teaches it the lifetime (8 h), as after any earlier launch."""
    home.write_claude(T0 + HOUR)
    settings = _settings(home, server)
    renew(settings, config.state_dir(home.env()), now=Clock(T0), log=Log(stream=io.StringIO()))
    assert server.refresh_requests == 1
    return settings


def test_ten_launches_over_an_eight_hour_token_make_one_refresh(
    home: Home, server: TokenServer
) -> None:
    _learn_lifetime(home, server)

    for i in range(10):  # every 48 minutes across the new token's 8-hour life
        code, err = _gate(home, server, T0 + i * 48 * 60)
        assert (code, err) == (None, "")
    assert server.refresh_requests == 2  # one refresh, at half-life, for the ten launches


def test_a_token_fresh_by_the_lifetime_rule_takes_no_lock_and_loads_no_refresh(
    home: Home, server: TokenServer
) -> None:
    # Within the raw 7-day threshold, but fresh under the learnt 8-hour lifetime: the gate
    # decides alone, without the slow path (the lock, httpx) that would decide the same.
    settings = _learn_lifetime(home, server)
    calls: list[float] = []

    def spy(*args: Any, **kw: Any) -> Any:
        calls.append(kw["now"]())
        return renew(*args, **kw)

    err = io.StringIO()
    code = gate.gate(
        settings, env=home.env(), now=Clock(T0 + HOUR), log=Log(stream=err), program="c", renew=spy
    )
    assert (code, err.getvalue(), calls) == (None, "", [])
    code = gate.gate(
        settings,
        env=home.env(),
        now=Clock(T0 + 5 * HOUR),
        log=Log(stream=err),
        program="c",
        renew=spy,
    )
    assert (code, calls) == (None, [T0 + 5 * HOUR])  # past half-life: the slow path, once
    assert server.refresh_requests == 2


def test_without_known_lifetime_the_threshold_applies(home: Home, server: TokenServer) -> None:
    home.write_claude(T0 + 6 * DAY)
    _gate(home, server, T0)
    assert server.refresh_requests == 1


def test_zero_threshold_leaves_expiring_token(home: Home, server: TokenServer) -> None:
    home.write_claude(T0 + 60)
    _gate(home, server, T0, threshold="0")
    assert server.refresh_requests == 0


def test_failure_leaves_file_byte_for_byte_and_warns_once(home: Home, server: TokenServer) -> None:
    data = home.write_claude(T0 + HOUR)
    server.faults = ["500"] * 10
    code, err = _gate(home, server, T0)
    assert code is None  # launch anyway
    assert home.creds.read_bytes() == data
    assert len(err.splitlines()) == 1
    assert "HTTP 500" in err
    assert "launching claude anyway" in err
    assert "old-refresh" not in err
    assert "old-access" not in err


def test_strict_with_expired_token_and_failed_refresh_exits_5(
    home: Home, server: TokenServer
) -> None:
    home.write_claude(T0 - HOUR)
    server.faults = ["invalid_grant"]
    code, err = _gate(home, server, T0, strict=True)
    assert code == 5
    assert "not launching" in err


def test_strict_with_expiring_token_and_failed_refresh_still_launches(
    home: Home, server: TokenServer
) -> None:
    data = home.write_claude(T0 + HOUR)
    server.faults = ["invalid_grant"]
    code, err = _gate(home, server, T0, strict=True)
    assert code is None
    # The refresh was tried and failed; the launch goes on because the token is still valid.
    assert server.refresh_requests == 1
    assert "invalid_grant" in err
    assert "launching claude anyway, its token is valid for now" in err
    assert home.creds.read_bytes() == data


def test_new_refresh_token_saved_even_when_response_unusable(
    home: Home, server: TokenServer
) -> None:
    home.write_claude(T0 + HOUR)
    before = home.read()
    server.faults = ["no_access_token"]
    _gate(home, server, T0)
    after = home.read()
    assert after["claudeAiOauth"].pop("refreshToken") == "test-refresh-1"
    before["claudeAiOauth"].pop("refreshToken")
    assert after == before


def test_newer_claudes_top_level_keys_are_kept_byte_for_byte(
    home: Home, server: TokenServer
) -> None:
    doc = {**claude_doc(T0 + 2 * DAY), **CLAUDE_2_1_337_KEYS}
    home.creds.write_text(json.dumps(doc, separators=(",", ":")))
    home.creds.chmod(0o600)
    code, err = _gate(home, server, T0)
    assert (code, err) == (None, "")
    assert server.refresh_requests == 1
    written = home.creds.read_text()
    for key, value in CLAUDE_2_1_337_KEYS.items():
        assert f'"{key}":{json.dumps(value, separators=(",", ":"))}' in written
    new = json.loads(written)
    assert list(new) == list(doc)
    assert new["claudeAiOauth"]["refreshToken"] == "test-refresh-1"
    # The other chain is Claude's to refresh: wrap sent only the login's token.
    assert server.received == ["old-refresh"]


def test_missing_refresh_token_in_response_keeps_old(home: Home) -> None:
    with TokenServer(rotate=False) as server:
        server.seed("old-refresh")
        home.write_claude(T0 + HOUR)
        _gate(home, server, T0)
    oauth = home.read()["claudeAiOauth"]
    assert oauth["accessToken"] == "test-access-1"
    assert oauth["refreshToken"] == "old-refresh"


def test_no_refresh_token_warns_with_login_hint(home: Home, server: TokenServer) -> None:
    data = home.write_claude(T0 + HOUR, refresh=None)
    _, err = _gate(home, server, T0)
    assert "no refresh token" in err
    assert "'wrap login claude'" in err
    assert server.refresh_requests == 0
    assert home.creds.read_bytes() == data


def test_rejected_token_suspends_automatic_refresh_until_file_changes(
    home: Home, server: TokenServer
) -> None:
    home.write_claude(T0 + HOUR)
    server.faults = ["invalid_grant"]
    _, err = _gate(home, server, T0)
    assert "invalid_grant" in err
    _, err = _gate(home, server, T0 + 60)
    assert "suspended" in err
    assert "wrap --refresh-token" in err
    assert len(err.splitlines()) == 1
    assert server.refresh_requests == 1

    home.write_claude(T0 + HOUR, refresh="old-refresh")  # someone logged in again
    os.utime(home.creds, ns=(1, 1))
    _, err = _gate(home, server, T0 + 120)
    assert err == ""
    assert server.refresh_requests == 2


def test_forced_refresh_bypasses_suspension(home: Home, server: TokenServer) -> None:
    home.write_claude(T0 + HOUR)
    server.faults = ["invalid_grant"]
    _gate(home, server, T0)
    settings = _settings(home, server)
    state_dir = config.state_dir(home.env())
    # The suspension is in force: an automatic refresh is refused without asking the server.
    with pytest.raises(RefreshError, match="suspended"):
        renew(settings, state_dir, now=Clock(T0 + 60), log=Log(stream=io.StringIO()))
    assert server.refresh_requests == 1
    creds = renew(
        settings, state_dir, now=Clock(T0 + 60), log=Log(stream=io.StringIO()), forced=True
    )
    assert creds.access_token == "test-access-1"
    assert server.refresh_requests == 2
    assert state.load(state_dir, str(home.creds)).suspended_at_version is None


def test_state_remembers_without_token_values(home: Home, server: TokenServer) -> None:
    home.write_claude(T0 + HOUR)
    _gate(home, server, T0)
    path = Path(state.state_path(config.state_dir(home.env()), str(home.creds)))
    raw = path.read_text()
    saved = json.loads(raw)
    assert saved["lifetime"] == 28800
    assert saved["refresh_count"] == 1
    assert saved["last_refreshed"] == T0
    for token in ("test-access-1", "test-refresh-1", "old-access", "old-refresh"):
        assert token not in raw
    assert path.stat().st_mode & 0o777 == 0o600
    assert path.parent.stat().st_mode & 0o777 == 0o700


def test_keeps_file_mode(home: Home, server: TokenServer) -> None:
    # Owner read-only is the user's choice and stays (group or other bits do not: test_ownership).
    home.write(_doc(T0 + HOUR), mode=0o400)
    _gate(home, server, T0)
    # It was rewritten (not the inode: a second replace may get the first file's number back).
    assert home.read()["claudeAiOauth"]["accessToken"] == "test-access-1"
    assert home.creds.stat().st_mode & 0o777 == 0o400


def test_symlink_is_written_through_and_stays_a_link(
    home: Home, server: TokenServer, tmp_path: Path
) -> None:
    real = tmp_path / "vault" / "claude.json"
    real.parent.mkdir()
    real.write_text(json.dumps(_doc(T0 + HOUR)))
    real.chmod(0o600)
    home.creds.symlink_to(real)
    _gate(home, server, T0)
    assert home.creds.is_symlink()
    assert json.loads(real.read_text())["claudeAiOauth"]["accessToken"] == "test-access-1"
    assert not list(home.claude_dir.glob(".*.tmp"))


def test_http_non_loopback_url_warns_and_sends_nothing(home: Home, server: TokenServer) -> None:
    data = home.write_claude(T0 + HOUR)
    err = io.StringIO()
    settings = config.resolve({"token_url": "http://example.com/token"}, home.env())
    code = gate.gate(settings, env=home.env(), now=Clock(T0), log=Log(stream=err), program="c")
    assert code is None
    assert "https" in err.getvalue()
    assert home.creds.read_bytes() == data


def _doc(expires_at: float) -> dict[str, Any]:
    from conftest import claude_doc

    return claude_doc(expires_at)


@pytest.mark.parametrize("indent", [2, 4, "\t", None])
def test_write_back_keeps_indentation(home: Home, server: TokenServer, indent: Any) -> None:
    text = json.dumps(_doc(T0 + HOUR), indent=indent)
    if indent is None:
        text = json.dumps(_doc(T0 + HOUR), separators=(",", ":"))
    home.creds.write_text(text)
    _gate(home, server, T0)
    new = home.creds.read_text()
    expected_doc = json.loads(new)
    assert expected_doc["claudeAiOauth"]["accessToken"] == "test-access-1"  # it was rewritten
    if indent is None:
        assert new == json.dumps(expected_doc, separators=(",", ":"))
    else:
        assert new == json.dumps(expected_doc, indent=indent, ensure_ascii=False)


def test_a_failed_refresh_is_one_short_line_in_order(home: Home) -> None:
    # What happened (where), what wrap does, what comes next; ~ for the home directory.
    import socket
    import time

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{s.getsockname()[1]}/token"
    home.write_claude(time.time() + HOUR)
    r = home.wrap_claude(env=home.env(WRAP_TOKEN_URL=closed, WRAP_REFRESH_TIMEOUT="2s"))
    assert r.returncode == 0
    line = r.stderr.strip()
    assert "\n" not in line
    assert line.startswith("wrap: could not refresh ~/.claude/.credentials.json: cannot connect")
    said = [line.index(p) for p in ("could not", "launching claude", "next launch tries again")]
    assert said == sorted(said)
    # Most of it is the cause as the HTTP client says it (was 318 with the whole path and a
    # longer tail; the cause's own wording is launcher/refresh's).
    assert len(line) <= 280, len(line)
