"""wrap beside the REAL vendor CLIs (tests/realcli: the oldest and newest pinned Claude Code,
2.1.197 and 2.1.337, and codex, 0.169.0 and 0.171.0; 2.1.330 only in test_conformance.py), all
refreshing the same file against one rotating token server.

The CLIs reach the token server through scripts/tls_proxy.py (HTTPS_PROXY and a throw-away CA);
wrap reaches it directly (WRAP_TOKEN_URL, loopback http). Every case ends with the CLI still
logged in, the file holding the server's newest refresh token, and no refresh token received
twice: a replay would make a real server revoke the whole family.

Overlaps are made by holding a request at the token server (an event the test releases) while
the other program starts; the test releases it once that program is seen waiting (wrap: in a
sleep or lock syscall; codex: its answer written under flock), or, for Claude, which shows no
sign of waiting for its lock, after two seconds: a late Claude makes that case weaker, never
wrong.
"""

from __future__ import annotations

import base64
import fcntl
import json
import os
import platform
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import BIN, CLAUDE_2_1_337_KEYS, ROOT, Home
from tls_proxy import CODEX_CONFIG, TLSProxy
from token_server import TokenServer

REALCLI = ROOT / "tests" / "realcli"
PINNED_CLAUDE = ("2.1.197", "2.1.330", "2.1.337")
PINNED_CODEX = ("0.169.0", "0.171.0")
PINNED_GEMINI = ("0.61.0",)
# scripts/check-vendors runs these tests against another install (a throw-away folder holding
# the versions it names): a setting of the test run only, never read by wrap itself.
_OTHER = os.environ.get("WRAP_TEST_REALCLI")
NODE_MODULES = Path(_OTHER) / "node_modules" if _OTHER else REALCLI / "node_modules"


def _versions(name: str, pinned: tuple[str, ...]) -> tuple[str, ...]:
    given = os.environ.get(f"WRAP_TEST_{name.upper()}_VERSIONS") if _OTHER else None
    return tuple(v for v in given.split(",") if v) if given is not None else pinned


# Every version the conformance test runs; the other real-CLI tests run the oldest and newest.
CLAUDE_VERSIONS = _versions("claude", PINNED_CLAUDE)
CODEX_VERSIONS = _versions("codex", PINNED_CODEX)
GEMINI_VERSIONS = _versions("gemini", PINNED_GEMINI)
CLAUDE_RUN = tuple(dict.fromkeys(CLAUDE_VERSIONS[:1] + CLAUDE_VERSIONS[-1:]))
CODEX_RUN = tuple(dict.fromkeys(CODEX_VERSIONS[:1] + CODEX_VERSIONS[-1:]))
# The scopes Claude Code asks for (2.1.197's list); it saves nothing from an answer whose scope
# lacks user:inference.
CLAUDE_SCOPE = (
    "user:profile user:inference user:sessions:claude_code user:mcp_servers user:file_upload"
)
CODEX_RACE = (
    "codex (0.169.0, 0.171.0) sends its refresh before taking any lock (auth.lock only guards "
    "the write): with an expired token on both sides nothing tells wrap a refresh is in flight"
)

_ARCH = {"x86_64": ("x64", "x86_64"), "amd64": ("x64", "x86_64"), "aarch64": ("arm64", "aarch64")}
_NODE_ARCH, _RUST_ARCH = _ARCH.get(platform.machine().lower(), ("x64", "x86_64"))


def _package_version(pkg: Path) -> str | None:
    try:
        return str(json.loads((pkg / "package.json").read_text())["version"])
    except (OSError, ValueError, KeyError):
        return None


def claude_binary(version: str) -> Path | None:
    """The native binary of that version: the platform package npm installed beside (or
    inside) the aliased wrapper package; its postinstall also copies it over bin/claude.exe."""
    name = f"@anthropic-ai/claude-code-linux-{_NODE_ARCH}"
    for pkg in (
        NODE_MODULES / f"claude-{version}" / "node_modules" / name,
        NODE_MODULES / name,
    ):
        if _package_version(pkg) == version and (pkg / "claude").is_file():
            return pkg / "claude"
    return None


def codex_binary(version: str) -> Path | None:
    """The native binary of that version: codex's platform package (itself an alias,
    `npm:@openai/codex@<v>-linux-x64`) beside or inside the wrapper package."""
    name = f"@openai/codex-linux-{_NODE_ARCH}"
    triple = f"{_RUST_ARCH}-unknown-linux-musl"
    for pkg in (NODE_MODULES / f"codex-{version}" / "node_modules" / name, NODE_MODULES / name):
        path = pkg / "vendor" / triple / "bin" / "codex"
        if (_package_version(pkg) or "").startswith(f"{version}-") and path.is_file():
            return path
    return None


