"""Every built-in profile: read its fixture, decide its state, refresh it against the loopback
server in its own body encoding, write it back, and compare the file field by field."""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from conftest import FIXTURES, Home
from token_server import TokenServer

from launcher import config, credentials, gate, policy, profiles
from launcher.log import Log

T0 = 1_700_000_000.0  # before every fixture's expiry, within 7 days of none of them
DAY = 86400


def _load(name: str) -> tuple[bytes, dict[str, Any]]:
    data = (FIXTURES / name).read_bytes()
    return data, json.loads(data)


CASES = {
    # profile, fixture, file under HOME, expected expiry (epoch s)
    "claude": ("claude.credentials.json", ".claude/.credentials.json", 1765759825.273),
    "gemini": ("gemini.oauth_creds.json", ".gemini/oauth_creds.json", 1760000000.0),
    "qwen": ("qwen.oauth_creds.json", ".qwen/oauth_creds.json", 1760000000.0),
    "codex": ("codex.auth.json", ".codex/auth.json", 1760000000.0),
    "kiro": ("kiro-auth-token.social.json", ".aws/sso/cache/kiro-auth-token.json", 1767853859.065),
    "iflow": ("iflow.oauth_creds.json", ".iflow/oauth_creds.json", 1760000000.0),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_reads_fixture_and_decides_state(name: str) -> None:
    fixture, _, expiry = CASES[name]
    data, _ = _load(fixture)
    _, creds = credentials.parse(profiles.BUILTIN[name], data, fixture)
    assert creds.expires_at == pytest.approx(expiry)
    assert creds.refresh_token
    assert policy.token_state(creds.expires_at, expiry - 30 * DAY, 7 * DAY) == policy.FRESH
    assert policy.token_state(creds.expires_at, expiry - DAY, 7 * DAY) == policy.EXPIRING
    assert policy.token_state(creds.expires_at, expiry + 1, 7 * DAY) == policy.EXPIRED


def test_kiro_idc_fixture_reads_too() -> None:
    data, _ = _load("kiro-auth-token.idc.json")
    _, creds = credentials.parse(profiles.KIRO, data, "idc")
    assert creds.expires_at == pytest.approx(1767853859.065)


def _install(home: Home, name: str, fixture: str | None = None) -> tuple[Path, bytes]:
    fixture_name, rel, _ = CASES[name]
    target = home.root / rel
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(FIXTURES / (fixture or fixture_name), target)
    target.chmod(0o600)
    # The fixtures' refresh tokens are what the server will accept first.
    return target, target.read_bytes()


def _refresh(home: Home, name: str, url: str, now: float) -> str:
    err = io.StringIO()
    settings = config.resolve({"profile": name, "token_url": url, "threshold": "7d"}, home.env())
    code = gate.gate(settings, env=home.env(), now=lambda: now, log=Log(stream=err), program=name)
    assert code is None
    return err.getvalue()


def _changed(before: dict[str, Any], after: dict[str, Any], prefix: str = "") -> set[str]:
    """Dotted paths whose values differ (keys added or removed count too)."""
    out = set()
    for key in before.keys() | after.keys():
        path = f"{prefix}{key}"
        a, b = before.get(key), after.get(key)
        if isinstance(a, dict) and isinstance(b, dict):
            out |= _changed(a, b, path + ".")
        elif a != b or (key in before) != (key in after):
            out.add(path)
    return out


def _same_layout(before: bytes, after: bytes) -> None:
    """Key order at every level and the indentation survive the write-back."""
    b, a = json.loads(before), json.loads(after)

    def order(doc: Any) -> Any:
        return [(k, order(v)) for k, v in doc.items()] if isinstance(doc, dict) else None

    assert order(a) == order(b)
    second = before.split(b"\n")[1]
    indent = second[: len(second) - len(second.lstrip())]
    assert after.split(b"\n")[1].startswith(indent + b'"')


def test_claude_json_body_and_fields(home: Home) -> None:
    path, before = _install(home, "claude")
    with TokenServer() as server:
        err = _refresh(home, "claude", server.url, 1765759825 - DAY)
        assert server.requests[0]["_content_type"] == "application/json"
        assert server.requests[0]["client_id"] == profiles.CLAUDE.client_id
    assert err == ""
    after = path.read_bytes()
    assert _changed(json.loads(before), json.loads(after)) == {
        "claudeAiOauth.accessToken",
        "claudeAiOauth.refreshToken",
        "claudeAiOauth.expiresAt",
    }
    assert isinstance(json.loads(after)["claudeAiOauth"]["expiresAt"], int)
    _same_layout(before, after)


def test_gemini_form_body_keeps_refresh_token_google_does_not_resend(home: Home) -> None:
    path, before = _install(home, "gemini")
    with TokenServer(rotate=False) as server:
        server.extra = {"id_token": "new-id-token", "scope": "openid"}
        err = _refresh(home, "gemini", server.url, 1760000000 - DAY)
        req = server.requests[0]
    assert err == ""
    assert req["_content_type"] == "application/x-www-form-urlencoded"
    assert req["client_id"] == profiles.GEMINI.client_id
    assert "client_secret" in req
    assert "_authorization" not in req
    doc_before, doc_after = json.loads(before), json.loads(path.read_bytes())
    assert _changed(doc_before, doc_after) == {"access_token", "expiry_date", "id_token"}
    assert doc_after["refresh_token"] == doc_before["refresh_token"]
    assert doc_after["expiry_date"] == (1760000000 - DAY + 28800) * 1000
    _same_layout(before, path.read_bytes())


@pytest.mark.parametrize("sends_resource_url", [True, False])
def test_qwen_resource_url_updated_only_when_sent(home: Home, sends_resource_url: bool) -> None:
    path, before = _install(home, "qwen")
    with TokenServer() as server:
        if sends_resource_url:
            server.extra = {"resource_url": "portal2.qwen.ai"}
        _refresh(home, "qwen", server.url, 1760000000 - DAY)
        assert server.requests[0]["_content_type"] == "application/x-www-form-urlencoded"
    doc = json.loads(path.read_bytes())
    assert doc["resource_url"] == ("portal2.qwen.ai" if sends_resource_url else "portal.qwen.ai")
    changed = _changed(json.loads(before), doc)
    assert changed == {"access_token", "refresh_token", "expiry_date"} | (
        {"resource_url"} if sends_resource_url else set()
    )


def test_codex_expiry_from_jwt_and_last_refresh_written(home: Home) -> None:
    path, before = _install(home, "codex")
    with TokenServer(jwt=True) as server:
        _refresh(home, "codex", server.url, 1760000000 - DAY)
        assert server.requests[0]["client_id"] == profiles.CODEX.client_id
    doc_before, doc = json.loads(before), json.loads(path.read_bytes())
    assert _changed(doc_before, doc) == {
        "tokens.access_token",
        "tokens.refresh_token",
        "tokens.id_token",
        "last_refresh",
    }
    assert doc["last_refresh"] == "2025-10-08T08:53:20.000000Z"  # the file's own style
    assert doc["tokens"]["account_id"] == doc_before["tokens"]["account_id"]
    _, creds = credentials.parse(profiles.CODEX, path.read_bytes(), "codex")
    assert creds.expires_at is not None
    assert creds.expires_at > 1760000000


def test_kiro_social_camel_case_and_iso_expiry_form(home: Home) -> None:
    path, before = _install(home, "kiro")
    with TokenServer() as server:
        url = server.url.replace("/token", "/{region}/refreshToken")
        err = _refresh(home, "kiro", url, 1767853859 - DAY)
        assert err == ""
        assert "grantType" not in server.requests[0]
    doc = json.loads(path.read_bytes())
    assert _changed(json.loads(before), doc) == {"accessToken", "refreshToken", "expiresAt"}
    assert doc["expiresAt"] == "2026-01-07T14:30:59.000Z"  # ...Z with milliseconds, as before
    _same_layout(before, path.read_bytes())


def test_kiro_idc_uses_client_registration_beside_the_file(home: Home) -> None:
    path, before = _install(home, "kiro", "kiro-auth-token.idc.json")
    doc = json.loads(before)
    (path.parent / f"{doc['clientIdHash']}.json").write_text(
        json.dumps({"clientId": "idc-client", "clientSecret": "idc-secret"})
    )
    with TokenServer() as server:
        err = _refresh(home, "kiro", server.url, 1767853859 - DAY)
        req = server.requests[0]
    assert err == ""
    assert req["clientId"] == "idc-client"
    assert req["grantType"] == "refresh_token"
    assert _changed(doc, json.loads(path.read_bytes())) == {
        "accessToken",
        "refreshToken",
        "expiresAt",
    }


def test_iflow_form_with_basic_auth_from_config(home: Home) -> None:
    path, before = _install(home, "iflow")
    cfg = home.root / "config" / "wrap"
    cfg.mkdir(parents=True)
    (cfg / "config.toml").write_text(
        '[profiles.iflow]\nclient_id = "iflow-id"\nclient_secret = "iflow-secret"\n'
    )
    with TokenServer() as server:
        _refresh(home, "iflow", server.url, 1760000000 - DAY)
        req = server.requests[0]
    assert req["_authorization"] == "present"
    assert req["_content_type"] == "application/x-www-form-urlencoded"
    assert "client_secret" not in req
    changed = _changed(json.loads(before), json.loads(path.read_bytes()))
    assert changed == {"access_token", "refresh_token", "expiry_date"}


def test_gate_picks_profile_from_program_name(home: Home) -> None:
    assert config.resolve({}, home.env(), program="/usr/bin/gemini").profile.name == "gemini"
    assert config.resolve({}, home.env(), program="qwen").profile.name == "qwen"
    assert (
        config.resolve({"profile": "codex"}, home.env(), program="gemini").profile.name == "codex"
    )
    assert config.resolve({}, home.env(), program="vim").profile.name == "claude"


def test_wrap_gemini_refreshes_gemini_file_and_execs(home: Home) -> None:
    path, _ = _install(home, "gemini")
    data = json.loads(path.read_bytes())
    data["expiry_date"] = int((__import__("time").time() + 3600) * 1000)
    path.write_text(json.dumps(data, indent=2))
    (home.bin / "gemini").write_bytes((home.bin / "claude").read_bytes())
    (home.bin / "gemini").chmod(0o755)
    with TokenServer(rotate=False) as server:
        r = home.wrap("--token-url", server.url, "gemini", "-m", "x")
        assert server.refresh_requests == 1
    assert r.returncode == 0, r.stderr
    assert home.reports()[0]["argv"] == ["-m", "x"]
    assert json.loads(path.read_bytes())["access_token"] == "test-access-1"
