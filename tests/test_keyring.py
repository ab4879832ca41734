"""The OS keyring for real: gnome-keyring-daemon (Debian's package) as the Secret Service on a
private session bus under dbus-run-session, unlocked without a prompt; items made the way codex
(keyring-rs) and gemini-cli (keytar/libsecret) make theirs, refreshed against the rotating token
server and written back through it."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import secretstorage
from conftest import ROOT, Home
from token_server import TokenServer

from launcher.stores import keyring as kr

# CI (root) always has them, from scripts/test: there a missing daemon fails instead of skipping.
pytestmark = pytest.mark.skipif(
    not (shutil.which("gnome-keyring-daemon") and shutil.which("dbus-run-session"))
    and not os.environ.get("CI"),
    reason="needs gnome-keyring and dbus-run-session (scripts/test installs them as root)",
)

CODEX_SERVICE = "Codex Auth"
GEMINI_ATTRS = {
    "service": "gemini-cli-oauth",
    "account": "main-account",
    "xdg:schema": "org.freedesktop.Secret.Generic",
}


# A session bus that activates nothing: no Secret Service can appear on it.
BARE_BUS = """<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <listen>unix:tmpdir=/tmp</listen>
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>
"""


@contextlib.contextmanager
def _session_bus(env: dict[str, str], *options: str) -> Iterator[str]:
    """A private session bus from dbus-run-session, alive while its shell waits on stdin."""
    holder = subprocess.Popen(
        [
            "dbus-run-session",
            *options,
            "--",
            "sh",
            "-c",
            'echo "$DBUS_SESSION_BUS_ADDRESS"; exec cat',
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        env=env,
        text=True,
    )
    assert holder.stdin is not None
    assert holder.stdout is not None
    try:
        address = holder.stdout.readline().strip()
        assert address, "dbus-run-session gave no bus address"
        yield address
    finally:
        holder.stdin.close()  # the shell ends, the bus with it, and whatever lives on the bus
        holder.wait(timeout=30)
        holder.stdout.close()


@pytest.fixture
def bus(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A session bus of this test's own with an unlocked login keyring; its address."""
    root = tmp_path / "keyring-session"
    run = root / "run"
    run.mkdir(parents=True, mode=0o700)
    env = {
        "HOME": str(root),
        "XDG_RUNTIME_DIR": str(run),
        "XDG_DATA_HOME": str(root / "data"),
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "LANG": "C.UTF-8",
    }
    with _session_bus(env) as address:
        env["DBUS_SESSION_BUS_ADDRESS"] = address
        # Creates the login keyring with this password, or unlocks it: no prompt.
        subprocess.run(
            ["gnome-keyring-daemon", "--unlock", "--components=secrets"],
            input="test-keyring-password",
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            text=True,
            check=True,
            timeout=30,
        )
        monkeypatch.setenv("DBUS_SESSION_BUS_ADDRESS", address)
        yield address


def _create(label: str, attributes: dict[str, str], secret: bytes) -> None:
    conn = secretstorage.dbus_init()
    try:
        collection = secretstorage.get_default_collection(conn)
        collection.create_item(label, attributes, secret)
    finally:
        conn.close()


def _items(attributes: dict[str, str]) -> list[tuple[str, dict[str, str], bytes]]:
    conn = secretstorage.dbus_init()
    try:
        return [
            (item.get_label(), item.get_attributes(), bytes(item.get_secret()))
            for item in secretstorage.search_items(conn, attributes)
        ]
    finally:
        conn.close()


def _program(home: Home, name: str) -> None:
    (home.bin / name).symlink_to(home.bin / "claude")


# --- codex: cli_auth_credentials_store = "keyring" ------------------------------------------


def _codex_home(home: Home, mode: str = "keyring") -> Path:
    codex_home = home.root / "codex-home"
    codex_home.mkdir()
    (codex_home / "config.toml").write_text(
        f'model = "o3"\ncli_auth_credentials_store = "{mode}"\n'
    )
    return codex_home


