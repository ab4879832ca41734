"""Claude Code's macOS Keychain store, driven through a STAND-IN `security` (tests/bin/
security_standin.py): the real Keychain cannot run here, so these tests check wrap's side of
the commands and exit codes that Claude Code 2.1.197 uses, not the Keychain itself.

wrap runs /usr/bin/security by absolute path, as Claude Code does: each console script runs
in a mount namespace of its own where an overlay puts the stand-in there (root only, as CI
runs), while a `security` on PATH is a decoy that must never be run."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from typing import Any

import pexpect
import pytest
from conftest import BIN, DAY, ROOT, Home, claude_doc
from token_server import TokenServer

from launcher import profiles, stores
from launcher.stores import keychain

SERVICE = "Claude Code-credentials"
ACCOUNT = "tester"


class Keychain:
    """The stand-in's file: its items, its lock, and the argv of every `security` call."""

    def __init__(self, home: Home) -> None:
        self.home = home
        self.path = home.root / "keychain.json"
        self.log = home.root / "keychain.log"
        self.overlay = home.root / "usr-bin"
        self.overlay.mkdir()
        tool = self.overlay / "security"
        tool.write_text(
            f"#!{sys.executable}\n" + (ROOT / "tests" / "bin" / "security_standin.py").read_text()
        )
        tool.chmod(0o755)
        self.decoy = home.root / "decoy-ran"
        decoy = home.bin / "security"
        decoy.write_text(f"#!/bin/sh\ncat > {self.decoy}\nexit 1\n")
        decoy.chmod(0o755)
        config = home.root / "config" / "wrap" / "config.toml"
        config.parent.mkdir(parents=True)
        # sys.platform is linux here: choose the Keychain explicitly, as a Mac's "auto" would.
        config.write_text('[profiles.claude]\nstore = "keychain"\n')
        self.save({"locked": False, "items": {}})

    def save(self, kc: dict[str, Any]) -> None:
        self.path.write_text(json.dumps(kc))

    def put(self, doc: dict[str, Any], service: str = SERVICE) -> None:
        kc = json.loads(self.path.read_text())
        # Claude writes compact JSON (JSON.stringify).
        kc["items"].setdefault(service, {})[ACCOUNT] = json.dumps(doc, separators=(",", ":"))
        self.save(kc)

    def get(self, service: str = SERVICE) -> dict[str, Any] | None:
        raw = json.loads(self.path.read_text())["items"].get(service, {}).get(ACCOUNT)
        return None if raw is None else json.loads(raw)  # type: ignore[no-any-return]

    def lock(self) -> None:
        kc = json.loads(self.path.read_text())
        kc["locked"] = True
        self.save(kc)

    def calls(self) -> list[list[str]]:
        if not self.log.exists():
            return []
        return [json.loads(line) for line in self.log.read_text().splitlines()]

    def argv(self, program: str, *args: str) -> list[str]:
        """PROGRAM ARGS in a mount namespace where /usr/bin/security is the stand-in."""
        script = (
            "mount --make-rprivate / && "
            'mount -t overlay overlay -o "lowerdir=$0:/usr/bin" /usr/bin && exec "$@"'
        )
        return ["unshare", "--mount", "--", "sh", "-c", script, str(self.overlay), program, *args]

    def wrap(self, *args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
        return self._run("wrap", args, env)

    def wrap_claude(self, *args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
        return self._run("wrap-claude", args, env)

    def _run(
        self, script: str, args: tuple[str, ...], env: dict[str, str]
    ) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            self.argv(str(BIN / script), *args),
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            stdin=subprocess.DEVNULL,
        )
        assert not self.decoy.exists(), "the security on PATH was run"
        return done

    def env(self, **extra: str) -> dict[str, str]:
        return self.home.env(
            FAKE_KEYCHAIN=str(self.path), FAKE_KEYCHAIN_LOG=str(self.log), USER=ACCOUNT, **extra
        )


@pytest.fixture
def kc(home: Home) -> Keychain:
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        pytest.skip("the stand-in at /usr/bin/security needs root and unshare (CI runs as root)")
    return Keychain(home)


def test_service_names_are_claudes_hashes() -> None:
    assert keychain.service_name({}) == "Claude Code-credentials"
    assert keychain.service_name({"CLAUDE_CONFIG_DIR": ""}) == "Claude Code-credentials"
    # sha256("/Users/dev/.claude-work")[:8], as `printf ... | sha256sum` gives it.
    work = {"CLAUDE_CONFIG_DIR": "/Users/dev/.claude-work"}
    assert keychain.service_name(work) == "Claude Code-credentials-4298c2ba"
    # CLAUDE_SECURESTORAGE_CONFIG_DIR wins when non-empty; an empty one does not count.
    both = {"CLAUDE_CONFIG_DIR": "/x", "CLAUDE_SECURESTORAGE_CONFIG_DIR": "/tmp/cfg"}
    assert keychain.service_name(both) == "Claude Code-credentials-519e587f"
    empty = {**work, "CLAUDE_SECURESTORAGE_CONFIG_DIR": ""}
    assert keychain.service_name(empty) == "Claude Code-credentials-4298c2ba"
    # NFC first: a decomposed é names the same entry as the composed one.
    composed = {"CLAUDE_CONFIG_DIR": "/Users/d\u00e9v/claude"}
    decomposed = {"CLAUDE_CONFIG_DIR": "/Users/de\u0301v/claude"}
    assert keychain.service_name(composed) == "Claude Code-credentials-9eb540ba"
    assert keychain.service_name(decomposed) == "Claude Code-credentials-9eb540ba"


def test_account_is_the_user_or_claudes_fallback() -> None:
    assert keychain.account_name({"USER": "alice.b-c_d"}) == "alice.b-c_d"
    assert keychain.account_name({"USER": "alice smith"}) == "claude-code-user"
    assert keychain.account_name({"USER": "jörg"}) == "claude-code-user"
    assert keychain.account_name({}) == keychain._login_name() or "claude-code-user"


def test_auto_is_the_keychain_on_macos_only(home: Home) -> None:
    path = str(home.creds)
    env = home.env()
    assert stores.for_account(profiles.CLAUDE, path, env, "linux").kind == "file"
    mac = stores.for_account(profiles.CLAUDE, path, env, "darwin")
    assert (mac.kind, mac.where, mac.path) == ("keychain", f"keychain:{SERVICE}", path)
    assert stores.for_account(profiles.CLAUDE, path, env, "darwin", choice="file").kind == "file"


def _gate(kc: Keychain, server: TokenServer, *args: str) -> Any:
    return kc.wrap_claude(*args, env=kc.env(WRAP_TOKEN_URL=server.url))


def test_found_in_the_keychain_refreshed_and_written_back(
    kc: Keychain, server: TokenServer
) -> None:
    doc = claude_doc(time.time() + 3600)
    doc["mcpOAuth"] = {"srv": {"x": 1}}
    kc.put(doc)
    r = _gate(kc, server, "-p", "hi")
    assert r.returncode == 0, r.stderr
    assert r.stderr == ""
    assert server.refresh_requests == 1
    new = kc.get()
    assert new is not None
    assert new["claudeAiOauth"]["accessToken"] == "test-access-1"
    assert new["claudeAiOauth"]["refreshToken"] == server.issued_refresh[-1]
    assert new["mcpOAuth"] == {"srv": {"x": 1}}  # every other field kept
    assert not kc.home.creds.exists()  # no file appears beside the Keychain entry
    assert [rep["argv"] for rep in kc.home.reports()] == [["-p", "hi"]]
    # The write went through `security -i`: no token, not even hex-encoded, in any argv.
    calls = kc.calls()
    assert ["-i"] in calls
    hexed = b"test-refresh".hex()
    assert not any("test-" in a or hexed in a for call in calls for a in call)
    # A fresh token: one `security` process for the read, nothing else.
    before = len(kc.calls())
    r = _gate(kc, server)
    assert r.returncode == 0, r.stderr
    assert len(kc.calls()) == before + 1
    assert server.refresh_requests == 1


def test_not_found_falls_back_to_the_file(kc: Keychain, server: TokenServer) -> None:
    kc.home.write_claude(time.time() + 3600)
    r = _gate(kc, server)
    assert r.returncode == 0, r.stderr
    assert kc.home.read()["claudeAiOauth"]["accessToken"] == "test-access-1"
    assert kc.get() is None  # written back where it was read: the file
    assert [c[0] for c in kc.calls()].count("-i") == 0


def test_neither_keychain_nor_file_says_both_and_launches(
    kc: Keychain, server: TokenServer
) -> None:
    r = _gate(kc, server)
    assert r.returncode == 0
    [line] = r.stderr.splitlines()
    assert f"keychain:{SERVICE}" in line
    assert str(kc.home.creds) in line
    assert "launching claude anyway" in line


def test_locked_keychain_is_one_line_and_claude_launches(kc: Keychain, server: TokenServer) -> None:
    kc.put(claude_doc(time.time() - 60))
    kc.home.write_claude(time.time() + 3600)  # a stale file must not be refreshed instead
    before = kc.home.creds.read_bytes()
    kc.lock()
    r = _gate(kc, server, "x")
    assert r.returncode == 0
    [line] = r.stderr.splitlines()
    assert "security unlock-keychain" in line
    assert [rep["argv"] for rep in kc.home.reports()] == [["x"]]
    assert server.refresh_requests == 0
    assert kc.home.creds.read_bytes() == before


def test_long_documents_go_through_argv_as_claude_does(kc: Keychain, server: TokenServer) -> None:
    doc = claude_doc(time.time() + 3600)
    doc["mcpOAuth"] = {"big": "x" * 2500}  # the hex line passes 4032 characters
    kc.put(doc)
    r = _gate(kc, server)
    assert r.returncode == 0, r.stderr
    new = kc.get()
    assert new is not None
    assert new["claudeAiOauth"]["accessToken"] == "test-access-1"
    assert new["mcpOAuth"] == doc["mcpOAuth"]
    # Two writes, as for a file: the rotated refresh token at once, then the whole answer.
    writes = [c for c in kc.calls() if c[:1] == ["add-generic-password"]]
    assert len(writes) == 2
    for write in writes:
        assert write[:6] == ["add-generic-password", "-U", "-a", ACCOUNT, "-s", SERVICE]
        assert write[6] == "-X"
        assert len(write[7]) > 4032
    assert ["-i"] not in kc.calls()


def test_claudes_migration_during_a_refresh_is_followed(kc: Keychain, server: TokenServer) -> None:
    """Claude moves the file into the Keychain (and deletes it) while wrap refreshes: wrap's
    write-back goes to the Keychain, where claude reads, and no file comes back."""
    data = kc.home.write_claude(time.time() + 3600)

    def migrate() -> None:
        if kc.home.creds.exists():
            kc.put(json.loads(data))
            kc.home.creds.unlink()

    server.on_request = migrate
    r = _gate(kc, server)
    assert r.returncode == 0, r.stderr
    assert server.refresh_requests == 1
    assert not kc.home.creds.exists()
    new = kc.get()
    assert new is not None
    assert new["claudeAiOauth"]["accessToken"] == "test-access-1"
    assert new["claudeAiOauth"]["refreshToken"] == server.issued_refresh[-1]


def test_after_claudes_migration_the_keychain_is_read(kc: Keychain) -> None:
    kc.put(claude_doc(time.time() + 30 * DAY, access="kc-access"))
    r = kc.wrap("--check-only", "--json", env=kc.env())
    assert r.returncode == 0, r.stderr
    obj = json.loads(r.stdout)
    assert (obj["store"], obj["where"], obj["state"]) == (
        "keychain",
        f"keychain:{SERVICE}",
        "fresh",
    )


def test_status_shows_where_the_account_lives(kc: Keychain) -> None:
    kc.put(claude_doc(time.time() + 30 * DAY))
    r = kc.wrap("status", "--json", env=kc.env())
    assert r.returncode == 0, r.stderr
    [obj] = [o for o in json.loads(r.stdout) if o["profile"] == "claude"]
    assert (obj["store"], obj["where"]) == ("keychain", f"keychain:{SERVICE}")
    table = kc.wrap("status", env=kc.env()).stdout
    assert f"keychain:{SERVICE}" in table


def test_login_goes_into_the_keychain(kc: Keychain) -> None:

    stand_in = ROOT / "tests" / "bin" / "fake_setup_token.py"
    (kc.home.root / "config" / "wrap" / "config.toml").write_text(
        '[profiles.claude]\nstore = "keychain"\nlogin = "setup-token"\n'
        f'setup_command = ["{sys.executable}", "{stand_in}"]\n'
    )
    doc = claude_doc(time.time() - 60)
    kc.put(doc)
    program, *args = kc.argv(str(BIN / "wrap"), "login")
    child = pexpect.spawn(program, args, env=kc.env(), timeout=30, encoding="utf-8")
    child.expect("Paste code here")
    child.sendline("good-code")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0
    assert not kc.decoy.exists(), "the security on PATH was run"
    new = kc.get()
    assert new is not None
    assert new["claudeAiOauth"]["accessToken"].startswith("sk-ant-oat01-")
    assert new["claudeAiOauth"]["refreshToken"] == doc["claudeAiOauth"]["refreshToken"]
    assert not kc.home.creds.exists()


# Claude Code 2.1.337 on macOS: a document too large for one item keeps `keychainOverflow`
# in the primary item and the rest, AES-256-GCM-encrypted, in `<service>-overflow-<slot>`.
OVERFLOW = {"slot": "a", "key": "c2VjcmV0LWtleS1vZi10aGUtb3ZlcmZsb3ctaXRlbQ=="}
OVERFLOW_ITEM = f"{SERVICE}-overflow-a"


def _raw(kc: Keychain, service: str = SERVICE) -> str | None:
    item = json.loads(kc.path.read_text())["items"].get(service, {}).get(ACCOUNT)
    return None if item is None else str(item)


def test_keychain_overflow_is_kept_byte_for_byte_by_the_write_back(
    kc: Keychain, server: TokenServer
) -> None:
    doc = claude_doc(time.time() + 3600)
    doc["keychainOverflow"] = OVERFLOW
    kc.put(doc)
    kc.put({"sealed": "opaque-ciphertext"}, service=OVERFLOW_ITEM)
    sealed = _raw(kc, OVERFLOW_ITEM)
    marker = '"keychainOverflow":' + json.dumps(OVERFLOW, separators=(",", ":"))
    r = _gate(kc, server)
    assert r.returncode == 0, r.stderr
    assert server.refresh_requests == 1
    written = _raw(kc)
    assert written is not None
    assert marker in written  # the same bytes, where Claude's reader finds them
    new = kc.get()
    assert new is not None
    assert new["claudeAiOauth"]["refreshToken"] == server.issued_refresh[-1]
    # The encrypted rest of the document is never read, rewritten or removed.
    assert _raw(kc, OVERFLOW_ITEM) == sealed
    assert not any(OVERFLOW_ITEM in " ".join(call) for call in kc.calls())


def test_a_primary_item_holding_only_the_overflow_pointer_is_never_written(
    kc: Keychain, server: TokenServer
) -> None:
    """The login itself may be in the encrypted part: wrap sees no token, says so, launches,
    and leaves the item exactly as it was."""
    kc.put({"keychainOverflow": OVERFLOW})
    before = _raw(kc)
    r = _gate(kc, server, "-p", "hi")
    assert r.returncode == 0, r.stderr
    assert len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert server.refresh_requests == 0
    assert _raw(kc) == before
    assert [rep["argv"] for rep in kc.home.reports()] == [["-p", "hi"]]
