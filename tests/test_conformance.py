"""wrap's refresh request against the real CLIs' own, header by header and field by field.

Every pinned real claude and codex (or, under scripts/check-vendors, the versions it
installed) refreshes through the TLS-intercepting proxy, then wrap refreshes the same kind of file
through the same proxy (its real token URL, HTTPS_PROXY and the throw-away CA). Any difference
that launcher/vendors/wire.py does not list, with its reason, fails: pinning a newer CLI then
shows what changed.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from conftest import Home
from test_real_clis import (
    BIN,
    CLAUDE_RUN,
    CLAUDE_VERSIONS,
    CODEX_VERSIONS,
    GEMINI_VERSIONS,
    Stack,
    _stack,
    claude_binary,
    codex_binary,
    finish,
    ok,
)
from test_real_clis import pytestmark as real_cli_marks

from launcher.vendors import wire

pytestmark = real_cli_marks


@pytest.fixture
def stack(home: Home) -> Iterator[Stack]:
    yield from _stack(home, jwt=False)


@pytest.fixture(params=CODEX_VERSIONS)
def codex_stack(home: Home, request: pytest.FixtureRequest) -> Iterator[Stack]:
    yield from _stack(home, jwt=True, codex=request.param)


def _through_proxy(s: Stack, **extra: str) -> dict[str, str]:
    env = s.env(**extra)
    env.pop("WRAP_TOKEN_URL")  # the vendor's own URL, reached through the proxy
    env["NO_PROXY"] = env["no_proxy"] = ""
    env["WRAP_THRESHOLD"] = "1d"
    return env


def _compare(theirs: Any, ours: Any, profile: str) -> list[str]:
    """Differences between two recorded requests that the vendor module does not explain."""
    problems = []
    if (theirs.method, theirs.host, theirs.route) != (ours.method, ours.host, ours.route):
        problems.append(f"target: {theirs.method} {theirs.host}{theirs.route} vs ours")
    allowed = wire.allowed(*profile.split(" ", 1))
    names = {k.lower() for k, _ in theirs.headers} | {k.lower() for k, _ in ours.headers}
    for name in sorted(names):
        if name in allowed or name in wire.ANY_VALUE:
            continue
        a, b = theirs.header(name), ours.header(name)
        if a != b:
            problems.append(f"header {name}: {a!r} (CLI) vs {b!r} (wrap)")
    a_fields, b_fields = theirs.fields or {}, ours.fields or {}
    if list(a_fields) != list(b_fields):
        problems.append(f"body fields: {list(a_fields)} (CLI) vs {list(b_fields)} (wrap)")
    for field in a_fields:
        if field in wire.TOKEN_FIELDS or f"body.{field}" in allowed:
            continue
        if a_fields.get(field) != b_fields.get(field):
            problems.append(f"body {field}: {a_fields[field]!r} vs {b_fields.get(field)!r}")
    return problems


@pytest.mark.parametrize("version", CLAUDE_VERSIONS)
def test_wraps_claude_request_is_claude_codes(stack: Stack, version: str) -> None:
    stack.write_claude(60)
    ok(stack.claude(version, "-p", "hi"))
    [theirs] = stack.proxy.token_requests()
    stack.age_claude(3600)
    r = ok(stack.start([str(BIN / "wrap"), "--refresh-token"], _through_proxy(stack)))
    assert len(stack.proxy.token_requests()) == 2, r.stderr
    ours = stack.proxy.token_requests()[1]
    problems = _compare(theirs, ours, f"claude {version}")
    assert problems == [], "\n".join(problems)
    stack.assert_claude_holds_newest(version)


def test_wraps_codex_request_is_codex_execs(codex_stack: Stack) -> None:
    s = codex_stack
    s.write_codex(-60)
    ok(s.codex("exec", "--skip-git-repo-check", "hi"))
    [theirs] = s.proxy.token_requests()
    s.age_codex(600)
    env = _through_proxy(s, TERM=theirs.header("user-agent").rsplit(" ", 1)[-1])
    link = s.home.bin / "codex"
    if not link.exists():
        link.symlink_to(codex_binary(s.codex_version))
    r = ok(s.start([str(BIN / "wrap"), "--profile", "codex", "--refresh-token"], env))
    assert len(s.proxy.token_requests()) == 2, r.stderr
    ours = s.proxy.token_requests()[1]
    problems = _compare(theirs, ours, f"codex {s.codex_version}")
    assert problems == [], "\n".join(problems)
    s.assert_codex_holds_newest()


@pytest.fixture
def gemini_stack(home: Home) -> Iterator[Stack]:
    yield from _stack(home, jwt=False, rotate=False)


@pytest.mark.parametrize("version", GEMINI_VERSIONS)
def test_wraps_gemini_request_is_gemini_clis(gemini_stack: Stack, version: str) -> None:
    """gemini-cli refreshes an expired login before it asks tokeninfo about it (answered by the
    proxy), then stops at its next call (404s, and no trusted folder): only its request counts."""
    s = gemini_stack
    s.write_gemini(-60)
    finish(s.gemini(version, "-p", "hi"))
    [theirs] = s.proxy.token_requests()
    s.write_gemini(-60)
    r = ok(
        s.start([str(BIN / "wrap"), "--profile", "gemini", "--refresh-token"], _through_proxy(s))
    )
    assert len(s.proxy.token_requests()) == 2, r.stderr
    ours = s.proxy.token_requests()[1]
    problems = _compare(theirs, ours, f"gemini {version}")
    assert problems == [], "\n".join(problems)


def test_refresh_via_cli_lets_the_newest_claude_refresh(stack: Stack) -> None:
    version = CLAUDE_RUN[-1]  # 2.1.197's `auth status` does not refresh
    stack.write_claude(120)  # inside claude's own 5-minute window
    env = stack.env(version, WRAP_REFRESH_VIA="cli")
    link = stack.home.bin / "claude"
    link.unlink()
    link.symlink_to(claude_binary(version))
    r = ok(stack.start([str(BIN / "wrap"), "refresh", "claude"], env))
    assert len(stack.proxy.token_requests()) == 1, r.stderr  # claude's own request
    status = ok(stack.start([str(BIN / "wrap"), "status", "--json"], env))
    assert '"state": "fresh"' in status.stdout or '"state":"fresh"' in status.stdout
    stack.assert_claude_holds_newest(version)