def _codex_attrs(codex_home: Path) -> dict[str, str]:
    return {
        "service": CODEX_SERVICE,
        "username": kr.codex_key(str(codex_home)),
        "target": "default",
    }


def _codex_doc(expires_at: float) -> dict[str, Any]:
    import base64

    def jwt(claims: dict[str, Any]) -> str:
        body = base64.urlsafe_b64encode(json.dumps(claims).encode()).decode().rstrip("=")
        return f"eyJhbGciOiJub25lIn0.{body}."

    return {
        "auth_mode": "chatgpt",
        "OPENAI_API_KEY": None,
        "tokens": {
            "id_token": jwt({"email": "dev@example.com", "exp": int(expires_at)}),
            "access_token": jwt({"exp": int(expires_at)}),
            "refresh_token": "codex-old-refresh",
            "account_id": "acct-1",
        },
        "last_refresh": "2026-01-01T12:00:00.000000Z",
    }


def test_codex_key_is_sha256_of_the_canonical_codex_home(tmp_path: Path) -> None:
    real = tmp_path / "real"
    real.mkdir()
    link = tmp_path / "link"
    link.symlink_to(real)
    import hashlib

    expected = "cli|" + hashlib.sha256(str(real.resolve()).encode()).hexdigest()[:16]
    assert kr.codex_key(str(link)) == kr.codex_key(str(real)) == expected
    # A CODEX_HOME that does not exist is hashed as given, as codex's canonicalize fallback does.
    assert kr.codex_key("/no/such/dir") == "cli|" + hashlib.sha256(b"/no/such/dir").hexdigest()[:16]


def test_codex_item_refreshed_and_updated_in_place(home: Home, bus: str) -> None:
    codex_home = _codex_home(home)
    attrs = _codex_attrs(codex_home)
    label = (
        f"keyring-rs v3.6.3 for target 'default', service 'Codex Auth', user '{attrs['username']}'"
    )
    doc = _codex_doc(time.time() + 60)
    # keyring-rs's own attributes and codex's serde_json::to_string (compact).
    _create(
        label,
        {**attrs, "application": "rust-keyring"},
        json.dumps(doc, separators=(",", ":")).encode(),
    )
    [(_, created, _)] = _items(attrs)
    _program(home, "codex")
    with TokenServer(jwt=True) as server:
        env = home.env(
            CODEX_HOME=str(codex_home), WRAP_TOKEN_URL=server.url, DBUS_SESSION_BUS_ADDRESS=bus
        )
        r = home.wrap("codex", "exec", "hi", env=env)
        assert r.returncode == 0, r.stderr
        assert r.stderr == ""
        assert server.refresh_requests == 1
        assert "codex-old-refresh" in server.used  # the item's token was the one sent
        [(new_label, new_attrs, secret)] = _items(attrs)  # updated, not a second item
        assert new_label == label
        # The item's own attributes, which codex searches by; gnome-keyring's SetSecret (the
        # call codex's keyring-rs makes too) may tag a schema-less item as the generic schema,
        # not always in time for this read: that one attribute is left out of the comparison.
        new_attrs.pop("xdg:schema", None)
        assert new_attrs == created
        new = json.loads(secret)
        assert b"\n" not in secret  # still compact, as codex writes it
        assert new["tokens"]["access_token"] == server.issued_access[-1]
        assert new["tokens"]["refresh_token"] == server.issued_refresh[-1]
        assert new["tokens"]["account_id"] == "acct-1"
        assert new["auth_mode"] == "chatgpt"
        assert new["last_refresh"] != doc["last_refresh"]
        assert not (codex_home / "auth.json").exists()  # codex deleted it; it stays gone
        assert [rep["argv"] for rep in home.reports()] == [["exec", "hi"]]
        # Fresh now: the next launch reads the item and sends nothing.
        r = home.wrap("codex", env=env)
        assert r.returncode == 0, r.stderr
        assert server.refresh_requests == 1
        st = json.loads(home.wrap("status", "--json", env=env).stdout)
        [obj] = [o for o in st if o["profile"] == "codex"]
        assert (obj["store"], obj["state"]) == ("keyring", "fresh")
        assert obj["where"] == f"keyring:Codex Auth/{attrs['username']}"


