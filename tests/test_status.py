"""`wrap status` and `wrap refresh NAME|--all` over every account on the machine."""

from __future__ import annotations

import base64
import contextlib
import json
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from conftest import Home
from token_server import TokenServer

NOW = time.time()
DAY = 86400


def _jwt(claims: dict[str, Any]) -> str:
    body = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    return f"eyJhbGciOiJub25lIn0.{body}."


def _account(folder: Path, filename: str, left: float, **extra: Any) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    doc = {
        "access_token": "acc",
        # Not the file name itself: wrap masks any run of a known token, file names included.
        "refresh_token": f"rt-{filename[::-1]}",
        "expiry_date": int((NOW + left) * 1000),
        **extra,
    }
    path = folder / filename
    path.write_text(json.dumps(doc, indent=2))
    path.chmod(0o600)
    return path


def _config(home: Home, text: str) -> None:
    cfg = home.root / "config" / "wrap"
    cfg.mkdir(parents=True, exist_ok=True)
    (cfg / "config.toml").write_text(text)


ROUTER = """
[profiles.router]
base = "qwen"
paths = ["~/.routecodex/auth/*.json"]
[profiles.router.aliases]
"~/.routecodex/auth/qwen-oauth-5.json" = "from-config"
"""


@pytest.fixture
def router(home: Home) -> Path:
    auth = home.root / ".routecodex" / "auth"
    _account(auth, "qwen-oauth-1-work.json", 30 * DAY)
    _account(auth, "qwen-oauth-2.json", 2 * DAY, email="mail@example.com")
    _account(auth, "qwen-oauth-3.json", -60, id_token=_jwt({"email": "jwt@example.com"}))
    _account(auth, "qwen-oauth-4.json", 30 * DAY, name="Named One")
    _account(auth, "qwen-oauth-5.json", 30 * DAY, email="hidden@example.com")
    _account(auth, "qwen-oauth-6.json", 30 * DAY)
    _config(home, ROUTER)
    return auth


def test_status_json_lists_every_account_with_display_names(home: Home, router: Path) -> None:
    home.write_claude(NOW + 30 * DAY)
    r = home.wrap("status", "--json")
    assert r.returncode == 0, r.stderr
    objs = json.loads(r.stdout)
    names = {o["account"]: o["state"] for o in objs}
    assert names == {
        "claude": "fresh",
        "work": "fresh",  # alias from the file name
        "mail@example.com": "expiring",
        "jwt@example.com": "expired",  # email from the id_token's claims
        "Named One": "fresh",
        "from-config": "fresh",  # alias from config beats the email
        "qwen-oauth-6.json": "fresh",
    }
    assert all(o["profile"] == "router" for o in objs if o["account"] != "claude")
    assert "eyJ" not in r.stdout


def test_status_table_is_aligned_and_plain_without_a_terminal(home: Home, router: Path) -> None:
    r = home.wrap("status")
    assert r.returncode == 0
    lines = r.stdout.splitlines()
    assert lines[0].split() == [
        "ACCOUNT",
        "PROFILE",
        "STATE",
        "EXPIRES",
        "LEFT",
        "LOGIN",
        "ENDS",
        "LAST",
        "REFRESH",
        "FAILURES",
        "WHERE",
    ]
    assert "\x1b[" not in r.stdout
    column = lines[0].index("STATE")
    assert all(line[column - 2 : column] == "  " for line in lines[1:])
    work = next(line for line in lines if line.startswith("work "))
    assert "✓ fresh" in work
    assert "29 d 23 h" in work
    assert any("✗ expired" in line for line in lines)
    assert any("! expiring" in line and "1 d 23 h" in line for line in lines)


def test_status_expiring_filters_and_exits_with_worst_state(home: Home, router: Path) -> None:
    r = home.wrap("status", "--expiring", "--json")
    assert r.returncode == 3
    assert sorted(o["state"] for o in json.loads(r.stdout)) == ["expired", "expiring"]
    (router / "qwen-oauth-3.json").unlink()
    assert home.wrap("status", "--expiring").returncode == 1
    (router / "qwen-oauth-2.json").unlink()
    r = home.wrap("status", "--expiring")
    assert r.returncode == 0
    assert "no expiring accounts" in r.stdout


def test_refresh_by_name_all_and_failures(home: Home, router: Path) -> None:
    with TokenServer(rotate=False) as server:
        for path in router.iterdir():
            server.seed(json.loads(path.read_text())["refresh_token"])
        _config(home, ROUTER.replace('base = "qwen"', f'base = "qwen"\ntoken_url = "{server.url}"'))
        r = home.wrap("refresh", "work")
        assert r.returncode == 0, r.stderr
        assert r.stdout.startswith("✓ work (router, ")
        assert len(r.stdout.splitlines()) == 1
        server.faults = ["invalid_grant"]
        r = home.wrap("refresh", "--all")
    assert r.returncode == 5
    lines = r.stdout.splitlines()
    assert len(lines) == 6
    assert sum(line.startswith("✗") for line in lines) == 1
    assert "rt-" not in r.stdout + r.stderr


