"""Shared fixtures: a temporary HOME, a real token server on 127.0.0.1, a stand-in `claude`."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))

from token_server import TokenServer  # noqa: E402

FIXTURES = ROOT / "tests" / "fixtures" / "credentials"
DAY = 86400
# The console scripts under test: this venv's (editable) unless scripts/test points them at the
# wheel it built and installed in a venv of its own, so that what users install is what is tested.
BIN = Path(os.environ.get("WRAP_TEST_BIN") or Path(sys.executable).parent)
# What the suite must not inherit from the developer's shell: proxies (in-process httpx clients
# would send the 127.0.0.1 test traffic there), a real wrap configuration, vendor directories.
_PROXY_VARS = {"http_proxy", "https_proxy", "all_proxy", "no_proxy"}
_FOREIGN_VARS = {
    "CLAUDE_CONFIG_DIR",
    "CLAUDE_CODE_OAUTH_TOKEN",
    "CODEX_HOME",
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
    # The user's own bus and keyring daemon live there; the keyring tests start their own.
    "XDG_RUNTIME_DIR",
}


# Started in the background by a POSIX shell (`bash scripts/test &`, a CI script), the suite
# arrives with SIGINT and SIGQUIT ignored, and an ignored disposition survives exec: the Ctrl-C
# tests' children would never see their SIGINT. A handler does not survive exec, so installing
# Python's own gives every child the default disposition, as when started from a terminal.
for _signum in (signal.SIGINT, signal.SIGQUIT):
    if signal.getsignal(_signum) == signal.SIG_IGN:
        signal.signal(
            _signum, signal.default_int_handler if _signum == signal.SIGINT else signal.SIG_DFL
        )


def _inherited(name: str) -> bool:
    return name.lower() in _PROXY_VARS or name.startswith("WRAP_") or name in _FOREIGN_VARS


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()[:16]


def one_line(text: str) -> str:
    """TEXT (what wrap said on stderr) as its single line; no traceback."""
    assert "Traceback" not in text
    lines = text.splitlines()
    assert len(lines) == 1, text
    return lines[0]


def claude_doc(
    expires_at: float | None,
    *,
    access: str = "old-access",
    refresh: str | None = "old-refresh",
) -> dict[str, Any]:
    """The fixture's shape with the given token values and expiry (epoch seconds)."""
    doc = json.loads((FIXTURES / "claude.credentials.json").read_text())
    oauth = doc["claudeAiOauth"]
    oauth["accessToken"] = access
    if refresh is None:
        del oauth["refreshToken"]
    else:
        oauth["refreshToken"] = refresh
    if expires_at is None:
        del oauth["expiresAt"]
    else:
        oauth["expiresAt"] = int(expires_at * 1000)
    return doc


# Top-level keys Claude Code 2.1.337 writes beside the login: another token chain with its own
# client id, and device state. Each as Claude writes it (compact JSON.stringify).
CLAUDE_2_1_337_KEYS = {
    "chatHistoryOauth": {
        "accessToken": "chat-access",
        "refreshToken": "chat-refresh",
        "expiresAt": 1_800_003_600_000,
        "scopes": ["user:chat_history"],
        "clientId": "00000000-0000-4000-8000-00000000c4a9",
    },
    "trustedDeviceByAccount": {"acct-1": {"deviceId": "d-1", "trustedAt": 1_799_000_000_000}},
    "removedHybridSignIn": True,
}


class Clock:
    """An injected `now`: epoch seconds that move only when a test sets them."""

    def __init__(self, t: float) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


class FakeTime:
    """A monotonic clock that moves only when slept on."""

    def __init__(self) -> None:
        self.t = 0.0

    def clock(self) -> float:
        return self.t

    def sleep(self, s: float) -> None:
        self.t += s


