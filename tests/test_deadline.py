"""The login deadline (Claude's refreshTokenExpiresAt) through every surface: the gate's
once-a-day warning (in-process, injected clock), --check-only's JSON and exit codes, status's
table and JSON, and a refresh whose answer carries a new refresh_token_expires_in."""

from __future__ import annotations

import io
import json
import time
from typing import Any

import pytest
from conftest import DAY, Clock, Home, claude_doc
from token_server import TokenServer

from launcher import config, gate, report
from launcher.log import Log

HOUR = 3600
T0 = 1_800_000_000.0


def _write(home: Home, expires_at: float, login_ends: float | None) -> bytes:
    doc = claude_doc(expires_at)
    if login_ends is not None:
        doc["claudeAiOauth"]["refreshTokenExpiresAt"] = int(login_ends * 1000)
    return home.write(doc)


def _gate(home: Home, t: float, server: TokenServer | None = None, **flags: Any) -> str:
    err = io.StringIO()
    if server is not None:
        flags["token_url"] = server.url
    settings = config.resolve(flags, home.env())
    code = gate.gate(settings, env=home.env(), now=Clock(t), log=Log(stream=err), program="c")
    assert code is None
    return err.getvalue()


# --- the gate's warning ----------------------------------------------------------------------


def test_far_deadline_costs_nothing_no_state_is_touched(home: Home) -> None:
    _write(home, T0 + 30 * DAY, T0 + 3 * DAY + 1)
    assert _gate(home, T0) == ""
    assert not (home.root / "state").exists()


def test_warning_within_the_window_says_when_and_how_once_a_day(home: Home) -> None:
    _write(home, T0 + 30 * DAY, T0 + 2 * DAY + 4 * HOUR)
    err = _gate(home, T0)
    [line] = err.splitlines()
    assert "the claude login ends" in line
    assert time.strftime("%Y-%m-%d %H:%M", time.localtime(T0 + 2 * DAY + 4 * HOUR)) in line
    assert "(in 2 d 4 h)" in line
    assert line.endswith("renew it with 'wrap login claude'")
    assert _gate(home, T0 + HOUR) == ""
    assert _gate(home, T0 + DAY - 1) == ""
    assert "(in 1 d 4 h)" in _gate(home, T0 + DAY)
    assert _gate(home, T0 + DAY + 60) == ""


def test_an_ended_login_is_said_once_a_day_too(home: Home) -> None:
    _write(home, T0 + 30 * DAY, T0 - 2 * HOUR)
    err = _gate(home, T0)
    assert "the claude login ended" in err
    assert "(2 h ago): log in again with 'wrap login claude'" in err
    assert _gate(home, T0 + 60) == ""


def test_warning_per_account_and_a_file_elsewhere_names_its_path(home: Home) -> None:
    _write(home, T0 + 30 * DAY, T0 + DAY)
    other = home.root / "other" / ".credentials.json"
    other.parent.mkdir()
    other.write_bytes(home.creds.read_bytes())
    assert "wrap login claude'" in _gate(home, T0)
    err = _gate(home, T0, credentials=str(other))
    assert f"'wrap --profile claude login {other}'" in err
    assert _gate(home, T0 + 60, credentials=str(other)) == ""


@pytest.mark.parametrize(("setting", "warned"), [("1d", False), ("2d", True), ("0", False)])
def test_login_warning_setting(home: Home, setting: str, warned: bool) -> None:
    _write(home, T0 + 30 * DAY, T0 + 2 * DAY)
    assert bool(_gate(home, T0, login_warning=setting)) is warned


def test_login_warning_from_env_flag_and_config(home: Home) -> None:
    _write(home, time.time() + 30 * DAY, time.time() + 2 * DAY)
    assert "login ends" not in home.wrap_claude(env=home.env(WRAP_LOGIN_WARNING="1d")).stderr
    cfg = home.root / "config" / "wrap"
    cfg.mkdir(parents=True)
    (cfg / "config.toml").write_text('login_warning = "36h"\n')
    assert "login ends" not in home.wrap_claude().stderr
    r = home.wrap("--login-warning", "3d", "claude")
    assert r.returncode == 0, r.stderr
    assert "login ends" in r.stderr
    assert "login ends" not in home.wrap("--login-warning", "3d", "claude").stderr  # today: said
    r = home.wrap("--login-warning", "soon", "claude")
    assert r.returncode == 2
    assert "--login-warning" in r.stderr