def gemini_entry(version: str) -> Path | None:
    """gemini-cli's bundled entry point (run with node): the package itself, or an alias."""
    for pkg in (NODE_MODULES / f"gemini-{version}", NODE_MODULES / "@google" / "gemini-cli"):
        if _package_version(pkg) == version and (pkg / "bundle" / "gemini.js").is_file():
            return pkg / "bundle" / "gemini.js"
    return None


_missing = [
    what
    for what, found in [
        *[(f"claude {v}", claude_binary(v)) for v in CLAUDE_VERSIONS],
        *[(f"codex {v}", codex_binary(v)) for v in CODEX_VERSIONS],
        *[(f"gemini {v}", gemini_entry(v)) for v in GEMINI_VERSIONS],
        ("proper-lockfile", (NODE_MODULES / "proper-lockfile").is_dir() or None),
    ]
    if found is None
]
pytestmark = [
    pytest.mark.realcli,
    pytest.mark.skipif(
        bool(_missing),
        reason=f"THE REAL-CLI TESTS DID NOT RUN: {', '.join(_missing)} not installed in "
        f"{NODE_MODULES}; run `bash scripts/test` (it runs npm ci in tests/realcli)",
    ),
]


# ---------------------------------------------------------------------------------------------
# The setting: a token server, the proxy in front of it, a HOME the CLIs and wrap share.


class Hold:
    """Holds the token server's first N requests until released (an on_request hook)."""

    def __init__(self, n: int = 1) -> None:
        self.n = n
        self.seen = 0
        self.arrived = threading.Event()
        self.released = threading.Event()
        self._lock = threading.Lock()

    def __call__(self) -> None:
        with self._lock:
            self.seen += 1
            held = self.seen <= self.n
        if held:
            self.arrived.set()
            self.released.wait(60)

    def release(self) -> None:
        self.released.set()


