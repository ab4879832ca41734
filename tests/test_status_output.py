"""`wrap status` over a mixed machine: the objects and the table are what they were before
status resolved settings once per profile and paths once per file (tests/fixtures/
status_snapshot.json was written by the code before that change); settings are resolved once
per profile and each path at most once; listing a folder finds what glob finds; JSON is one
line for a program and indented on a terminal."""

from __future__ import annotations

import collections
import glob
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import BIN, FIXTURES

from launcher import accounts, config, state, status

# A fixed clock, so that every "expires_in_seconds" and state in the snapshot is exact.
NOW = 1_780_000_000.0
DAY = 86400
SNAPSHOT = Path(__file__).parent / "fixtures" / "status_snapshot.json"

ROUTER = """
[profiles.router]
base = "qwen"
paths = ["~/.routecodex/auth/*.json", "~/.routecodex/extra/single.json"]
threshold = "2d"
[profiles.router.aliases]
"~/.routecodex/auth/qwen-oauth-5.json" = "from-config"
[profiles.kiro]
threshold = "12h"
"""


def _write(path: Path, doc: Any) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(doc if isinstance(doc, str) else json.dumps(doc, indent=2))
    path.chmod(0o600)
    return path


def _fixture(name: str) -> dict[str, Any]:
    return json.loads((FIXTURES / name).read_text())  # type: ignore[no-any-return]


def mixed_machine(root: Path) -> dict[str, str]:
    """Every built-in profile's own file in its real shape, and a multi-account folder (itself
    a link) with alias, email, id_token, name and bare accounts, one expired, one without an
    access token, links to other accounts (each listed once), one account with remembered
    state and one blocked by the endpoint's firewall. Returns the environment."""
    claude = _fixture("claude.credentials.json")
    claude["claudeAiOauth"]["expiresAt"] = int((NOW + 5 * 3600) * 1000)
    claude["claudeAiOauth"]["refreshTokenExpiresAt"] = int((NOW + 2 * DAY) * 1000)
    _write(root / ".claude" / ".credentials.json", claude)
    _write(root / ".claude.json", {"oauthAccount": {"emailAddress": "me@example.com"}})
    gemini = _fixture("gemini.oauth_creds.json")
    gemini["expiry_date"] = int((NOW + 1800) * 1000)
    _write(root / ".gemini" / "oauth_creds.json", gemini)
    qwen = _fixture("qwen.oauth_creds.json")
    qwen["expiry_date"] = int((NOW - 600) * 1000)
    _write(root / ".qwen" / "oauth_creds.json", qwen)
    _write(root / ".codex" / "auth.json", _fixture("codex.auth.json"))
    kiro = _fixture("kiro-auth-token.social.json")
    kiro["expiresAt"] = time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(NOW + 6 * 3600))
    _write(root / ".aws" / "sso" / "cache" / "kiro-auth-token.json", kiro)
    _write(root / ".iflow" / "oauth_creds.json", "{not json")

    # The folder is a link to where the files really are: state is keyed by the real path.
    auth = root / "vault" / "auth"
    auth.mkdir(parents=True)
    (root / ".routecodex").mkdir()
    (root / ".routecodex" / "auth").symlink_to(auth)

    def account(filename: str, left: float, **extra: Any) -> Path:
        doc = {
            "access_token": "acc",
            "refresh_token": f"rt-{filename}",
            "expiry_date": int((NOW + left) * 1000),
            **extra,
        }
        return _write(auth / filename, doc)

    id_token = "eyJhbGciOiJub25lIn0.eyJlbWFpbCI6Imp3dEBleGFtcGxlLmNvbSJ9."
    account("qwen-oauth-1-work.json", 30 * DAY)
    account("qwen-oauth-2.json", 1 * DAY, email="mail@example.com")
    account("qwen-oauth-3.json", -60, id_token=id_token)
    account("qwen-oauth-4.json", 30 * DAY, name="Named One")
    account("qwen-oauth-5.json", 30 * DAY, email="hidden@example.com")
    remembered = account("qwen-oauth-6.json", 3 * 3600)
    blocked = account("qwen-oauth-7.json", 10 * DAY, email="blocked@example.com")
    _write(auth / "qwen-oauth-8.json", {"access_token": "", "refresh_token": "r"})
    _write(auth / ".hidden.json", {"access_token": "a", "expiry_date": 1})
    # Links to other accounts: listed once, under the first name in sorted order.
    (auth / "qwen-oauth-9-link.json").symlink_to(auth / "qwen-oauth-4.json")
    (auth / "qwen-oauth-0-linked.json").symlink_to("qwen-oauth-2.json")
    (auth / "not-json.txt").write_text("ignored: not *.json")
    _write(root / ".routecodex" / "extra" / "single.json", {"access_token": "a"})
    _write(root / "config" / "wrap" / "config.toml", ROUTER)

    state_dir = str(root / "state" / "wrap")
    st = state.CredState(os.path.realpath(remembered))
    st.last_refreshed, st.lifetime, st.refresh_count = NOW - 3600, 8 * 3600.0, 4
    st.consecutive_failures = 1
    state.save(state_dir, st)
    st = state.CredState(os.path.realpath(blocked))
    st.blocked_until, st.blocked_count = NOW + 600, 1
    st.blocked_version = f"{blocked.stat().st_ino}:{blocked.stat().st_size}:"
    st.blocked_version += str(blocked.stat().st_mtime_ns)
    state.save(state_dir, st)
    return {
        "HOME": str(root),
        "XDG_STATE_HOME": str(root / "state"),
        "XDG_CONFIG_HOME": str(root / "config"),
    }


def _neutral(text: str, root: Path) -> str:
    return text.replace(str(root), "$HOME")


