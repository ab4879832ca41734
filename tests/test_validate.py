"""Values from a Kiro file that go into the token URL's host or a file name are checked before
anything is sent: a planted region or clientIdHash cannot redirect the refresh token or read
another file's client secret."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import FIXTURES, Home
from token_server import TokenServer

from launcher import validate
from launcher.errors import RefreshError


def _kiro(home: Home, fixture: str, **changes: str) -> Path:
    doc = json.loads((FIXTURES / fixture).read_text())
    doc.update(changes)
    doc["expiresAt"] = "2000-01-01T00:00:00.000Z"
    path = home.root / ".aws" / "sso" / "cache" / "kiro-auth-token.json"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps(doc, indent=2))
    return path


def test_a_region_that_would_move_the_host_is_refused_and_nothing_sent(home: Home) -> None:
    with TokenServer() as attacker:
        host = attacker.url.removeprefix("http://").removesuffix("/token")
        path = _kiro(home, "kiro-auth-token.social.json", region=f"x@{host}/")
        before = path.read_bytes()
        # The token URL the way Kiro's is built: the region inside the host name.
        template = "http://prod.{region}.auth.example.invalid/refreshToken"
        r = home.wrap("--profile", "kiro", "--token-url", template, "--refresh-token")
        assert attacker.refresh_requests == 0
    assert r.returncode == 5
    assert "invalid region" in r.stderr
    assert "nothing was sent" in r.stderr
    assert len(r.stderr.splitlines()) == 1
    assert path.read_bytes() == before


def test_a_client_id_hash_that_leaves_the_directory_is_refused(home: Home) -> None:
    # Another registration two levels up: a traversal would read its secret and send it.
    elsewhere = home.root / ".aws" / "other.json"
    path = _kiro(home, "kiro-auth-token.idc.json", clientIdHash="../other")
    elsewhere.write_text(json.dumps({"clientId": "stolen", "clientSecret": "stolen-secret"}))
    with TokenServer() as server:
        r = home.wrap("--profile", "kiro", "--token-url", server.url, "--refresh-token")
        assert server.refresh_requests == 0
    assert r.returncode == 5
    assert "invalid clientIdHash" in r.stderr
    assert len(r.stderr.splitlines()) == 1
    assert json.loads(path.read_text())["clientIdHash"] == "../other"


@pytest.mark.parametrize(
    ("field", "value", "ok"),
    [
        ("region", "us-east-1", True),
        ("region", "us-gov-west-1", True),
        ("region", "eu-central-1", True),
        ("region", "us-east-1.evil.example", False),
        ("region", "@attacker.example/", False),
        ("region", "US-EAST-1", False),
        ("region", "us-east-1\n", False),
        ("clientIdHash", "0123456789abcdef0123456789abcdef01234567", True),
        ("clientIdHash", "a_B-9", True),
        ("clientIdHash", "../x", False),
        ("clientIdHash", "a/b", False),
        ("clientIdHash", "..", False),
        ("tenant", "my.tenant-1", True),
        ("tenant", "..", False),
        ("tenant", "a/b", False),
        ("tenant", "x@y", False),
    ],
)
def test_template_values(field: str, value: str, ok: bool) -> None:
    if ok:
        validate.template_value(field, value, "f.json", "token URL")
    else:
        with pytest.raises(RefreshError) as caught:
            validate.template_value(field, value, "f.json", "token URL")
        assert caught.value.sent is False