class Home:
    """A temporary HOME with ~/.claude and a PATH that holds the stand-in `claude`."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.claude_dir = root / ".claude"
        self.claude_dir.mkdir(mode=0o700)
        self.creds = self.claude_dir / ".credentials.json"
        self.bin = root / "bin"
        self.bin.mkdir()
        self.report = root / "report.jsonl"
        fake = self.bin / "claude"
        fake.write_text(
            f"#!{sys.executable}\n" + (ROOT / "tests" / "bin" / "fake_claude.py").read_text()
        )
        fake.chmod(0o755)

    def write(self, doc: Any, mode: int = 0o600) -> bytes:
        data = (json.dumps(doc, indent=2) + "\n").encode()
        self.creds.write_bytes(data)
        self.creds.chmod(mode)
        return data

    def write_claude(self, expires_at: float | None, **kw: Any) -> bytes:
        return self.write(claude_doc(expires_at, **kw))

    def read(self) -> dict[str, Any]:
        return json.loads(self.creds.read_bytes())  # type: ignore[no-any-return]

    def env(self, **extra: str) -> dict[str, str]:
        env = {
            "HOME": str(self.root),
            "PATH": f"{self.bin}{os.pathsep}{BIN}{os.pathsep}/usr/bin:/bin",
            "LANG": "C.UTF-8",
            "FAKE_REPORT": str(self.report),
            "XDG_STATE_HOME": str(self.root / "state"),
            "XDG_CONFIG_HOME": str(self.root / "config"),
        }
        env.update(extra)
        return env

    def reports(self) -> list[dict[str, Any]]:
        if not self.report.exists():
            return []
        return [json.loads(line) for line in self.report.read_text().splitlines()]

    def wrap_claude(
        self, *args: str, env: dict[str, str] | None = None, timeout: float = 60
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(BIN / "wrap-claude"), *args],
            env=env if env is not None else self.env(),
            capture_output=True,
            text=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
        )

    def python(self, code: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        """CODE in a real process of the installed package (a seam set up in the code itself)."""
        return subprocess.run(
            [str(BIN / "python"), "-c", code],
            env=self.env(),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            cwd=self.root,
        )

    def wrap(
        self,
        *args: str,
        env: dict[str, str] | None = None,
        timeout: float = 60,
        cwd: str | os.PathLike[str] | None = None,
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(BIN / "wrap"), *args],
            env=env if env is not None else self.env(),
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
        )


@pytest.fixture(scope="session", autouse=True)
def hermetic_session() -> Iterator[None]:
    """The same scrub before any session- or module-scoped fixture starts a server (etcd,
    OpenBao, the OIDC provider), whose children would otherwise inherit the shell's proxy."""
    with pytest.MonkeyPatch.context() as mp:
        for name in [n for n in os.environ if _inherited(n)]:
            mp.delenv(name)
        yield


@pytest.fixture(autouse=True)
def hermetic(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every test gets a HOME and XDG dirs of its own and none of the shell's proxy, WRAP_* or
    vendor variables, so a developer behind a proxy or with wrap configured runs the same suite."""
    for name in [n for n in os.environ if _inherited(n)]:
        monkeypatch.delenv(name)
    root = tmp_path_factory.mktemp("hermetic-home")
    monkeypatch.setenv("HOME", str(root))
    for var, sub in (
        ("XDG_CONFIG_HOME", ".config"),
        ("XDG_STATE_HOME", ".local/state"),
        ("XDG_CACHE_HOME", ".cache"),
        ("XDG_DATA_HOME", ".local/share"),
    ):
        monkeypatch.setenv(var, str(root / sub))


@pytest.fixture
def home(tmp_path: Path) -> Home:
    return Home(tmp_path)


@pytest.fixture
def shared_dir() -> Iterator[Path]:
    """A directory anyone may write in, outside pytest's 0700 tmp root, so that the other
    users of the ownership tests can reach it."""
    d = Path(tempfile.mkdtemp(prefix="wrap-own-", dir="/tmp"))
    d.chmod(0o777)
    try:
        yield d
    finally:
        shutil.rmtree(d)


@pytest.fixture
def server() -> Iterator[TokenServer]:
    with TokenServer() as s:
        s.seed("old-refresh")
        yield s


@pytest.fixture
def now() -> float:
    return time.time()


def which_wrap_claude() -> str:
    found = shutil.which("wrap-claude", path=str(BIN))
    assert found, "wrap-claude is not installed: pip install -e '.[test]'"
    return found
