"""Only a regular file of a sane size is read: a FIFO, a device, a socket or a huge file at the
credentials path is refused at once, as invalid, by the gate, --check-only and status."""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import Home, one_line

from launcher import credentials, store
from launcher.errors import CredentialsError

# --- files that are not regular files of a sane size --------------------------------------


@pytest.fixture(params=["fifo", "dev-zero", "huge", "socket"])
def strange_file(request: pytest.FixtureRequest, home: Home) -> Iterator[str]:
    kind = request.param
    sock = None
    if kind == "fifo":
        os.mkfifo(home.creds)
        what = "FIFO"
    elif kind == "dev-zero":
        home.creds.symlink_to("/dev/zero")
        what = "device"
    elif kind == "huge":
        home.creds.write_bytes(b'{"claudeAiOauth": {"x": "' + b"a" * (2 << 20) + b'"}}')
        what = "larger than"
    else:
        sock = socket.socket(socket.AF_UNIX)
        sock.bind(str(home.creds))
        what = "socket"
    yield what
    if sock is not None:
        sock.close()


def test_the_gate_refuses_a_strange_file_at_once_and_launches(
    home: Home, strange_file: str
) -> None:
    # (The stand-in claude must not open the FIFO itself.)
    r = home.wrap_claude(env=home.env(FAKE_CREDENTIALS=os.devnull), timeout=30)
    # A FIFO used to block wrap-claude forever, /dev/zero to exhaust its memory.
    assert r.returncode == 0
    line = one_line(r.stderr)
    assert strange_file in line
    assert str(home.creds) in line
    assert "launching claude anyway" in line
    assert len(home.reports()) == 1


def test_check_only_and_status_refuse_a_strange_file(home: Home, strange_file: str) -> None:
    r = home.wrap("--check-only", "--json", timeout=30)
    assert r.returncode == 4
    assert json.loads(r.stdout)["state"] == "invalid"
    assert "Traceback" not in r.stderr
    r = home.wrap("status", "--json", timeout=30)
    assert r.returncode == 0, r.stderr
    [entry] = [e for e in json.loads(r.stdout) if e["path"] == str(home.creds)]
    assert entry["state"] == "invalid"


def test_read_bytes_takes_a_file_up_to_the_cap_and_not_one_byte_more(tmp_path: Path) -> None:
    path = tmp_path / "f.json"
    path.write_bytes(b" " * (store.MAX_READ + 1))
    with pytest.raises(CredentialsError, match="larger than") as e:
        store.read_bytes(str(path), "log in")
    assert e.value.state == credentials.INVALID
    path.write_bytes(b" " * store.MAX_READ)
    assert len(store.read_bytes(str(path), "log in")) == store.MAX_READ


def test_a_file_nested_past_the_parser_is_invalid_not_a_crash(home: Home) -> None:
    home.creds.write_bytes(b"[" * 100_000 + b"]" * 100_000)
    r = home.wrap("--check-only", "--json")
    assert r.returncode == 4
    assert json.loads(r.stdout)["state"] == "invalid"
    r = home.wrap_claude(env=home.env(FAKE_CREDENTIALS=os.devnull))
    assert "not valid JSON" in one_line(r.stderr)
    assert len(home.reports()) == 1