def test_refresh_all_refreshes_accounts_at_once_four_at_most(home: Home, router: Path) -> None:
    # Six accounts: the first four requests must be out together (each waits for the other
    # three), and no more than four ever are. Gemini's shape: no vendor lock that all the files
    # of one folder share (Qwen Code's would serialize them, as it must).
    together = threading.Barrier(4, timeout=8)
    count = threading.Lock()
    out = [0, 0, 0]  # in flight now, most at once, arrived

    with TokenServer(rotate=False) as server:
        for path in router.iterdir():
            server.seed(json.loads(path.read_text())["refresh_token"])
        answer = server._answer

        def counted(fields: dict[str, Any]) -> Any:
            with count:
                out[0] += 1
                out[1] = max(out[0], out[1])
                out[2] += 1
                first_four = out[2] <= 4
            try:
                if first_four:
                    with contextlib.suppress(threading.BrokenBarrierError):
                        together.wait()
                return answer(fields)
            finally:
                with count:
                    out[0] -= 1

        server._answer = counted  # type: ignore[method-assign]
        _config(
            home, ROUTER.replace('base = "qwen"', f'base = "gemini"\ntoken_url = "{server.url}"')
        )
        r = home.wrap("refresh", "--all")
        assert server.refresh_requests == 6
    assert r.returncode == 0, r.stdout + r.stderr
    assert not together.broken  # four were out at once
    assert out[1] == 4
    lines = r.stdout.splitlines()
    assert len(lines) == 6
    assert all(line.startswith("✓") for line in lines)
    # In the order status lists them, whichever finished first.
    listed = json.loads(home.wrap("status", "--json").stdout)
    assert [line.split(" (")[0][2:] for line in lines] == [o["account"] for o in listed]


def test_refresh_unknown_name_is_usage_error(home: Home, router: Path) -> None:
    r = home.wrap("refresh", "nobody")
    assert r.returncode == 2
    assert "no account named 'nobody'" in r.stderr


def test_dashdash_status_runs_a_program_named_status(home: Home) -> None:
    home.write_claude(NOW + 30 * DAY)
    (home.bin / "status").write_bytes((home.bin / "claude").read_bytes())
    (home.bin / "status").chmod(0o755)
    r = home.wrap("--", "status", "x")
    assert r.returncode == 0, r.stderr
    assert home.reports()[0]["argv"] == ["x"]


@pytest.mark.parametrize(
    ("text", "expect"),
    [
        (
            '[profiles.x]\npaths = ["~/x.json"]\nexpiry = "e"\n'
            'expiry_unit = "years"\naccess_token = "a"\n',
            "expiry_unit = 'years'; accepted: ms, s, iso, jwt, last_refresh",
        ),
        ('[profiles.claude]\ncolour = "blue"\n', "unknown key 'colour'"),
        ('[profiles.x]\nbase = "nope"\n', "base 'nope' is not a built-in profile"),
        ('[profiles.x]\npaths = ["~/x.json"]\n', "a new profile needs access_token, expiry"),
        ("[profiles.claude]\nbody = 3\n", "body has the wrong type"),
    ],
)
def test_bad_config_is_a_usage_error_naming_file_and_key(
    home: Home, text: str, expect: str
) -> None:
    _config(home, text)
    r = home.wrap("status")
    assert r.returncode == 2
    assert expect in r.stderr
    assert "config.toml" in r.stderr


def test_custom_profile_with_last_refresh_interval(home: Home) -> None:
    folder = home.root / ".tool"
    folder.mkdir()
    (folder / "auth.json").write_text(
        json.dumps({"tokens": {"at": "a", "rt": "r"}, "last_refresh": "2026-01-01T00:00:00Z"})
    )
    _config(
        home,
        '[profiles.tool]\npaths = ["~/.tool/auth.json"]\naccess_token = "tokens.at"\n'
        'refresh_token = "tokens.rt"\nexpiry = "last_refresh"\nexpiry_unit = "last_refresh"\n'
        'expiry_interval = "8d"\n',
    )
    r = home.wrap("--check-only", "--json", "--profile", "tool")
    obj = json.loads(r.stdout)
    assert obj["expires_at"] == "2026-01-09T00:00:00Z"