class Stack:
    def __init__(
        self, home: Home, server: TokenServer, proxy: TLSProxy, codex: str = CODEX_RUN[-1]
    ) -> None:
        self.home = home
        self.codex_version = codex
        self.server = server
        self.proxy = proxy
        self.codex_home = home.root / ".codex"
        self.codex_home.mkdir(mode=0o700)
        (self.codex_home / "config.toml").write_text(CODEX_CONFIG)
        self.codex_auth = self.codex_home / "auth.json"
        self.lock_holder = REALCLI / "claude_lock.cjs"
        self.procs: list[subprocess.Popen[str]] = []

    def close(self) -> None:
        """Stop whatever a failed test left running, and let held requests go."""
        if isinstance(self.server.on_request, Hold):
            self.server.on_request.release()
        for proc in self.procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            for pipe in (proc.stdin, proc.stdout, proc.stderr):
                if pipe is not None:
                    pipe.close()

    def env(self, claude: str = CLAUDE_RUN[0], **extra: str) -> dict[str, str]:
        binary = claude_binary(claude)
        assert binary is not None
        env = self.home.env(
            DISABLE_AUTOUPDATER="1",
            CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC="1",
            CODEX_HOME=str(self.codex_home),
            WRAP_TOKEN_URL=self.server.url,
            WRAP_CLAUDE_BIN=str(binary),
            # wrap refreshes within 10 minutes of expiry: before claude (5 minutes) would.
            WRAP_THRESHOLD="10m",
            **self.proxy.env(),
        )
        env.update(extra)
        return env

    # -- starting programs ---------------------------------------------------------------------

    def start(
        self, argv: list[str], env: dict[str, str], *, stdin: int = subprocess.DEVNULL
    ) -> subprocess.Popen[str]:
        proc = subprocess.Popen(
            argv,
            env=env,
            cwd=self.home.root,
            stdin=stdin,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.procs.append(proc)
        return proc

    def claude(self, version: str, *args: str) -> subprocess.Popen[str]:
        binary = claude_binary(version)
        assert binary is not None
        return self.start([str(binary), *args], self.env(version))

    def wrap_claude(self, version: str, *args: str) -> subprocess.Popen[str]:
        return self.start([str(BIN / "wrap-claude"), *args], self.env(version))

    def codex(self, *args: str) -> subprocess.Popen[str]:
        return self.start([str(codex_binary(self.codex_version)), *args], self.env())

    def gemini(self, version: str, *args: str) -> subprocess.Popen[str]:
        entry = gemini_entry(version)
        assert entry is not None
        return self.start(["node", str(entry), *args], self.env())

    def write_gemini(self, expires_in: float) -> Path:
        """gemini-cli's login (oauth_creds.json, as it writes it) and its choice of it."""
        directory = self.home.root / ".gemini"
        directory.mkdir(mode=0o700, exist_ok=True)
        settings = {"security": {"auth": {"selectedType": "oauth-personal"}}}
        (directory / "settings.json").write_text(json.dumps(settings))
        doc = {
            "access_token": "old-access",
            "refresh_token": "old-refresh",
            "scope": "https://www.googleapis.com/auth/cloud-platform",
            "token_type": "Bearer",
            "expiry_date": int((time.time() + expires_in) * 1000),
        }
        path = directory / "oauth_creds.json"
        path.write_text(json.dumps(doc, indent=2))
        path.chmod(0o600)
        return path

    def wrap(self, *args: str) -> subprocess.Popen[str]:
        codex = codex_binary(self.codex_version)
        assert codex is not None
        link = self.home.bin / "codex"
        if not link.exists():
            link.symlink_to(codex)
        return self.start([str(BIN / "wrap"), *args], self.env())

    # -- files ---------------------------------------------------------------------------------

    def write_claude(self, expires_in: float, refresh: str = "old-refresh") -> None:
        self.home.write_claude(time.time() + expires_in, access="old-access", refresh=refresh)

    def age_claude(self, expires_in: float = 60) -> None:
        """Make the file's token expire soon, as time would: same tokens, earlier expiresAt."""
        data = self.home.creds.read_bytes()
        doc = json.loads(data)
        doc["claudeAiOauth"]["expiresAt"] = int((time.time() + expires_in) * 1000)
        compact = b"\n" not in data.strip()
        text = json.dumps(doc, separators=(",", ":")) if compact else json.dumps(doc, indent=2)
        self.home.creds.write_text(text)

    def claude_refresh_token(self) -> str:
        return str(self.home.read()["claudeAiOauth"]["refreshToken"])

    def write_codex(self, exp_in: float, refresh: str = "old-refresh") -> None:
        fixture = ROOT / "tests" / "fixtures" / "credentials" / "codex.auth.json"
        doc = json.loads(fixture.read_text())
        doc["tokens"]["access_token"] = jwt({"exp": int(time.time() + exp_in)})
        doc["tokens"]["refresh_token"] = refresh
        self.codex_auth.write_text(json.dumps(doc, indent=2))
        self.codex_auth.chmod(0o600)

    def age_codex(self, exp_in: float = -60) -> None:
        doc = json.loads(self.codex_auth.read_text())
        doc["tokens"]["access_token"] = jwt({"exp": int(time.time() + exp_in)})
        self.codex_auth.write_text(json.dumps(doc, indent=2))

    def codex_refresh_token(self) -> str:
        return str(json.loads(self.codex_auth.read_text())["tokens"]["refresh_token"])

    # -- what must hold at the end -------------------------------------------------------------

    def sent_by_clis(self) -> int:
        """Refresh requests that came through the proxy (the CLIs'); wrap's go direct."""
        return len(self.proxy.token_requests())

    def assert_claude_holds_newest(self, version: str, *, ask: bool = True) -> None:
        """ASK: and `claude auth status` says it is logged in."""
        self.assert_no_replay()
        assert self.claude_refresh_token() == self.server.newest_refresh
        if not ask:
            return
        r = finish(self.claude(version, "auth", "status", "--json"))
        assert json.loads(r.stdout)["loggedIn"] is True, r.stdout + r.stderr

    def assert_codex_holds_newest(self, *, ask: bool = True) -> None:
        """ASK: and `codex login status` says it is logged in."""
        self.assert_no_replay()
        assert self.codex_refresh_token() == self.server.newest_refresh
        if not ask:
            return
        r = finish(self.codex("login", "status"))
        assert r.returncode == 0, r.stdout + r.stderr
        assert "Logged in using ChatGPT" in r.stdout + r.stderr

    def assert_no_replay(self) -> None:
        assert self.server.replayed == [], f"refresh tokens sent twice: {self.server.received}"
        assert self.server.refused == []
        assert self.server.newest_refresh is not None, "the token family was revoked"


def jwt(claims: dict[str, Any]) -> str:
    def part(raw: bytes) -> str:
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

    header = part(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    return f"{header}.{part(json.dumps(claims).encode())}.{part(b'fake-signature')}"


def finish(proc: subprocess.Popen[str], timeout: float = 60) -> subprocess.CompletedProcess[str]:
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        raise AssertionError(f"{proc.args} did not finish: {out}\n{err}") from None
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def ok(proc: subprocess.Popen[str]) -> subprocess.CompletedProcess[str]:
    r = finish(proc)
    assert r.returncode == 0, f"{r.args} exited {r.returncode}:\n{r.stdout}\n{r.stderr}"
    return r


def wait_for(condition: Callable[[], bool], what: str, timeout: float = 30) -> None:
    """Poll for an event; the timeout only bounds a test that would otherwise hang."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


# Syscalls a process sits in while it waits for a lock: sleeping between tries, or blocked.
_WAITING_SYSCALLS = {
    "x86_64": {7, 23, 35, 72, 73, 230, 270, 271},  # poll select nanosleep fcntl flock ...
    "aarch64": {25, 32, 72, 73, 101, 115},  # fcntl flock pselect6 ppoll nanosleep clock_nanosleep
}.get(platform.machine().lower(), set())


FLOCK = {"x86_64": 73, "aarch64": 32}.get(platform.machine().lower(), -1)


def syscalls(pid: int) -> set[int]:
    """The system calls PID's threads are in right now (/proc/PID/task/*/syscall)."""
    found = set()
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            found.add(int((task / "syscall").read_text().split()[0]))
        except (OSError, ValueError, IndexError):
            continue
    return found


def wait_until_waiting(proc: subprocess.Popen[str], server: TokenServer, sent_before: int) -> None:
    """Until PROC (a wrap process) is seen waiting (in a sleep or lock syscall, several polls in
    a row), has sent a request of its own, or has exited."""
    streak = 0

    def waiting() -> bool:
        nonlocal streak
        if proc.poll() is not None or len(server.requests) > sent_before:
            return True
        streak = streak + 1 if syscalls(proc.pid) & _WAITING_SYSCALLS else 0
        return streak >= 5

    wait_for(waiting, f"{proc.args[0]} to wait for the lock")


def lines_of(proc: subprocess.Popen[str]) -> Iterator[dict[str, Any]]:
    assert proc.stdout is not None
    for line in proc.stdout:
        yield json.loads(line)


# ---------------------------------------------------------------------------------------------


def _stack(
    home: Home, *, jwt: bool, codex: str = CODEX_RUN[-1], rotate: bool = True
) -> Iterator[Stack]:
    """ROTATE False: Google's endpoint, which keeps the refresh token (gemini)."""
    with TokenServer(jwt=jwt, rotate=rotate) as server, TLSProxy(server.url) as proxy:
        server.seed("old-refresh")
        if not jwt:
            server.extra = {"scope": CLAUDE_SCOPE}
        s = Stack(home, server, proxy, codex)
        try:
            yield s
        finally:
            s.close()
        assert proxy.refused_handshakes == []


@pytest.fixture
def stack(home: Home) -> Iterator[Stack]:
    """Claude's setting: the token server answers with the scope Claude asks for."""
    yield from _stack(home, jwt=False)


@pytest.fixture(params=CODEX_RUN)
def codex_stack(home: Home, request: pytest.FixtureRequest) -> Iterator[Stack]:
    """Codex's setting (the oldest and the newest codex): the token server issues JWTs (codex
    reads exp from them)."""
    yield from _stack(home, jwt=True, codex=request.param)


# -- the fixtures are files the real readers accept ---------------------------------------------


@pytest.mark.parametrize("version", CLAUDE_RUN)
def test_claude_reads_the_claude_fixture(stack: Stack, version: str) -> None:
    fixture = ROOT / "tests" / "fixtures" / "credentials" / "claude.credentials.json"
    stack.home.creds.write_bytes(fixture.read_bytes())
    refresh = json.loads(fixture.read_text())["claudeAiOauth"]["refreshToken"]
    stack.server.seed(refresh)
    r = finish(stack.claude(version, "auth", "status", "--json"))
    status = json.loads(r.stdout)
    assert status["loggedIn"] is True, r.stdout + r.stderr
    assert status["authMethod"] == "claude.ai"
    assert status["subscriptionType"] == "max"
    # Its expiry is long past: 2.1.197's status only reads, 2.1.330's and later refresh first.
    assert stack.server.received == ([] if version == "2.1.197" else [refresh])
    assert json.loads(stack.home.creds.read_text())["mcpOAuth"]  # kept by either


def test_codex_reads_the_codex_fixture(codex_stack: Stack) -> None:
    fixture = ROOT / "tests" / "fixtures" / "credentials" / "codex.auth.json"
    codex_stack.codex_auth.write_bytes(fixture.read_bytes())
    r = ok(codex_stack.codex("login", "status"))
    assert "Logged in using ChatGPT" in r.stdout + r.stderr
    assert codex_stack.proxy.token_requests() == []


def test_codex_refuses_a_jwt_without_signature(codex_stack: Stack) -> None:
    """Why the fixtures and the token server sign their JWTs (with a fake signature): codex
    0.169.0 parses the id_token when it loads auth.json, and refuses `header.payload.`."""
    fixture = ROOT / "tests" / "fixtures" / "credentials" / "codex.auth.json"
    doc = json.loads(fixture.read_text())
    doc["tokens"]["id_token"] = doc["tokens"]["id_token"].rsplit(".", 1)[0] + "."
    codex_stack.codex_auth.write_text(json.dumps(doc, indent=2))
    r = finish(codex_stack.codex("login", "status"))
    assert r.returncode == 1
    assert "failed to deserialize CLI auth" in r.stdout + r.stderr


# -- each CLI alone, through the proxy: the request it sends ------------------------------------


# What each CLI's refresh looks like on the wire, as measured: (method, host, path), headers
# (a value ending in "*" is a prefix), the body's fields in the order sent.
CLAUDE_WIRE = (
    ("POST", "platform.claude.com", "/v1/oauth/token"),
    {
        "Accept": "application/json, text/plain, */*",
        "Content-Type": "application/json",
        "User-Agent": "axios/1.15.2",
    },
    ["grant_type", "refresh_token", "client_id", "scope"],
)
CODEX_WIRE = (
    ("POST", "auth.openai.com", "/oauth/token"),
    {
        "content-type": "application/json",
        "originator": "codex_exec",
        "user-agent": "codex_exec/{version} *",
    },
    ["client_id", "grant_type", "refresh_reason", "refresh_token"],
)


def _assert_wire(sent: Any, wire: tuple[Any, ...], version: str) -> None:
    where, headers, fields = wire
    assert (sent.method, sent.host, sent.route) == where
    for header, value in headers.items():
        value = value.replace("{version}", version)
        got = sent.header(header) or ""
        assert got.startswith(value[:-1]) if value.endswith("*") else got == value, header
    assert sent.fields is not None
    assert list(sent.fields) == fields
    assert sent.fields["refresh_token"] == "old-refresh"


@pytest.mark.parametrize("version", CLAUDE_RUN)
def test_claude_refreshes_through_the_proxy(stack: Stack, version: str) -> None:
    stack.write_claude(60)
    r = ok(stack.claude(version, "-p", "hi"))
    assert r.stdout.strip() == "ok"  # the proxy's canned model answer
    [sent] = stack.proxy.token_requests()
    _assert_wire(sent, CLAUDE_WIRE, version)
    assert "user:inference" in sent.fields["scope"].split()
    stack.assert_claude_holds_newest(version)


def test_codex_refreshes_through_the_proxy(codex_stack: Stack) -> None:
    s = codex_stack
    s.write_codex(-60)
    r = ok(s.codex("exec", "--skip-git-repo-check", "hi"))
    assert r.stdout.strip() == "ok"
    [sent] = s.proxy.token_requests()
    _assert_wire(sent, CODEX_WIRE, s.codex_version)
    assert sent.fields["refresh_reason"] == "proactive_expiry"
    s.assert_codex_holds_newest()


@pytest.mark.parametrize("version", CLAUDE_RUN)
def test_claude_and_wrap_keep_the_newer_top_level_keys(stack: Stack, version: str) -> None:
    """2.1.337's other chain (chatHistoryOauth) and device state beside the login: claude's
    own refresh keeps them, wrap's after it keeps them byte for byte, and neither sends the
    other chain's refresh token."""
    stack.write_claude(60)
    doc = {**stack.home.read(), **CLAUDE_2_1_337_KEYS}
    stack.home.creds.write_text(json.dumps(doc, separators=(",", ":")))
    ok(stack.claude(version, "-p", "hi"))
    assert {k: stack.home.read()[k] for k in CLAUDE_2_1_337_KEYS} == CLAUDE_2_1_337_KEYS
    stack.age_claude()
    ok(stack.wrap_claude(version, "-p", "hi"))
    written = stack.home.creds.read_text()
    for key, value in CLAUDE_2_1_337_KEYS.items():
        assert f'"{key}":{json.dumps(value, separators=(",", ":"))}' in written
    assert "chat-refresh" not in stack.server.received
    assert len(stack.server.received) == 2
    stack.assert_claude_holds_newest(version)


# -- a. claude refreshing while wrap-claude starts ----------------------------------------------


@pytest.mark.parametrize("version", CLAUDE_RUN)
def test_wrap_starting_while_claude_refreshes(stack: Stack, version: str) -> None:
    stack.write_claude(60)
    hold = stack.server.on_request = Hold()
    claude = stack.claude(version, "-p", "hi")
    assert hold.arrived.wait(30), finish(claude)
    assert (stack.home.claude_dir / ".oauth_refresh.lock").is_dir()  # claude holds its lock
    # 2.1.330 and later describe the holder in an owner record (2.1.337: with parentPid);
    # the lock directory alone decides, and wrap leaves the record as claude wrote it.
    owner = stack.home.claude_dir / ".oauth_refresh.lock.owner"
    record = owner.read_bytes() if owner.exists() else None
    wrap = stack.wrap_claude(version, "-p", "hi")
    wait_until_waiting(wrap, stack.server, sent_before=1)
    assert len(stack.server.requests) == 1  # wrap waits: nothing sent
    assert (owner.read_bytes() if owner.exists() else None) == record
    hold.release()
    ok(claude)
    assert ok(wrap).stdout.strip() == "ok"
    assert stack.server.received == ["old-refresh"]  # claude's refresh only
    assert stack.sent_by_clis() == 1
    stack.assert_claude_holds_newest(version)


# -- b. wrap refreshing while claude starts -----------------------------------------------------


@pytest.mark.parametrize("version", CLAUDE_RUN)
def test_claude_starting_while_wrap_refreshes(stack: Stack, version: str) -> None:
    stack.write_claude(60)
    hold = stack.server.on_request = Hold()
    wrap = stack.wrap_claude(version, "-p", "hi")
    assert hold.arrived.wait(30), finish(wrap)
    claude = stack.claude(version, "-p", "hi")
    # Claude gives no sign that it waits for its lock (it tries at once, then every 1-2 s,
    # five times, sending nothing): give it time to run into the lock wrap holds. Should it
    # start late, it finds a fresh token and the case still holds, with less overlap.
    time.sleep(2)
    assert len(stack.server.requests) == 1  # claude waits: nothing sent
    hold.release()
    assert ok(wrap).stdout.strip() == "ok"
    assert ok(claude).stdout.strip() == "ok"
    assert stack.server.received == ["old-refresh"]  # wrap's refresh only
    assert stack.sent_by_clis() == 0
    stack.assert_claude_holds_newest(version)


# -- c. alternating refreshes over several rotations --------------------------------------------


def test_wrap_and_both_claudes_take_turns(stack: Stack) -> None:
    stack.write_claude(60)
    turns = [
        ("wrap", CLAUDE_RUN[0]),
        ("claude", CLAUDE_RUN[0]),
        ("wrap", CLAUDE_RUN[-1]),
        ("claude", CLAUDE_RUN[-1]),
        ("claude", CLAUDE_RUN[0]),
        ("wrap", CLAUDE_RUN[0]),
    ]
    for n, (who, version) in enumerate(turns, 1):
        before = stack.claude_refresh_token()
        if who == "wrap":
            # The gate refreshes, then execs claude, which finds a fresh token.
            r = ok(stack.wrap_claude(version, "-p", "hi"))
        else:
            r = ok(stack.claude(version, "-p", "hi"))
        assert r.stdout.strip() == "ok"
        assert stack.server.received[-1] == before, f"turn {n} ({who} {version})"
        assert len(stack.server.received) == n
        assert stack.sent_by_clis() == [t[0] for t in turns[:n]].count("claude")
        stack.assert_claude_holds_newest(version, ask=n == len(turns))
        stack.age_claude()


# -- d. the same three with codex ---------------------------------------------------------------


def test_wrap_and_codex_take_turns(codex_stack: Stack) -> None:
    s = codex_stack
    s.write_codex(-60)
    turns = ["wrap", "codex", "wrap", "codex", "codex", "wrap"]
    for n, who in enumerate(turns, 1):
        before = s.codex_refresh_token()
        if who == "wrap":
            r = ok(s.wrap("codex", "exec", "--skip-git-repo-check", "hi"))
        else:
            r = ok(s.codex("exec", "--skip-git-repo-check", "hi"))
        assert r.stdout.strip() == "ok"
        assert s.server.received[-1] == before, f"turn {n} ({who})"
        assert len(s.server.received) == n
        assert s.sent_by_clis() == turns[:n].count("codex")
        s.assert_codex_holds_newest(ask=n == len(turns))
        s.age_codex()


def test_codex_starting_while_wrap_refreshes_ahead_of_expiry(codex_stack: Stack) -> None:
    """What wrap is for: it refreshes within its threshold, before codex's token expires, so a
    codex starting meanwhile has nothing to refresh and keeps working."""
    s = codex_stack
    s.write_codex(420)  # 7 minutes left: due for wrap (10m), not yet for codex (5m)
    hold = s.server.on_request = Hold()
    wrap = s.wrap("codex", "exec", "--skip-git-repo-check", "hi")
    assert hold.arrived.wait(30), finish(wrap)
    assert ok(s.codex("exec", "--skip-git-repo-check", "hi")).stdout.strip() == "ok"
    hold.release()
    assert ok(wrap).stdout.strip() == "ok"
    assert s.server.received == ["old-refresh"]
    assert s.sent_by_clis() == 0
    s.assert_codex_holds_newest()


@pytest.mark.parametrize("meanwhile", [False, True])
def test_codex_takes_its_lock_only_to_write_the_answer(codex_stack: Stack, meanwhile: bool) -> None:
    """codex 0.169.0 sends its refresh first, then writes the answer under flock(auth.lock),
    and only if auth.json still holds the tokens it refreshed from: a file another refresher
    changed MEANWHILE is kept, and codex's own answer dropped."""
    s = codex_stack
    s.write_codex(-60)
    fd = os.open(s.codex_home / "auth.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        codex = s.codex("exec", "--skip-git-repo-check", "hi")
        wait_for(
            lambda: FLOCK in syscalls(codex.pid) or codex.poll() is not None,
            "codex to wait for auth.lock",
        )
        assert codex.poll() is None
        assert s.server.received == ["old-refresh"]  # sent while we held its lock
        assert s.codex_refresh_token() == "old-refresh"  # the answer is not written yet
        if meanwhile:
            s.write_codex(3600, refresh="someone-elses-refresh")
    finally:
        os.close(fd)  # releases the flock
    assert ok(codex).stdout.strip() == "ok"
    if meanwhile:
        assert s.codex_refresh_token() == "someone-elses-refresh"
    else:
        s.assert_codex_holds_newest()


@pytest.mark.xfail(strict=True, reason=CODEX_RACE)
@pytest.mark.parametrize("first", ["wrap", "codex"])
def test_wrap_and_codex_both_refreshing_an_expired_token(codex_stack: Stack, first: str) -> None:
    s = codex_stack
    s.write_codex(-60)
    hold = s.server.on_request = Hold()
    start = {
        "wrap": lambda: s.wrap("codex", "exec", "--skip-git-repo-check", "hi"),
        "codex": lambda: s.codex("exec", "--skip-git-repo-check", "hi"),
    }
    one = start[first]()
    assert hold.arrived.wait(30), finish(one)
    other = start["codex" if first == "wrap" else "wrap"]()
    wait_for(lambda: len(s.server.requests) > 1 or other.poll() is not None, "the other to send")
    hold.release()
    finish(one)
    finish(other)
    s.assert_codex_holds_newest()


# -- e. Claude's lock, taken with proper-lockfile as Claude does --------------------------------


def _holder(stack: Stack, which: str) -> subprocess.Popen[str]:
    argv = ["node", str(stack.lock_holder), str(stack.home.claude_dir), which]
    return stack.start(argv, stack.home.env(), stdin=subprocess.PIPE)


def _busy(stack: Stack, which: str) -> bool:
    """Whether the Node holder finds the lock(s) taken by someone else."""
    r = finish(_holder(stack, which))
    assert r.returncode in (0, 3), r.stdout + r.stderr
    return r.returncode == 3 and "busy" in json.loads(r.stdout)


def _refresh_as_claude(stack: Stack) -> None:
    """What claude does under its lock: send the file's refresh token, write the answer back."""
    import httpx

    doc = stack.home.read()
    oauth = doc["claudeAiOauth"]
    answer = httpx.post(
        stack.server.url,
        json={
            "grant_type": "refresh_token",
            "refresh_token": oauth["refreshToken"],
            "client_id": "9d1c250a-e61b-44d9-88ed-5944d1962f5e",
            "scope": CLAUDE_SCOPE,
        },
    ).json()
    oauth["accessToken"] = answer["access_token"]
    oauth["refreshToken"] = answer["refresh_token"]
    oauth["expiresAt"] = int((time.time() + answer["expires_in"]) * 1000)
    stack.home.creds.write_text(json.dumps(doc, separators=(",", ":")))


@pytest.mark.parametrize("which", ["refresh", "legacy"])
def test_claude_lock_held_in_node_excludes_wrap(stack: Stack, which: str) -> None:
    stack.write_claude(60)
    holder = _holder(stack, which)
    got = next(lines_of(holder))
    assert "locked" in got, got
    wrap = stack.wrap_claude(CLAUDE_RUN[0], "auth", "status", "--json")
    wait_until_waiting(wrap, stack.server, sent_before=0)
    assert stack.server.requests == []  # wrap sends nothing while claude's lock is held
    _refresh_as_claude(stack)
    assert holder.stdin is not None
    holder.stdin.write("release\n")
    holder.stdin.flush()
    assert next(lines_of(holder)) == {"released": True}
    assert finish(holder).returncode == 0
    r = ok(wrap)
    assert json.loads(r.stdout)["loggedIn"] is True
    assert stack.server.received == ["old-refresh"]  # the holder's refresh only
    assert stack.sent_by_clis() == 0
    stack.assert_claude_holds_newest(CLAUDE_RUN[0])


def test_claude_write_lock_held_in_node_delays_wraps_write(stack: Stack) -> None:
    """Claude takes <dir>/.storage-write.lock for every write of the file: wrap, once it has
    its answer, waits for it before replacing the file."""
    stack.write_claude(60)
    holder = _holder(stack, "write")
    assert "locked" in next(lines_of(holder))
    wrap = stack.wrap_claude(CLAUDE_RUN[0], "auth", "status", "--json")
    wait_for(lambda: len(stack.server.received) == 1 or wrap.poll() is not None, "wrap's refresh")
    wait_until_waiting(wrap, stack.server, sent_before=1)
    assert wrap.poll() is None
    assert stack.claude_refresh_token() == "old-refresh"  # not written under claude's lock
    assert holder.stdin is not None
    holder.stdin.write("release\n")
    holder.stdin.flush()
    assert finish(holder).returncode == 0
    assert json.loads(ok(wrap).stdout)["loggedIn"] is True
    stack.assert_claude_holds_newest(CLAUDE_RUN[0])


@pytest.mark.parametrize("which", ["refresh", "legacy"])
def test_wrap_refreshing_excludes_a_node_lock_holder(stack: Stack, which: str) -> None:
    stack.write_claude(60)
    hold = stack.server.on_request = Hold()
    wrap = stack.wrap_claude(CLAUDE_RUN[0], "auth", "status", "--json")
    assert hold.arrived.wait(30), finish(wrap)
    lock = (
        stack.home.claude_dir / ".oauth_refresh.lock"
        if which == "refresh"
        else Path(os.path.realpath(stack.home.claude_dir) + ".lock")
    )
    born = lock.stat().st_mtime_ns
    assert _busy(stack, which)
    # A live holder touches its lock (Claude takes one untouched for 10 s as stale): once wrap
    # has touched it, it is still wrap's.
    wait_for(lambda: lock.stat().st_mtime_ns != born, f"wrap to touch {lock.name}")
    assert _busy(stack, which)
    hold.release()
    assert json.loads(ok(wrap).stdout)["loggedIn"] is True
    assert stack.server.received == ["old-refresh"]
    assert stack.sent_by_clis() == 0
    free = _holder(stack, "both")
    assert "locked" in next(lines_of(free))
    assert finish(free).returncode == 0  # released when its stdin closes
    stack.assert_claude_holds_newest(CLAUDE_RUN[0])


def test_environment_is_hermetic(stack: Stack) -> None:
    """The CLIs run with a made-up HOME and nothing from the developer's environment."""
    env = stack.env()
    assert env["HOME"] == str(stack.home.root)
    assert env["CODEX_HOME"].startswith(str(stack.home.root))
    for leaked in ("CLAUDE_CONFIG_DIR", "CLAUDE_CODE_OAUTH_TOKEN", "ANTHROPIC_API_KEY"):
        assert leaked not in env
    assert os.path.realpath(env["NODE_EXTRA_CA_CERTS"]) == os.path.realpath(stack.proxy.ca_path)
