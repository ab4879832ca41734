"""A real desktop notification: `wrap keepalive` on a private session bus, shown by dunst (a
notification daemon from Debian's packages) on a virtual X server, read back from its history."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator

import pytest
from conftest import BIN, Home
from keepalive_env import account, config
from token_server import TokenServer

TOOLS = ("Xvfb", "dbus-run-session", "dunst", "dunstctl", "notify-send")


@pytest.fixture
def display() -> Iterator[str]:
    missing = [t for t in TOOLS if shutil.which(t) is None]
    if missing:
        pytest.skip(f"not installed: {', '.join(missing)} (scripts/setup-keepalive-deps)")
    read, write = os.pipe()
    xvfb = subprocess.Popen(
        ["Xvfb", "-displayfd", str(write), "-nolisten", "tcp"],
        pass_fds=(write,),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    os.close(write)
    with os.fdopen(read) as f:
        number = f.readline().strip()  # Xvfb writes its display number once it is ready
    try:
        if not number:
            pytest.skip("Xvfb did not start")
        yield f":{number}"
    finally:
        xvfb.terminate()
        xvfb.wait(timeout=30)


def test_rejected_token_shows_a_desktop_notification(home: Home, display: str) -> None:
    with TokenServer() as bad:
        bad.seed("a-token-nobody-has")
        config(home, bad=bad.url)
        account(home.root / ".bad", "bad-oauth-1-dead.json", 3600, "spent")
        # dunst is started by the bus on the first notification (D-Bus activation).
        script = f"'{BIN / 'wrap'}' keepalive >&2; dunstctl close-all; dunstctl history"
        r = subprocess.run(
            ["dbus-run-session", "--", "sh", "-c", script],
            env=home.env(DISPLAY=display),
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert "notice: dead (bad)" in r.stderr, r.stderr
    shown = json.loads(r.stdout)["data"][0]
    assert [(n["appname"]["data"], n["summary"]["data"]) for n in shown] == [
        ("wrap", "wrap: dead needs you")
    ]
    body = shown[0]["body"]["data"]
    assert "refresh token was rejected" in body
    assert "Run: qwen" in body
