"""The cardinal rule as a matrix, through the console scripts against the rotating token
server (a reused refresh token revokes the family): every built-in profile and a custom one x
every local path (the gate, `wrap refresh`, `--refresh-token`, `wrap keepalive` once and
`--every`) x every interruption (SIGTERM, SIGHUP, SIGINT while the request is out; a 503 and a
cf-mitigated 200 that carry a new refresh token; a timeout after sending). Every case ends with:
the newest refresh token the server issued is on disk (for a timeout: the server's answer never
arrived, so the file's token is remembered as unanswered and not sent again), no refresh token
reached the server twice, and the command ended with its documented code. The fleet holder's
paths are in tests/test_fleet*.py and refresh_via = cli in tests/test_refresh_rules.py.
"""

from __future__ import annotations

import json
import signal
import subprocess
import threading
import time
from pathlib import Path

import pytest
from conftest import BIN, Home
from refresh_cases import FILES, install
from token_server import TokenServer

from launcher import credentials, profiles, state

TERM, HUP, INT = signal.SIGTERM, signal.SIGHUP, signal.SIGINT
INTERRUPTIONS = ("SIGTERM", "SIGHUP", "SIGINT", "503-rotated", "cf-200-rotated", "timeout")
PATHS = ("gate", "refresh", "refresh-token", "keepalive", "keepalive-every")
CUSTOM = "tool"
CUSTOM_SECTION = """[profiles.tool]
paths = ["~/.tool/auth.json"]
programs = ["tool"]
access_token = "token"
refresh_token = "refresh"
expiry = "expires"
expiry_unit = "s"
"""


def _setup(home: Home, name: str, url: str) -> Path:
    cfg = home.root / "config" / "wrap"
    cfg.mkdir(parents=True, exist_ok=True)
    section = CUSTOM_SECTION if name == CUSTOM else f"[profiles.{name}]\n"
    (cfg / "config.toml").write_text(section + f'token_url = "{url}"\n')
    if name != CUSTOM:
        return install(home, name)
    path = home.root / ".tool" / "auth.json"
    path.parent.mkdir(mode=0o700)
    path.write_text(json.dumps({"token": "a", "refresh": "tool-refresh", "expires": 1}))
    path.chmod(0o600)
    program = home.bin / "tool"
    program.write_bytes((home.bin / "claude").read_bytes())
    program.chmod(0o755)
    return path


def _refresh_token(home: Home, name: str, path: Path) -> str | None:
    if name == CUSTOM:
        return json.loads(path.read_text())["refresh"]  # type: ignore[no-any-return]
    _, creds = credentials.parse(profiles.BUILTIN[name], path.read_bytes(), str(path))
    return creds.refresh_token


def _argv(name: str, path: str) -> list[str]:
    program = CUSTOM if name == CUSTOM else profiles.BUILTIN[name].programs[0]
    return {
        "gate": [program],
        "refresh": ["refresh", name],
        "refresh-token": ["--profile", name, "--refresh-token"],
        "keepalive": ["keepalive"],
        "keepalive-every": ["-v", "keepalive", "--every", "1h"],
    }[path]


def _expected_codes(path: str, interruption: str) -> tuple[int, ...]:
    codes = (_expected_code(path, interruption),)
    if path in ("refresh", "refresh-token") and interruption == "SIGINT":
        # click turns a Ctrl-C in a subcommand into "Aborted!" and exit 1 (as before this
        # matrix); the contract's 130 is the gate's and `wrap`'s own.
        codes += (1,)
    return codes


def _expected_code(path: str, interruption: str) -> int:
    """The contract's exit code for this path after this interruption."""
    signum = {"SIGTERM": TERM, "SIGHUP": HUP, "SIGINT": INT}.get(interruption)
    if path == "keepalive-every" or (path == "keepalive" and signum is not None):
        # keepalive (once or --every) takes its own stop request: the pass ends, "stopped".
        return 0
    if path == "gate":
        # The gate fails open and launches; SIGTERM/SIGHUP ask it to stop before launching.
        return 128 + signum if signum in (TERM, HUP) else 0
    if signum is not None:
        return 128 + signum  # 130 for Ctrl-C: interrupted before anything was launched
    return 5  # refresh failed


# The gate on every profile; every other path on claude and the custom profile (the paths
# share the flight, the profiles differ in file shape, request and locks), in a couple of
# minutes on two cores.
CASES = [
    (name, path, interruption)
    for name in [*sorted(FILES), CUSTOM]
    for path in PATHS
    if path == "gate" or name in ("claude", CUSTOM)
    for interruption in INTERRUPTIONS
]


@pytest.mark.parametrize(("name", "path", "interruption"), CASES)
def test_the_newest_refresh_token_survives_every_interruption_and_none_is_sent_twice(
    home: Home, name: str, path: str, interruption: str
) -> None:
    arrived, release = threading.Event(), threading.Event()
    with TokenServer() as server:
        creds = _setup(home, name, server.url)
        before = _refresh_token(home, name, creds)
        env = home.env()
        if interruption in ("503-rotated", "cf-200-rotated"):
            server.faults = [interruption]
            server.retry_after = "0"
        elif interruption == "timeout":
            server.delay = 3  # the answer comes after wrap gave up on it
            env["WRAP_REFRESH_TIMEOUT"] = "1s"
        else:

            def hold() -> None:
                arrived.set()
                release.wait(30)

            server.on_request = hold
        proc = subprocess.Popen(
            [str(BIN / "wrap"), *_argv(name, path)],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        if interruption.startswith("SIG"):
            assert arrived.wait(30), "the refresh request never arrived"
            proc.send_signal(getattr(signal, interruption))  # the request is out
            release.set()
        elif path == "keepalive-every":
            _wait_for_pass(home, server)
            proc.send_signal(TERM)
        _, err = proc.communicate(timeout=60)
        assert "Traceback" not in err
        assert proc.returncode in _expected_codes(path, interruption), err
        assert server.replayed == []
        assert server.reused == 0
        if interruption == "timeout":
            # Sent, never answered: the file's token may be spent, so it is not sent again.
            assert _refresh_token(home, name, creds) == before
            remembered = state.load(str(home.root / "state" / "wrap"), str(creds))
            assert remembered.unanswered == state.token_digest(before or "")
        else:
            assert server.newest_refresh is not None
            assert _refresh_token(home, name, creds) == server.newest_refresh
        assert "test-refresh" not in err


def _wait_for_pass(home: Home, server: TokenServer) -> None:
    """Until the foreground keepalive answered its first pass (the server saw the request and
    the pass record is written)."""
    last = home.root / "state" / "wrap" / "keepalive" / "last-pass.json"
    deadline = time.monotonic() + 30
    while not (server.refresh_requests and last.exists()):
        assert time.monotonic() < deadline, "the keepalive pass never ended"
        time.sleep(0.02)