@pytest.mark.parametrize("no_color", [False, True])
def test_colour_only_on_a_terminal_and_never_with_no_color(home: Home, no_color: bool) -> None:
    import pexpect
    from conftest import BIN

    home.write_claude(NOW + 30 * DAY)
    env = home.env(**({"NO_COLOR": "1"} if no_color else {}))
    child = pexpect.spawn(str(BIN / "wrap"), ["status"], env=env, encoding="utf-8", timeout=30)
    child.expect(pexpect.EOF)
    out = child.before
    child.close()
    assert "✓ fresh" in out
    assert ("\x1b[32m" in out) is not no_color


@pytest.mark.parametrize(
    ("extra", "coloured"),
    [
        ({}, False),
        ({"FORCE_COLOR": "1"}, True),
        ({"CLICOLOR_FORCE": "1"}, True),
        ({"FORCE_COLOR": "0"}, False),
        ({"FORCE_COLOR": "1", "NO_COLOR": "1"}, False),
    ],
)
def test_force_color_colours_a_pipe(home: Home, extra: dict[str, str], coloured: bool) -> None:
    home.write_claude(NOW + 30 * DAY)
    r = home.wrap("status", env=home.env(**extra))
    assert r.returncode == 0, r.stderr
    assert "fresh" in r.stdout
    assert ("\x1b[32m" in r.stdout) is coloured


def test_term_dumb_gets_no_colour_on_a_terminal(home: Home) -> None:
    import pexpect
    from conftest import BIN

    home.write_claude(NOW + 30 * DAY)
    env = home.env(TERM="dumb")
    child = pexpect.spawn(str(BIN / "wrap"), ["status"], env=env, encoding="utf-8", timeout=30)
    child.expect(pexpect.EOF)
    out = child.before
    child.close()
    assert "fresh" in out
    assert "\x1b[" not in out


def _on_a_terminal(home: Home, *args: str, columns: int = 80, **extra: str) -> str:
    import pexpect
    from conftest import BIN

    env = home.env(**extra)
    env.pop("COLUMNS", None)
    child = pexpect.spawn(
        str(BIN / "wrap"),
        ["status", *args],
        env=env,
        encoding="utf-8",
        timeout=30,
        dimensions=(24, columns),
    )
    child.expect(pexpect.EOF)
    out = child.before
    child.close()
    return out.replace("\r\n", "\n")


def _deep_account(home: Home) -> None:
    from conftest import claude_doc

    deep = home.root / "a-rather-long-folder-name" / "and-another-level" / ".claude-work"
    deep.mkdir(parents=True)
    (deep / ".credentials.json").write_text(json.dumps(claude_doc(NOW + 30 * DAY)))
    config = home.root / "config" / "wrap"
    config.mkdir(parents=True)
    (config / "config.toml").write_text(
        '[profiles.work]\nbase = "claude"\n'
        f'paths = ["{deep}/.credentials.json"]\n'
        f'[profiles.work.aliases]\n"{deep}/.credentials.json" = "work-account-with-a-long-name"\n'
    )


def test_the_table_fits_an_80_column_terminal(home: Home) -> None:
    home.write_claude(NOW + 30 * DAY)
    _deep_account(home)
    out = _on_a_terminal(home, NO_COLOR="1")
    lines = out.strip("\n").splitlines()
    assert len(lines) == 3, out  # a header and two rows: nothing wrapped
    assert all(len(line) <= 80 for line in lines), out
    assert lines[0].startswith("ACCOUNT")
    for column in ("STATE", "LEFT", "WHERE"):
        assert column in lines[0]
    assert "FAILURES" not in lines[0]  # dropped first
    assert "~/.claude/.credentials.json" in out  # the home directory as ~
    assert str(home.root) not in out


def test_wide_shows_every_column_whole(home: Home) -> None:
    home.write_claude(NOW + 30 * DAY)
    _deep_account(home)
    out = _on_a_terminal(home, "--wide", NO_COLOR="1")
    header = out.splitlines()[0]
    for column in ("PROFILE", "EXPIRES", "LOGIN ENDS", "LAST REFRESH", "FAILURES", "WHERE"):
        assert column in header
    assert "~/a-rather-long-folder-name/and-another-level/.claude-work/.credentials.json" in out
    assert "work-account-with-a-long-name" in out
    assert "…" not in out


def test_a_login_ending_soon_is_not_a_green_fresh(home: Home) -> None:
    from conftest import claude_doc

    doc = claude_doc(NOW + 30 * DAY)
    doc["claudeAiOauth"]["refreshTokenExpiresAt"] = int((NOW + 2 * DAY) * 1000)
    home.write(doc)
    out = _on_a_terminal(home, "--wide")
    assert "\x1b[33m! login ending" in out
    assert "✓ fresh" not in out
    r = home.wrap("status")  # a pipe: the same words, without colour
    assert "! login ending" in r.stdout
