"""`wrap doctor`: what wrap sees here, no token value, exit 0 only when nothing needs the user."""

from __future__ import annotations

import json
import os
import time

from conftest import DAY, Home, one_line
from token_server import TokenServer


def _checks(home: Home, *args: str, env: dict[str, str] | None = None) -> tuple[int, dict]:
    r = home.wrap("doctor", "--json", *args, env=env)
    assert r.stderr == ""
    return r.returncode, json.loads(r.stdout)


def _find(obj: dict, check: str, profile: str | None = None) -> dict:
    found = [c for c in obj["checks"] if c["check"] == check and c["profile"] == profile]
    assert len(found) == 1, obj
    return found[0]


def test_a_healthy_machine_exits_0_and_shows_no_token(home: Home) -> None:
    home.write_claude(time.time() + 30 * DAY)
    code, obj = _checks(home)
    assert code == 0, obj
    assert obj["schema"] == 1
    assert obj["needs_user"] is False
    program = _find(obj, "program", "claude")
    assert program["status"] == "ok"
    assert program["detail"].startswith("~/bin/claude")  # the real one, not wrap-claude
    creds = _find(obj, "credentials", "claude")
    assert creds["detail"] == "~/.claude/.credentials.json 0600, yours"
    assert _find(obj, "config")["status"] == "info"
    assert {c["check"] for c in obj["checks"]} >= {"state", "keepalive", "fleet", "proxy", "ca"}
    text = home.wrap("doctor")
    assert text.returncode == 0
    for secret in ("old-access", "old-refresh"):
        assert secret not in text.stdout
        assert secret not in json.dumps(obj)


def test_credentials_others_can_read_need_the_user(home: Home) -> None:
    home.write_claude(time.time() + 30 * DAY)
    home.creds.chmod(0o644)
    code, obj = _checks(home)
    assert code == 1
    creds = _find(obj, "credentials", "claude")
    assert creds["status"] == "warn"
    assert creds["fix"].endswith("chmod 600 ~/.claude/.credentials.json")


def test_a_state_directory_others_can_write_needs_the_user(home: Home) -> None:
    home.write_claude(time.time() + 30 * DAY)
    state = home.root / "state" / "wrap"
    state.mkdir(parents=True)
    os.chmod(state, 0o777)
    r = home.wrap("doctor", "--json")
    # wrap itself says once that it uses none of that state; doctor says what to do.
    assert "may be written by others (mode 777)" in one_line(r.stderr)
    assert r.returncode == 1
    finding = _find(json.loads(r.stdout), "state")
    assert "chmod 700" in finding["fix"]
    assert "not used" in finding["detail"]


def test_a_broken_config_is_a_finding_that_names_the_file(home: Home) -> None:
    home.write_claude(time.time() + 30 * DAY)
    config = home.root / "config" / "wrap" / "config.toml"
    config.parent.mkdir(parents=True)
    config.write_text("threshold = [\n")
    code, obj = _checks(home)
    assert code == 1
    finding = _find(obj, "config")
    assert finding["status"] == "fail"
    assert str(config) in finding["detail"]


def test_the_proxy_row_hides_its_password(home: Home) -> None:
    env = home.env(HTTPS_PROXY="http://me:s3cret@proxy.example:3128")
    _, obj = _checks(home, env=env)
    assert _find(obj, "proxy")["detail"] == "HTTPS_PROXY=http://***@proxy.example:3128"


def test_network_reaches_the_endpoint_without_sending_a_token(home: Home) -> None:
    home.write_claude(time.time() + 30 * DAY)
    before = home.creds.read_bytes()
    with TokenServer() as server:
        code, obj = _checks(home, "--network", env=home.env(WRAP_TOKEN_URL=server.url))
        sent = server.refresh_requests
    assert code == 0, obj
    endpoint = _find(obj, "endpoint", "claude")
    assert endpoint["status"] == "ok"
    assert endpoint["detail"].startswith(f"{server.url}: HTTP ")
    assert sent == 0
    assert home.creds.read_bytes() == before


def test_an_unreachable_endpoint_needs_the_user(home: Home) -> None:
    home.write_claude(time.time() + 30 * DAY)
    code, obj = _checks(home, "--network", env=home.env(WRAP_TOKEN_URL="http://127.0.0.1:9/t"))
    assert code == 1
    assert _find(obj, "endpoint", "claude")["status"] == "fail"


