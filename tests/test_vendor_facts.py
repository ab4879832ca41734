"""The facts wrap's safety rests on, measured on each real CLI and compared with those recorded
for it (tests/fixtures/vendor_facts.json): the refresh request (target, headers, body fields
and their order, Claude's scope list), the lock files and the owner record's keys while a
refresh holds them, the top-level keys the CLI's write adds to the file, the keys of its
status answer.

A version with no record of its own (what scripts/check-vendors installs) is compared with the
newest recorded one of its CLI. Each comparison is also written, when the run names a report
file (WRAP_TEST_VENDOR_REPORT, a setting of scripts/check-vendors' test run), as one JSON line:
the CLI, its version, the version compared with, and each fact "same" or what differs.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import pytest
from conftest import ROOT, Home
from test_real_clis import (
    CLAUDE_VERSIONS,
    CODEX_VERSIONS,
    GEMINI_VERSIONS,
    Hold,
    Stack,
    _stack,
    finish,
    ok,
)
from test_real_clis import pytestmark as real_cli_marks

from launcher.vendors import installed

pytestmark = real_cli_marks

RECORDED = ROOT / "tests" / "fixtures" / "vendor_facts.json"
# Headers that vary with the body, the connection or the agent's pool, not with the CLI.
VARYING = {"content-length", "host", "connection"}
# Read at import: every test runs with the shell's WRAP_* variables removed.
REPORT = os.environ.get("WRAP_TEST_VENDOR_REPORT")


def _request_facts(sent: Any, version: str) -> dict[str, Any]:
    headers = {}
    for name, value in sent.headers:
        if name.lower() in VARYING:
            continue
        # codex names its own version and the machine: neither is a change of the CLI's.
        value = value.replace(version, "{version}")
        value = re.sub(r" \(.*\) \S+$", " ({machine}) {terminal}", value)
        # gemini names the Node.js version that runs it.
        headers[name.lower()] = re.sub(r"gl-node/[0-9.]+", "gl-node/{node}", value)
    fields = sent.fields or {}
    return {
        "request target": f"{sent.method} {sent.host}{sent.route}",
        "headers": headers,
        "body fields": list(fields),
        "body values": {k: v for k, v in fields.items() if k not in ("refresh_token", "scope")},
        "scope": fields.get("scope"),
    }


def _locks(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if p.name.endswith((".lock", ".owner")))


def _compare(cli: str, version: str, facts: dict[str, Any]) -> dict[str, Any]:
    recorded: dict[str, dict[str, Any]] = json.loads(RECORDED.read_text())[cli]
    against = version if version in recorded else max(recorded, key=installed.version_key)
    want = recorded[against]
    result: dict[str, Any] = {}
    for name in sorted(set(want) | set(facts)):
        was, now = want.get(name), facts.get(name)
        result[name] = "same" if was == now else {"was": was, "now": now}
    line = {"cli": cli, "version": version, "against": against, "facts": result}
    if REPORT:
        with open(REPORT, "a", encoding="utf-8") as f:
            f.write(json.dumps(line) + "\n")
    return {k: v for k, v in result.items() if v != "same"}


@pytest.fixture
def stack(home: Home) -> Any:
    yield from _stack(home, jwt=False)


@pytest.mark.parametrize("version", CLAUDE_VERSIONS)
def test_claudes_facts_are_the_recorded_ones(stack: Stack, version: str) -> None:
    stack.write_claude(60)
    before = set(stack.home.read())
    hold = stack.server.on_request = Hold()
    claude = stack.claude(version, "-p", "hi")
    assert hold.arrived.wait(30), finish(claude)
    claude_dir = stack.home.claude_dir
    owner_file = claude_dir / ".oauth_refresh.lock.owner"
    owner = json.loads(owner_file.read_text()) if owner_file.exists() else {}
    legacy = Path(os.path.realpath(claude_dir) + ".lock")
    locks = _locks(claude_dir) + (["<dir>.lock (legacy)"] if legacy.is_dir() else [])
    hold.release()
    ok(claude)
    [sent] = stack.proxy.token_requests()
    status = ok(stack.claude(version, "auth", "status", "--json"))
    facts = {
        **_request_facts(sent, version),
        "lock files while refreshing": locks,
        "owner record keys": sorted(owner),
        "new top-level keys": sorted(set(stack.home.read()) - before),
        "auth status keys": sorted(json.loads(status.stdout)),
    }
    assert _compare("claude", version, facts) == {}
    stack.assert_claude_holds_newest(version, ask=False)


@pytest.fixture(params=CODEX_VERSIONS)
def codex_stack(home: Home, request: pytest.FixtureRequest) -> Any:
    yield from _stack(home, jwt=True, codex=request.param)


def test_codexs_facts_are_the_recorded_ones(codex_stack: Stack) -> None:
    s = codex_stack
    version = s.codex_version
    s.write_codex(-60)
    before = set(json.loads(s.codex_auth.read_text()))
    assert ok(s.codex("exec", "--skip-git-repo-check", "hi")).stdout.strip() == "ok"
    [sent] = s.proxy.token_requests()
    status = finish(s.codex("login", "status"))
    facts = {
        **_request_facts(sent, version),
        "lock files after a refresh": _locks(s.codex_home),
        "new top-level keys": sorted(set(json.loads(s.codex_auth.read_text())) - before),
        "login status": (status.stdout + status.stderr).strip().splitlines()[-1:],
    }
    assert _compare("codex", version, facts) == {}
    s.assert_codex_holds_newest(ask=False)


@pytest.fixture
def gemini_stack(home: Home) -> Any:
    yield from _stack(home, jwt=False, rotate=False)  # Google keeps the refresh token


@pytest.mark.parametrize("version", GEMINI_VERSIONS)
def test_geminis_facts_are_the_recorded_ones(gemini_stack: Stack, version: str) -> None:
    s = gemini_stack
    path = s.write_gemini(-60)
    before = json.loads(path.read_text())
    finish(s.gemini(version, "-p", "hi"))  # refreshes, then stops at its next call (404)
    [sent] = s.proxy.token_requests()
    after = json.loads(path.read_text())
    facts = {
        **_request_facts(sent, version),
        "lock files after a refresh": _locks(path.parent),
        "new top-level keys": sorted(set(after) - set(before)),
        "keys its write drops": sorted(set(before) - set(after)),
        "refresh token kept": after.get("refresh_token") == "old-refresh",
        "file mode": oct(path.stat().st_mode & 0o777),
    }
    assert _compare("gemini", version, facts) == {}