def _render(root: Path, env: dict[str, str]) -> dict[str, Any]:
    entries = status.collect({}, env, NOW)
    objs = json.loads(_neutral(json.dumps([e.report for e in entries]), root))
    return {"objects": objs, "table": _neutral(status.table(entries, color=False), root)}


@pytest.fixture
def utc(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    # The table shows local time: the snapshot's is UTC.
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def test_mixed_accounts_report_exactly_what_they_did(tmp_path: Path, utc: None) -> None:
    got = _render(tmp_path, mixed_machine(tmp_path))
    want = json.loads(SNAPSHOT.read_text())
    assert got["objects"] == want["objects"]
    # Key order is part of the contract.
    assert [list(o) for o in got["objects"]] == [list(o) for o in want["objects"]]
    assert got["table"] == want["table"]


def _many(root: Path, n: int) -> dict[str, str]:
    """N accounts of one custom profile in one folder, and Claude's own file."""
    env = mixed_machine(root)
    auth = root / "vault" / "auth"
    for i in range(n):
        _write(auth / f"qwen-oauth-{100 + i}.json", {"access_token": "a", "expiry_date": 1})
    return env


def test_settings_are_resolved_once_per_profile_not_per_account(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = _many(tmp_path, 200)
    calls: list[str | None] = []
    real_resolve = config.resolve

    def counting(*args: Any, **kw: Any) -> config.Settings:
        calls.append(kw.get("credentials_path"))
        return real_resolve(*args, **kw)

    monkeypatch.setattr(config, "resolve", counting)
    entries = status.collect({}, env, NOW)
    router = [e for e in entries if e.report["profile"] == "router"]
    assert len(router) > 200
    profiles = {e.report["profile"] for e in entries}
    # One for what plain `wrap` would launch, then one per profile that has accounts.
    assert len(calls) == 1 + len(profiles)
    # Each account still has its own file and its profile's settings.
    assert {e.settings.credentials for e in router} == {e.account.path for e in router}
    assert {e.settings.threshold for e in router} == {2 * DAY}


def test_each_file_path_is_resolved_once_at_most(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = _many(tmp_path, 200)
    resolved: list[str] = []
    real_realpath = os.path.realpath

    def counting(path: Any, *args: Any, **kw: Any) -> Any:
        resolved.append(path)
        return real_realpath(path, *args, **kw)

    monkeypatch.setattr(os.path, "realpath", counting)
    entries = status.collect({}, env, NOW)
    assert len(entries) > 200
    # A folder once for all its files; a link (and a few single files) on its own.
    assert len(resolved) < 30
    times = collections.Counter(resolved)
    assert all(times[e.account.path] <= 1 for e in entries)


def _glob_reference(pattern: str) -> list[tuple[str, str]]:
    paths = sorted(p for p in glob.glob(pattern) if os.path.isfile(p))
    return [(p, os.path.realpath(p)) for p in paths]


@pytest.mark.parametrize("pattern", ["*.json", ".*.json", "qwen-oauth-?.json", "[ab]*", "*"])
def test_listing_a_folder_finds_what_glob_finds(tmp_path: Path, pattern: str) -> None:
    real = tmp_path / "real"
    real.mkdir()
    folder = tmp_path / "folder"
    folder.symlink_to(real)
    for name in ("a.json", "b.json", ".hidden.json", "qwen-oauth-1.json", "qwen-oauth-12.json"):
        (real / name).write_text("{}")
    (real / "adir.json").mkdir()
    (real / "to-a.json").symlink_to("a.json")
    (real / "dangling.json").symlink_to("nowhere.json")
    (real / "loop.json").symlink_to("loop.json")
    (tmp_path / "elsewhere.json").write_text("{}")
    (real / "away.json").symlink_to(tmp_path / "elsewhere.json")
    full = str(folder / pattern)
    want = _glob_reference(full)
    assert want, "the pattern matches nothing: the test would prove nothing"
    assert accounts._glob_files(full, {}) == want


def _lines(text: str) -> list[str]:
    return text.replace("\r\n", "\n").strip().split("\n")


def test_json_is_one_line_for_a_program_and_indented_on_a_terminal(tmp_path: Path) -> None:
    import pexpect

    env = {**mixed_machine(tmp_path), "PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"}
    piped = subprocess.run(
        [str(BIN / "wrap"), "status", "--json"], env=env, capture_output=True, text=True
    )
    assert piped.returncode == 0, piped.stderr
    assert len(_lines(piped.stdout)) == 1
    child = pexpect.spawn(
        str(BIN / "wrap"), ["status", "--json"], env=env, encoding="utf-8", timeout=30
    )
    child.expect(pexpect.EOF)
    shown = child.before
    child.close()
    assert child.exitstatus == 0
    lines = _lines(shown)
    assert len(lines) > 16 * 15
    assert lines[1] == "  {"
    on_tty, to_pipe = json.loads("\n".join(lines)), json.loads(piped.stdout)
    # The same objects with their keys in the same order, whatever the clock did in between.
    assert [list(o) for o in on_tty] == [list(o) for o in to_pipe]
    assert _timeless(on_tty) == _timeless(to_pipe)
    assert json.dumps(to_pipe) == piped.stdout.strip()


def _timeless(objs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    drop = ("expires_in_seconds", "login_expires_in_seconds", "state")
    return [{k: v for k, v in o.items() if k not in drop} for o in objs]


if __name__ == "__main__":
    # Writes the snapshot: run by the code whose output is the reference, never to make a
    # failing test pass.
    import tempfile

    os.environ["TZ"] = "UTC"
    time.tzset()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        SNAPSHOT.write_text(json.dumps(_render(root, mixed_machine(root)), indent=2) + "\n")
    sys.exit(0)