@pytest.mark.parametrize("keyring_works", [True, False])
def test_codex_auto_falls_back_to_auth_json(home: Home, bus: str, keyring_works: bool) -> None:
    """codex's "auto" reads auth.json when the keyring has no entry, and also when the keyring
    fails (storage.rs AutoAuthStorage): so does wrap, and writes back there."""
    codex_home = _codex_home(home, "auto")
    auth = codex_home / "auth.json"
    auth.write_text(json.dumps(_codex_doc(time.time() + 60), indent=2))
    auth.chmod(0o600)
    _program(home, "codex")
    address = bus if keyring_works else f"unix:path={home.root}/no-bus"
    with TokenServer(jwt=True) as server:
        env = home.env(
            CODEX_HOME=str(codex_home), WRAP_TOKEN_URL=server.url, DBUS_SESSION_BUS_ADDRESS=address
        )
        r = home.wrap("codex", env=env)
        assert r.returncode == 0, r.stderr
        assert r.stderr == ""
        assert server.refresh_requests == 1
    assert json.loads(auth.read_text())["tokens"]["refresh_token"] == server.issued_refresh[-1]
    assert _items(_codex_attrs(codex_home)) == []  # written back where it was read


# --- gemini: GEMINI_FORCE_ENCRYPTED_FILE_STORAGE=true ---------------------------------------


def _gemini_doc(expires_at: float) -> dict[str, Any]:
    # What OAuthCredentialStorage.saveCredentials stores (gemini-cli-core 0.61.0).
    return {
        "serverName": "main-account",
        "token": {
            "accessToken": "old-access",
            "refreshToken": "old-refresh",
            "tokenType": "Bearer",
            "scope": "https://www.googleapis.com/auth/cloud-platform openid",
            "expiresAt": int(expires_at * 1000),
        },
        "updatedAt": 1767268800000,
    }


def test_gemini_item_refreshed_and_written_back(home: Home, bus: str, server: TokenServer) -> None:
    doc = _gemini_doc(time.time() + 60)
    _create(
        "gemini-cli-oauth/main-account",
        GEMINI_ATTRS,
        json.dumps(doc, separators=(",", ":")).encode(),
    )
    _program(home, "gemini")
    env = home.env(
        GEMINI_FORCE_ENCRYPTED_FILE_STORAGE="true",
        WRAP_TOKEN_URL=server.url,
        DBUS_SESSION_BUS_ADDRESS=bus,
    )
    r = home.wrap("gemini", "-p", "hi", env=env)
    assert r.returncode == 0, r.stderr
    assert r.stderr == ""
    assert server.refresh_requests == 1
    assert server.requests[0]["_content_type"] == "application/x-www-form-urlencoded"
    [(_, attrs, secret)] = _items(GEMINI_ATTRS)
    assert attrs == GEMINI_ATTRS
    new = json.loads(secret)
    assert new["serverName"] == "main-account"
    assert new["updatedAt"] == doc["updatedAt"]
    token = new["token"]
    assert token["accessToken"] == "test-access-1"
    assert token["refreshToken"] == server.issued_refresh[-1]
    assert token["tokenType"] == "Bearer"
    assert token["scope"] == doc["token"]["scope"]
    assert token["expiresAt"] > (time.time() + 3600) * 1000
    assert "id_token" not in json.dumps(new)  # the keychain shape has none
    assert not (home.root / ".gemini" / "oauth_creds.json").exists()
    st = json.loads(home.wrap("status", "--json", env=env).stdout)
    [obj] = [o for o in st if o["profile"] == "gemini"]
    assert (obj["store"], obj["where"], obj["state"]) == (
        "keyring",
        "keyring:gemini-cli-oauth/main-account",
        "fresh",
    )


