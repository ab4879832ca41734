"""What the fleet record carries and how the holder writes an answer: the profile's own login
only (never Claude's mcpOAuth or other services' chains), the profile's answer mapping and
login-deadline codec (a custom profile's login_expiry too), and no Keychain or keyring
account in a fleet (refused at configuration time)."""

from __future__ import annotations

import json
import time

from conftest import claude_doc
from test_fleet import Fleet, fleet, store  # noqa: F401 - the fixtures, reused

from launcher.fleet import account

DAY = 86400


def _record(machine_env: dict[str, str], name: str) -> dict[str, object]:
    backend = account.open_store(account.fleet_settings_for(machine_env))
    try:
        raw = backend.read(name).value
    finally:
        backend.close()
    assert raw is not None
    return json.loads(raw)  # type: ignore[no-any-return]


def test_push_and_pull_carry_the_profiles_own_login_only(fleet: Fleet) -> None:  # noqa: F811
    laptop = fleet.machine("laptop", copy=False)
    doc = claude_doc(time.time() + 60)
    doc["mcpOAuth"] = {"srv|1": {"accessToken": "mcp-access", "refreshToken": "mcp-refresh"}}
    doc["chatHistoryOauth"] = {"refreshToken": "chat-refresh"}
    laptop.write(doc)
    r = laptop.wrap("fleet", "push")
    assert r.returncode == 0, r.stderr
    record = json.dumps(_record(laptop.env(), "work"))
    assert "mcp-refresh" not in record
    assert "chat-refresh" not in record
    assert "mcpOAuth" not in record
    assert json.loads(laptop.creds.read_text())["mcpOAuth"]["srv|1"]["refreshToken"] == (
        "mcp-refresh"  # this machine's other logins stay on this machine
    )
    ci = fleet.machine("ci", copy=False)  # no file at all: the record's copy makes one
    r = ci.wrap("fleet", "pull")
    assert r.returncode == 0, r.stderr
    pulled = ci.read()
    assert set(pulled) == {"claudeAiOauth"}
    assert pulled["claudeAiOauth"]["accessToken"] == "test-access-1"


CUSTOM = """[profiles.tool]
paths = ["~/.tool/auth.json"]
programs = ["tool"]
access_token = "session.token"
refresh_token = "session.refresh"
expiry = "session.expires"
expiry_unit = "s"
login_expiry = "session.login_ends"
login_expiry_unit = "iso"
fleet = "tool"
token_url = "{url}"
"""


def test_the_holder_writes_a_custom_profiles_login_deadline_in_its_own_field_and_unit(
    fleet: Fleet,  # noqa: F811
) -> None:
    fleet.tokens.extra = {"refresh_token_expires_in": 30 * DAY}
    laptop = fleet.machine("laptop", copy=False)
    cfg = laptop.root / "config" / "wrap" / "config.toml"
    cfg.write_text(cfg.read_text() + CUSTOM.format(url=fleet.tokens.url))
    tool = laptop.root / ".tool" / "auth.json"
    tool.parent.mkdir()
    login = {"token": "a", "refresh": "old-refresh", "expires": int(time.time() + 60)}
    tool.write_text(json.dumps({"session": {**login, "login_ends": "2030-01-01T00:00:00Z"}}))
    tool.chmod(0o600)
    r = laptop.wrap("fleet", "push", "tool")
    assert r.returncode == 0, r.stderr
    before = time.time()
    r = laptop.wrap("refresh", "tool")
    assert r.returncode == 0, r.stderr
    assert fleet.tokens.refresh_requests == 1
    session = json.loads(tool.read_text())["session"]
    assert session["token"] == "test-access-1"
    ends = session["login_ends"]
    assert isinstance(ends, str)
    assert ends.endswith("Z")  # ISO, as the profile says, not Claude's epoch ms
    record = _record(laptop.env(), "tool")
    ends_at = record["login_expires_at"]
    assert isinstance(ends_at, float)
    assert before + 30 * DAY - 60 < ends_at < time.time() + 30 * DAY + 60


def test_a_keychain_or_keyring_account_in_a_fleet_is_refused_at_configuration(
    fleet: Fleet,  # noqa: F811
) -> None:
    laptop = fleet.logged_in()
    cfg = laptop.root / "config" / "wrap" / "config.toml"
    cfg.write_text(cfg.read_text() + 'store = "keyring"\n')  # into [profiles.claude]
    for run in (laptop.wrap_claude, lambda: laptop.wrap("fleet", "push")):
        r = run()
        assert r.returncode == 2, r.stderr
        assert "fleet and store" in r.stderr
        assert len(r.stderr.strip().splitlines()) == 1
    assert fleet.tokens.refresh_requests == 0
