"""The [fleet] table, the store's secrets, and the access-only copies: no store needed."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from conftest import BIN, Home, claude_doc

from launcher import config, profiles
from launcher.errors import UsageError
from launcher.fleet import records
from launcher.fleet import settings as fleet_settings


def parse(table: dict[str, object], **env: str) -> fleet_settings.FleetSettings:
    return fleet_settings.parse(table, env, "/c/config.toml")


@pytest.mark.parametrize(
    ("url", "backend", "tls", "port"),
    [
        ("etcd://127.0.0.1:2379", "etcd", False, 2379),
        ("etcd+https://etcd.example.com", "etcd", True, 2379),
        ("redis://localhost/0", "redis", False, 6379),
        ("rediss://redis.example.com:6380/1", "redis", True, 6380),
        ("openbao://[::1]:8200", "openbao", False, 8200),
        ("vault+https://vault.example.com", "openbao", True, 8200),
    ],
)
def test_urls(url: str, backend: str, tls: bool, port: int) -> None:
    fs = parse({"fleet": {"url": url}})
    assert (fs.backend, fs.tls, fs.port) == (backend, tls, port)


@pytest.mark.parametrize(
    "url",
    ["etcd://etcd.example.com:2379", "redis://10.1.2.3:6379", "vault://vault.example.com"],
)
def test_a_plain_url_to_another_host_is_a_usage_error(url: str) -> None:
    with pytest.raises(UsageError, match="needs TLS") as e:
        parse({}, WRAP_FLEET_URL=url)
    assert e.value.exit_code == 2


def test_secrets_come_from_the_environment_or_files_and_never_show(tmp_path: Path) -> None:
    token = tmp_path / "token"
    token.write_text("s3cret-token\n")
    fs = parse({"fleet": {"url": "openbao://127.0.0.1", "token_file": str(token)}})
    assert fs.token == "s3cret-token"
    assert "s3cret" not in repr(fs)
    fs = parse(
        {"fleet": {"url": "redis://127.0.0.1"}}, WRAP_FLEET_PASSWORD="pw", WRAP_FLEET_USER="u"
    )
    assert (fs.user, fs.password) == ("u", "pw")
    with pytest.raises(UsageError, match="WRAP_FLEET_PASSWORD"):
        parse({}, WRAP_FLEET_URL="redis://u:pw@127.0.0.1")


@pytest.mark.parametrize(
    "table",
    [
        {"fleet": {"url": "etcd://127.0.0.1", "password": "no"}},
        {"fleet": {"url": "ftp://127.0.0.1"}},
        {"fleet": {"url": "etcd://127.0.0.1", "clock_skew": "5s"}},
        {"fleet": "etcd://127.0.0.1"},
        {},
    ],
)
def test_bad_tables_are_usage_errors(table: dict[str, object]) -> None:
    with pytest.raises(UsageError):
        parse(table)


def test_fleet_is_a_setting_of_an_account(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text('[fleet]\nurl = "etcd://127.0.0.1"\n[profiles.claude]\nfleet = "work"\n')
    settings = config.resolve({}, {"WRAP_CONFIG": str(path), "HOME": str(tmp_path)})
    assert settings.fleet == "work"
    assert config.resolve({"profile": "gemini"}, {"WRAP_CONFIG": str(path)}).fleet is None


def test_access_only_copies_keep_what_each_cli_reads() -> None:
    doc = claude_doc(2_000_000_000, refresh="r")
    copy = records.access_only(profiles.CLAUDE, doc)
    assert "refreshToken" not in copy["claudeAiOauth"]
    assert copy["claudeAiOauth"]["scopes"] == doc["claudeAiOauth"]["scopes"]
    assert copy["claudeAiOauth"]["subscriptionType"] == "max"
    assert copy["mcpOAuth"] == doc["mcpOAuth"]
    codex = {"tokens": {"access_token": "a.b.c", "refresh_token": "r", "id_token": "i"}, "x": 1}
    stripped = records.access_only(profiles.CODEX, codex)
    assert stripped["tokens"]["refresh_token"] == ""  # codex reads a missing one as broken
    assert stripped["x"] == 1


def test_a_copy_takes_the_records_tokens_and_keeps_the_local_fields() -> None:
    pushed = claude_doc(2_000_000_000, access="new-access", refresh="the-refresh-token")
    pushed["claudeAiOauth"]["refreshTokenExpiresAt"] = 2_100_000_000_000
    rec = records.Record.new(
        profiles.CLAUDE,
        pushed,
        "the-refresh-token",
        lifetime=28800,
        machine="laptop",
        at=1_900_000_000,
    )
    assert "the-refresh-token" not in json.dumps(rec.doc)
    assert rec.data["login_expires_at"] == 2_100_000_000
    local = claude_doc(1_900_000_000, access="old-access", refresh=None)
    local["mine"] = {"kept": True}
    out = records.copy_onto(profiles.CLAUDE, local, rec)
    assert out["claudeAiOauth"]["accessToken"] == "new-access"
    assert out["claudeAiOauth"]["refreshTokenExpiresAt"] == 2_100_000_000_000
    assert out["mine"] == {"kept": True}
    assert "refreshToken" not in out["claudeAiOauth"]


def test_fleet_commands_refuse_a_plain_remote_store_with_exit_2(home: Home) -> None:
    home.write_claude(2_000_000_000)
    cfg = home.root / "config" / "wrap"
    cfg.mkdir(parents=True)
    (cfg / "config.toml").write_text('[profiles.claude]\nfleet = "work"\n')
    env = home.env(WRAP_FLEET_URL="redis://store.example.com:6379", WRAP_FLEET_PASSWORD="pw")
    for args in (["fleet", "pull"], ["fleet", "push"], ["fleet", "status"]):
        r = subprocess.run([str(BIN / "wrap"), *args], env=env, capture_output=True, text=True)
        assert r.returncode == 2, (args, r.stderr)
        assert "needs TLS" in r.stderr
        assert "pw" not in r.stderr.replace("push", "")


def test_a_redis_store_without_redis_py_is_a_usage_error_not_an_unreachable_store(
    home: Home,
) -> None:
    config_dir = home.root / "config" / "wrap"
    config_dir.mkdir(parents=True)
    (config_dir / "config.toml").write_text(
        '[fleet]\nurl = "redis://127.0.0.1:1/0"\n[profiles.claude]\nfleet = "claude-work"\n'
    )
    # As an install without the fleet extra: `import redis` fails (Python's own way to say so).
    code = (
        "import sys\nsys.modules['redis'] = None\n"
        "from launcher import cli\nsys.exit(cli.main(['fleet', 'status']))\n"
    )
    r = home.python(code)
    assert r.returncode == 2, r.stderr  # something to install: not 6, "store unreachable"
    assert "needs redis-py" in r.stderr
    assert "pipx inject wrap-launcher redis" in r.stderr