def test_the_warning_does_not_stop_an_expiring_token_from_refreshing(
    home: Home, server: TokenServer
) -> None:
    _write(home, T0 + HOUR, T0 + DAY)
    err = _gate(home, T0, server)
    assert "login ends" in err
    assert server.refresh_requests == 1
    assert home.read()["claudeAiOauth"]["refreshTokenExpiresAt"] == int((T0 + DAY) * 1000)


# --- refresh answers -------------------------------------------------------------------------


def test_refresh_with_refresh_token_expires_in_moves_the_deadline(
    home: Home, server: TokenServer
) -> None:
    _write(home, T0 + HOUR, T0 + 20 * DAY)
    server.extra = {"refresh_token_expires_in": 30 * DAY}
    _gate(home, T0, server)
    oauth = home.read()["claudeAiOauth"]
    assert oauth["refreshTokenExpiresAt"] == int((T0 + 30 * DAY) * 1000)
    assert oauth["accessToken"] == "test-access-1"


def test_refresh_with_it_adds_the_field_to_a_file_that_had_none(
    home: Home, server: TokenServer
) -> None:
    _write(home, T0 + HOUR, None)  # as 2.1.197 writes it
    server.extra = {"refresh_token_expires_in": 30 * DAY}
    _gate(home, T0, server)
    assert home.read()["claudeAiOauth"]["refreshTokenExpiresAt"] == int((T0 + 30 * DAY) * 1000)


# --- --check-only ----------------------------------------------------------------------------


def _describe(home: Home, t: float, **flags: Any) -> tuple[dict[str, Any], int, str]:
    settings = config.resolve(flags, home.env())
    obj, _ = report.describe(settings, config.state_dir(home.env()), t)
    line = report.summary_line(obj, settings.threshold)
    return obj, report.exit_code(obj, settings.threshold), line


@pytest.mark.parametrize(
    ("login_left", "code", "words"),
    [
        (7 * DAY + 1, 0, None),
        (7 * DAY, 1, "login ending"),
        (1, 1, "login ending"),
        (0, 3, "login ended"),
        (-DAY, 3, "login ended"),
    ],
)
def test_check_only_exit_codes_at_the_boundaries(
    home: Home, login_left: float, code: int, words: str | None
) -> None:
    _write(home, T0 + 30 * DAY, T0 + login_left)
    obj, got, line = _describe(home, T0)
    assert obj["state"] == "fresh"  # the token itself is fine
    assert obj["login_expires_in_seconds"] == login_left
    assert got == code
    if words is None:
        assert line.startswith("claude: fresh: ")
    else:
        assert line.startswith(f"claude: fresh, {words}: ")
        assert line.endswith("'wrap login claude' renews it")


def test_the_worse_of_token_and_login_wins(home: Home) -> None:
    _write(home, T0 - 60, T0 + 2 * DAY)
    assert _describe(home, T0)[1] == 3  # expired token, login merely ending
    _write(home, T0 + 2 * DAY, T0 - 60)
    assert _describe(home, T0)[1] == 3  # token expiring, login over


def test_the_login_is_judged_by_the_threshold_not_the_lifetime_rule(home: Home) -> None:
    # An 8-hour token halves the refresh threshold; a login cannot be refreshed, so it is
    # still reported a whole threshold ahead.
    from launcher import state

    remembered = state.load(config.state_dir(home.env()), str(home.creds))
    remembered.lifetime = 8 * HOUR
    state.save(config.state_dir(home.env()), remembered)
    _write(home, T0 + 7 * HOUR, T0 + 6 * DAY)
    obj, code, _ = _describe(home, T0)
    assert (obj["threshold_seconds"], obj["state"], code) == (4 * HOUR, "fresh", 1)