def test_without_network_no_endpoint_is_tried(home: Home) -> None:
    home.write_claude(time.time() + 30 * DAY)
    _, obj = _checks(home, env=home.env(WRAP_TOKEN_URL="http://127.0.0.1:9/t"))
    assert not [c for c in obj["checks"] if c["check"] == "endpoint"]


def test_a_keyring_account_that_cannot_be_reached_needs_the_user(home: Home) -> None:
    codex = home.root / ".codex"
    codex.mkdir()
    (codex / "auth.json").write_text("{}")
    # codex's own setting: its login lives in the keyring alone.
    (codex / "config.toml").write_text('cli_auth_credentials_store = "keyring"\n')
    env = home.env(DBUS_SESSION_BUS_ADDRESS="unix:path=/nonexistent")
    code, obj = _checks(home, env=env)
    assert code == 1
    finding = _find(obj, "credentials", "codex")
    assert finding["status"] == "warn"
    assert "keyring" in finding["detail"]


def _installed_claude(home: Home, version: str) -> None:
    """An npm install of claude VERSION as the claude on PATH (package.json beside the program)."""
    package = home.root / "npm" / "lib" / "node_modules" / "@anthropic-ai" / "claude-code"
    program = package / "bin" / "claude.exe"
    program.parent.mkdir(parents=True)
    (package / "package.json").write_text(
        json.dumps({"name": "@anthropic-ai/claude-code", "version": version})
    )
    program.write_text("#!/bin/sh\nexit 0\n")
    program.chmod(0o755)
    (home.bin / "claude").unlink()  # the suite's stand-in, which has no package
    (home.bin / "claude").symlink_to(program)


def test_the_installed_version_is_shown_and_a_newer_one_than_checked_needs_the_user(
    home: Home,
) -> None:
    from launcher.vendors import claude

    home.write_claude(time.time() + 30 * DAY)
    _installed_claude(home, claude.CHECKED)
    code, obj = _checks(home)
    assert _find(obj, "version", "claude") == {
        "check": "version",
        "profile": "claude",
        "status": "ok",
        "detail": claude.CHECKED,
        "fix": None,
    }
    assert code == 0, obj
    major, minor, patch = claude.CHECKED.split(".")
    newer = f"{major}.{minor}.{int(patch) + 3}"
    (home.root / "npm" / "lib" / "node_modules" / "@anthropic-ai" / "claude-code").joinpath(
        "package.json"
    ).write_text(json.dumps({"name": "@anthropic-ai/claude-code", "version": newer}))
    code, obj = _checks(home)
    finding = _find(obj, "version", "claude")
    assert code == 1
    assert finding["status"] == "warn"
    assert finding["fix"] == (
        f"claude {newer} is newer than wrap's checks ({claude.CHECKED}): "
        "run scripts/check-vendors, or report it"
    )


def test_the_account_row_says_which_account_this_directory_uses_and_why(home: Home) -> None:
    work = home.root / "work"
    (work / "deep").mkdir(parents=True)
    (home.root / ".claude-work").mkdir()
    home.write_claude(time.time() + 30 * DAY)
    config = home.root / "config" / "wrap" / "config.toml"
    config.parent.mkdir(parents=True)
    config.write_text(
        '[profiles.claude.accounts]\nwork = "~/.claude-work"\n'
        '[profiles.claude.dirs]\n"~/work" = "work"\n'
    )
    r = home.wrap("doctor", "--json", env=home.env(), cwd=work / "deep")
    row = _find(json.loads(r.stdout), "account", "claude")
    assert row["status"] == "ok"
    assert row["detail"].startswith("work: ~/.claude-work/.credentials.json (")
    assert "~/work" in row["detail"] or str(work) in row["detail"]
    r = home.wrap("doctor", "--json", env=home.env(), cwd=home.root)
    assert _find(json.loads(r.stdout), "account", "claude")["detail"].startswith(
        "the default: ~/.claude/.credentials.json (no bound directory holds "
    )


def test_a_bad_binding_is_an_account_finding_that_needs_the_user(home: Home) -> None:
    home.write_claude(time.time() + 30 * DAY)
    config = home.root / "config" / "wrap" / "config.toml"
    config.parent.mkdir(parents=True)
    config.write_text('[profiles.claude.dirs]\n"~" = "nosuch"\n')
    r = home.wrap("doctor", "--json", env=home.env())
    row = _find(json.loads(r.stdout), "account", "claude")
    assert r.returncode == 1
    assert row["status"] == "warn"
    assert "nosuch" in row["detail"]
    assert row["detail"].endswith("a launch here uses the default: ~/.claude/.credentials.json")
