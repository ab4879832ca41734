"""The soak in the field's shape (scripts/soak), bounded: the pinned Claude Code sessions in
loops beside wrap-claude gates and `wrap keepalive --every`, on one machine and on three sharing
the account through a real Redis and a real etcd, tokens living two minutes, everything through
the TLS proxy whose model endpoint takes only a current access token.

Each shape must pass the soak's own checks (no replay, no revocation, no failed run, the newest
refresh token where the next refresh reads it) and rotate the refresh token well over a hundred
times, so that the actors really did contend.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

import pytest
from conftest import ROOT
from fleet_servers import _binary
from test_real_clis import CLAUDE_VERSIONS, NODE_MODULES, claude_binary

SOAK = ROOT / "scripts" / "soak"
_missing = [f"claude {v}" for v in CLAUDE_VERSIONS if claude_binary(v) is None]

pytestmark = [
    pytest.mark.slow,
    pytest.mark.realcli,
    pytest.mark.skipif(
        bool(_missing),
        reason=f"THE SOAK DID NOT RUN: {', '.join(_missing)} not installed in {NODE_MODULES}; "
        "run `bash scripts/test` (it runs npm ci in tests/realcli)",
    ),
]

# (machines, store, minutes, extra options): about three minutes in all, on CI's two cores.
SHAPES = {
    "one-machine": (1, "none", 1.25, []),
    "fleet-redis": (3, "redis", 0.7, []),
    "fleet-etcd": (3, "etcd", 0.7, []),
}
# Every token request of wrap's actors signalled while it is out (SIGINT, SIGTERM, SIGHUP in
# turn for each actor); keepalive passes every 10 s, so that the gates have requests to lose.
INTERRUPTED = ["--interrupt", "1", "--keepalive-every", "10s"]


def soak(
    machines: int, store: str, minutes: float, extra: list[str]
) -> tuple[subprocess.CompletedProcess[str], Any]:
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8"}
    for name in ("WRAP_TEST_BIN", "CI", "TMPDIR"):
        if name in os.environ:
            env[name] = os.environ[name]
    argv = [sys.executable, str(SOAK), "--json", "--minutes", str(minutes)]
    argv += ["--machines", str(machines), "--store", store, *extra]
    r = subprocess.run(
        argv, env=env, capture_output=True, text=True, timeout=minutes * 60 + 180, check=False
    )
    lines = [line for line in r.stdout.splitlines() if line.startswith("{")]
    assert lines, r.stdout + r.stderr
    return r, json.loads(lines[-1])


def passed(r: subprocess.CompletedProcess[str], figures: Any) -> None:
    """The soak's own verdict, and each of its reasons, so that a failure says which."""
    assert figures["replays"] == 0, r.stdout
    assert figures["revocations"] == 0, r.stdout
    assert figures["failures"] == 0, r.stdout
    assert figures["unauthorized"] == 0, r.stdout
    assert figures["newest_in_place"] is True, r.stdout
    assert r.returncode == 0, r.stdout + r.stderr


@pytest.mark.parametrize("shape", list(SHAPES))
def test_the_soak_rotates_constantly_and_never_replays(shape: str) -> None:
    machines, store, minutes, extra = SHAPES[shape]
    if store != "none":
        _binary(store)  # skips (or fails under CI) when the store is not installed
    r, figures = soak(machines, store, minutes, extra)
    passed(r, figures)
    assert figures["rotations"] > 100, r.stdout


def test_interrupting_the_gates_of_one_machine_loses_no_token() -> None:
    # Found by the soak before issue 24: Ctrl-C while a gate's request was out dropped the
    # rotated answer, and the next refresh replayed the spent token.
    r, figures = soak(1, "none", 0.35, INTERRUPTED)
    assert figures["interrupted"] > 0, r.stdout
    passed(r, figures)


def test_interrupting_the_holders_of_a_fleet_loses_no_token() -> None:
    # Found by the soak before issue 24: a signal while a fleet holder's request was out left
    # the store with the spent token, and every machine then needed a new login.
    _binary("redis")
    r, figures = soak(3, "redis", 0.3, INTERRUPTED)
    assert figures["interrupted"] > 0, r.stdout
    passed(r, figures)