def test_locked_keyring_is_one_line_and_the_program_launches(
    home: Home, bus: str, server: TokenServer
) -> None:
    _create(
        "gemini-cli-oauth/main-account",
        GEMINI_ATTRS,
        json.dumps(_gemini_doc(time.time() - 60)).encode(),
    )
    conn = secretstorage.dbus_init()
    try:
        secretstorage.get_default_collection(conn).lock()
    finally:
        conn.close()
    _program(home, "gemini")
    env = home.env(
        GEMINI_FORCE_ENCRYPTED_FILE_STORAGE="true",
        WRAP_TOKEN_URL=server.url,
        DBUS_SESSION_BUS_ADDRESS=bus,
    )
    r = home.wrap("gemini", env=env)
    assert r.returncode == 0
    [line] = r.stderr.splitlines()
    assert "keyring:gemini-cli-oauth/main-account" in line
    assert "locked" in line
    assert server.refresh_requests == 0
    assert len(home.reports()) == 1


@pytest.mark.parametrize("bus_kind", ["none", "bare"])
def test_no_secret_service_is_one_line_and_the_program_launches(
    home: Home, server: TokenServer, bus_kind: str
) -> None:
    """No session bus at all, or one where no Secret Service runs: one line, and codex runs."""
    codex_home = _codex_home(home)
    _program(home, "codex")
    config = home.root / "bare-bus.conf"
    config.write_text(BARE_BUS)
    options = ("--config-file", str(config))
    with (
        contextlib.nullcontext(f"unix:path={home.root}/no-bus")
        if bus_kind == "none"
        else _session_bus(home.env(), *options)
    ) as address:
        env = home.env(
            CODEX_HOME=str(codex_home), WRAP_TOKEN_URL=server.url, DBUS_SESSION_BUS_ADDRESS=address
        )
        r = home.wrap("codex", env=env)
    assert r.returncode == 0
    [line] = r.stderr.splitlines()
    assert "no Secret Service on the session bus" in line
    assert "launching codex anyway" in line
    assert len(home.reports()) == 1


def test_status_lists_a_keyring_account_whose_file_is_gone(home: Home, bus: str) -> None:
    codex_home = _codex_home(home)
    env = home.env(CODEX_HOME=str(codex_home), DBUS_SESSION_BUS_ADDRESS=bus)
    r = home.wrap("status", "--json", env=env)
    [obj] = [o for o in json.loads(r.stdout) if o["profile"] == "codex"]
    assert (obj["store"], obj["state"]) == ("keyring", "missing")


def test_a_secret_service_that_never_answers_does_not_hold_the_launch(
    home: Home, server: TokenServer
) -> None:
    codex_home = _codex_home(home)
    _program(home, "codex")
    config = home.root / "bare-bus.conf"
    config.write_text(BARE_BUS)
    with _session_bus(home.env(), "--config-file", str(config)) as address:
        env = home.env(
            CODEX_HOME=str(codex_home), WRAP_TOKEN_URL=server.url, DBUS_SESSION_BUS_ADDRESS=address
        )
        silent = subprocess.Popen(
            [sys.executable, str(ROOT / "tests" / "bin" / "silent_secret_service.py")],
            env=env,
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            assert silent.stdout is not None
            assert silent.stdout.readline().strip() == "ready"
            started = time.monotonic()
            r = home.wrap("codex", env=env)
            took = time.monotonic() - started
        finally:
            silent.terminate()
            silent.wait(timeout=10)
            assert silent.stdout is not None
            silent.stdout.close()
    assert r.returncode == 0
    [line] = r.stderr.splitlines()
    assert f"did not answer within {kr.ANSWER_TIMEOUT:g} s" in line
    assert "launching codex anyway" in line
    assert took < kr.ANSWER_TIMEOUT + 10
    assert len(home.reports()) == 1