def test_check_only_json_and_human_line_in_a_real_process(home: Home) -> None:
    now = time.time()
    _write(home, now + 30 * DAY, now + 2 * DAY)
    r = home.wrap("--check-only", "--json")
    assert r.returncode == 1
    obj = json.loads(r.stdout)
    assert obj["state"] == "fresh"
    assert obj["login_expires_at"] == report.iso(int(now + 2 * DAY))
    assert 2 * DAY - 60 < obj["login_expires_in_seconds"] <= 2 * DAY
    assert obj["store"] == "file"
    r = home.wrap("--check-only")
    assert r.returncode == 1
    assert r.stdout.startswith("claude: fresh, login ending: ")
    assert "the login ends" in r.stdout
    _write(home, now + 30 * DAY, now - 60)
    r = home.wrap("--check-only")
    assert r.returncode == 3
    assert "login ended" in r.stdout


def test_unknown_deadline_is_null_and_a_bad_value_is_only_unknown(home: Home) -> None:
    _write(home, time.time() + 30 * DAY, None)
    obj = json.loads(home.wrap("--check-only", "--json").stdout)
    assert (obj["login_expires_at"], obj["login_expires_in_seconds"]) == (None, None)
    doc = claude_doc(time.time() + 30 * DAY)
    doc["claudeAiOauth"]["refreshTokenExpiresAt"] = "soon"
    home.write(doc)
    r = home.wrap("--check-only", "--json")
    assert r.returncode == 0
    assert json.loads(r.stdout)["login_expires_at"] is None


# --- wrap status ----------------------------------------------------------------------------


def test_status_table_and_json_show_the_login_deadline(home: Home) -> None:
    now = time.time()
    ends = now + 2 * DAY
    _write(home, now + 30 * DAY, ends)
    gemini = home.root / ".gemini"
    gemini.mkdir()
    (gemini / "oauth_creds.json").write_text(
        json.dumps({"access_token": "a", "refresh_token": "r", "expiry_date": int(now * 1000)})
    )
    r = home.wrap("status")
    lines = r.stdout.splitlines()
    column = lines[0].index("LOGIN ENDS")
    rows = {line.split()[0]: line for line in lines[1:]}
    local = time.strftime("%Y-%m-%d %H:%M", time.localtime(int(ends)))
    assert rows["claude"][column:].startswith(local)
    assert rows["gemini"][column:].startswith("-")
    objs = {o["profile"]: o for o in json.loads(home.wrap("status", "--json").stdout)}
    assert objs["claude"]["login_expires_at"] == report.iso(int(ends))
    assert objs["gemini"]["login_expires_at"] is None
    _write(home, now + 30 * DAY, now - 60)
    assert "(ended)" in home.wrap("status").stdout


def test_status_expiring_keeps_an_account_whose_login_ends(home: Home) -> None:
    now = time.time()
    _write(home, now + 30 * DAY, now + 2 * DAY)
    r = home.wrap("status", "--expiring", "--json")
    assert r.returncode == 1
    assert [o["profile"] for o in json.loads(r.stdout)] == ["claude"]
    _write(home, now + 30 * DAY, now + 20 * DAY)
    r = home.wrap("status", "--expiring")
    assert (r.returncode, r.stdout.strip()) == (0, "no expiring accounts")


def test_a_custom_profile_names_its_own_deadline_field(home: Home) -> None:
    cfg = home.root / "config" / "wrap"
    cfg.mkdir(parents=True)
    (cfg / "config.toml").write_text(
        '[profiles.tool]\npaths = ["~/.tool/auth.json"]\naccess_token = "token"\n'
        'expiry = "expires"\nexpiry_unit = "s"\nlogin_expiry = "session.ends"\n'
        'login_expiry_unit = "iso"\n'
    )
    (home.root / ".tool").mkdir()
    now = time.time()
    doc = {
        "token": "t",
        "expires": int(now + 30 * DAY),
        "session": {"ends": "2001-01-01T00:00:00Z"},
    }
    (home.root / ".tool" / "auth.json").write_text(json.dumps(doc))
    r = home.wrap("--profile", "tool", "--check-only", "--json")
    assert r.returncode == 3
    assert json.loads(r.stdout)["login_expires_at"] == "2001-01-01T00:00:00Z"
    (cfg / "config.toml").write_text('[profiles.claude]\nlogin_expiry_unit = "hours"\n')
    r = home.wrap("--check-only")
    assert r.returncode == 2
    assert "login_expiry_unit" in r.stderr
