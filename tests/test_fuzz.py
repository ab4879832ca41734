"""Fuzz: random and mutated credential files and server answers, fed to the gate.

Whatever the file and the server do, the gate must: raise nothing and print no traceback (at
most one line), launch (no --strict here), leave the file byte for byte as it was or make it a
valid refreshed file, and never send a refresh token again after an answer that may have
rotated it. Each case runs twice on the same file, so "again" covers the next launch too.

Most cases run in-process (gate.gate, for speed) against a real server on 127.0.0.1; a handful
go through the wrap-claude console script. The seed is printed on failure: WRAP_FUZZ_SEED=N
(read before the hermetic fixture clears WRAP_*) replays a run.
"""

from __future__ import annotations

import gzip
import io
import json
import os
import random
import socket
import threading
from collections import Counter
from pathlib import Path
from typing import Any

import hostile_server as hs
import pytest
from conftest import FIXTURES, Home

from launcher import config, credentials, gate, profiles
from launcher.errors import CredentialsError
from launcher.log import Log
from launcher.refresh.route import renew

SEED = int(os.environ.get("WRAP_FUZZ_SEED") or random.randrange(1 << 30))
CASES = 150
T0 = 1_900_000_000.0
FILES = {
    "claude": "claude.credentials.json",
    "gemini": "gemini.oauth_creds.json",
    "qwen": "qwen.oauth_creds.json",
    "iflow": "iflow.oauth_creds.json",
    "kiro": "kiro-auth-token.social.json",
}
# What the protocol says of the refresh token sent, by answer (RFC 6749 6, the contract's step 4):
# a 200 that carries a new refresh token rotated it (wrap must keep the new one); a 200 without
# one leaves the old one valid; an OAuth error (4xx) refused the request; 408, 429 and 503 say
# nothing was processed; a 500, 502 or 504, or a connection dropped after sending, may follow
# a rotation that never reached wrap. "Spent" is what must never be sent again.
MAY_FOLLOW_A_ROTATION = {500, 502, 504}


class FuzzServer:
    """Answers each request with the next random answer; records which refresh tokens were
    sent, and which of them an answer may have spent."""

    def __init__(self, rng: random.Random, names: dict[str, str] | None = None) -> None:
        self.rng = rng
        # The answer's field names, as the profile reads them (Kiro's are camelCase).
        self.names = names or dict(profiles.STANDARD_RESPONSE)
        self.lock = threading.Lock()
        self.sent: list[str] = []
        self.spent: set[str] = set()
        self.replays: list[str] = []
        # (token sent, the answer's first line): what a failure message shows.
        self.log: list[tuple[str, str]] = []
        self.issued_access: set[str] = set()
        self.issued_refresh: set[str] = set()
        self.n = 0
        self.server = hs.HostileServer(self._script)

    def _script(self, conn: socket.socket, request: hs.Request) -> None:
        token = request.fields.get("refresh_token") or request.fields.get("refreshToken")
        with self.lock:
            self.n += 1
            n = self.n
            if isinstance(token, str):
                if token in self.spent:
                    self.replays.append(token)
                self.sent.append(token)
            data, may_rotate = _random_answer(self.rng, n, self)
            first = data.split(b"\r\n", 1)[0].decode("latin-1") if data else "(hung up)"
            self.log.append((str(token), first + (" [may rotate]" if may_rotate else "")))
            if may_rotate and isinstance(token, str):
                self.spent.add(token)
        if data is None:
            return  # hang up without a word
        conn.sendall(data)


def _random_answer(rng: random.Random, n: int, fs: FuzzServer) -> tuple[bytes | None, bool]:
    kind = rng.choices(
        ["ok", "status", "garbage", "gzip", "lie", "close"], weights=[8, 6, 3, 1, 1, 1]
    )[0]
    if kind in ("ok", "gzip"):
        access, refresh = f"fz-access-{n}", f"fz-refresh-{n}"
        names = fs.names
        body: dict[str, Any] = {"token_type": "Bearer"}
        body[names["access_token"]] = rng.choice([access] * 6 + [None, 5, "", ["x"], {"a": 1}])
        new: Any = None
        if rng.random() < 0.8:
            new = rng.choice([refresh] * 6 + [None, 7, "", {"b": 2}])
            body[names["refresh_token"]] = new
        body[names["expires_in"]] = rng.choice(
            [3600, 28800, 1, 0, -5, 1e300, "3600", "soon", None, True, 10**30]
        )
        if isinstance(body[names["access_token"]], str):
            fs.issued_access.add(body[names["access_token"]])
        rotated = isinstance(new, str) and bool(new)
        if rotated:
            fs.issued_refresh.add(new)
        raw = json.dumps(body).encode()
        if rng.random() < 0.1:
            raw = raw.replace(b"1e+300", b"Infinity")
        if kind == "gzip":
            return hs.response(200, gzip.compress(raw), {"Content-Encoding": "gzip"}), rotated
        return hs.response(200, raw), rotated
    if kind == "status":
        status = rng.choice([400, 401, 403, 404, 408, 429, 500, 502, 503, 504])
        body_choice = rng.choice(
            [
                {"error": "invalid_grant", "error_description": "revoked \x1b[2J"},
                {"error": "invalid_request"},
                {"error": {"code": "x"}},
                b"<html>nope</html>",
                b"",
            ]
        )
        headers = {}
        if rng.random() < 0.5:
            headers["Retry-After"] = rng.choice(["0", "1e308", "nan", "-1", "soon", "0.01"])
        return hs.response(status, body_choice, headers), status in MAY_FOLLOW_A_ROTATION
    if kind == "garbage":
        raw = rng.choice(
            [
                bytes(rng.randrange(256) for _ in range(rng.randrange(64))),
                b"[" * 50_000,
                b'{"access_token": "fz-',
                b"null",
                b'"\\ud83d"',
            ]
        )
        return hs.response(200, raw), False  # no new token in it: the old one stays valid
    if kind == "lie":
        # A Content-Length it does not keep, then the connection closes.
        return hs.response(200, b'{"access_token"', {"Content-Length": "500"}), True
    return None, True


def _case(rng: random.Random, i: int) -> tuple[str, bytes]:
    """(profile name, the bytes of a credentials file in its shape, random and mutated)."""
    name = rng.choices(list(FILES), weights=[6, 1, 1, 1, 1])[0]
    profile = profiles.BUILTIN[name]
    doc = json.loads((FIXTURES / FILES[name]).read_text())
    profile = profile.for_doc(doc)
    rt, at = f"fz-rt-{i}", f"fz-at-{i}"
    expires = T0 + rng.choice([3600, -60, 30 * 86400, 10])
    doc = credentials.updated(profile, doc, access_token=at, refresh_token=rt, expires_at=expires)
    for _ in range(rng.choice([0, 0, 1, 2, 3])):
        _mutate_json(rng, doc)
    text = json.dumps(doc, indent=rng.choice([None, 2, 4]), ensure_ascii=rng.random() < 0.5)
    # surrogatepass: a lone surrogate as raw (invalid) UTF-8 bytes, another hostile form.
    data = (text + "\n").encode("utf-8", "surrogatepass")
    roll = rng.random()
    if roll < 0.05:
        data = b"\xef\xbb\xbf" + data
    elif roll < 0.1:
        data = data.replace(b"\n", b"\r\n")
    elif roll < 0.2:
        data = _mutate_bytes(rng, data)
    elif roll < 0.22:
        data = rng.choice([b"", b"[" * 100_000, b"{}", b"null"])
    return name, data


HOSTILE_VALUES: list[Any] = [
    None,
    "",
    0,
    -1,
    1e308,
    10**40,
    True,
    [],
    {},
    "\ud83d",
    "x" * 50_000,
    [[[[[[[[[[[]]]]]]]]]]],
    "2026-13-45T99:99:99Z",
    {"nested": {"deeper": "\x1b[31m"}},
]


def _mutate_json(rng: random.Random, doc: Any) -> None:
    node = doc
    for _ in range(rng.randrange(1, 4)):
        if isinstance(node, dict) and node:
            key = rng.choice(list(node))
            if rng.random() < 0.5 or not isinstance(node[key], dict | list):
                action = rng.random()
                if action < 0.7:
                    node[key] = rng.choice(HOSTILE_VALUES)
                elif action < 0.85:
                    del node[key]
                else:
                    node[f"extra-{rng.randrange(99)}"] = rng.choice(HOSTILE_VALUES)
                return
            node = node[key]
        elif isinstance(node, list) and node:
            node = node[rng.randrange(len(node))]
        else:
            return


def _mutate_bytes(rng: random.Random, data: bytes) -> bytes:
    b = bytearray(data)
    for _ in range(rng.randrange(1, 4)):
        op = rng.random()
        at = rng.randrange(len(b) + 1)
        if op < 0.4 and b:
            b[min(at, len(b) - 1)] = rng.randrange(256)
        elif op < 0.7:
            b[at:at] = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 8)))
        else:
            del b[at:]
    return bytes(b)


def _tokens_in(name: str, data: bytes, path: Path) -> tuple[set[str], set[str]]:
    """The access and refresh tokens DATA holds, if wrap can read it."""
    try:
        _, creds = credentials.parse(profiles.BUILTIN[name], data, str(path))
    except CredentialsError:
        return set(), set()
    return {creds.access_token}, {creds.refresh_token} if creds.refresh_token else set()


def _check_file(
    fs: FuzzServer, name: str, path: Path, before: bytes, known: tuple[set[str], set[str]]
) -> None:
    after = path.read_bytes()
    if after == before:
        return
    profile = profiles.BUILTIN[name]
    try:
        _, creds = credentials.parse(profile, after, str(path))
    except CredentialsError as e:
        pytest.fail(f"seed {SEED}: the file was changed into one wrap cannot read: {e}")
    accesses, refreshes = known
    assert creds.access_token in fs.issued_access | accesses, f"seed {SEED}"
    assert creds.refresh_token in fs.issued_refresh | refreshes, f"seed {SEED}"


def _gate_once(home: Home, name: str, path: Path, url: str) -> tuple[int | None, str]:
    err = io.StringIO()
    env = home.env()
    settings = config.resolve(
        {"profile": name, "credentials": str(path), "token_url": url, "refresh_timeout": "3s"},
        env,
    )

    def quick_renew(*args: Any, **kwargs: Any) -> credentials.Credentials:
        return renew(*args, sleep=lambda s: None, **kwargs)

    code = gate.gate(
        settings, env=env, now=lambda: T0, log=Log(stream=err), program=name, renew=quick_renew
    )
    return code, err.getvalue()


def test_fuzzed_files_and_answers_through_the_gate(home: Home) -> None:
    rng = random.Random(SEED)
    seen: Counter[str] = Counter()
    for i in range(CASES):
        name, data = _case(rng, i)
        fs = FuzzServer(rng, profiles.BUILTIN[name].response)
        with fs.server:
            path = home.root / f"case-{i}" / FILES[name]
            path.parent.mkdir(mode=0o700)
            path.write_bytes(data)
            path.chmod(0o600)
            for launch in range(2):
                before = path.read_bytes()
                known = _tokens_in(name, before, path)
                code, err = _gate_once(home, name, path, fs.server.url)
                fs.log.append(("wrap said", err.strip()))
                where = f"seed {SEED}, case {i} ({name}), launch {launch + 1}"
                assert code is None, f"{where}: not launched: {err}"
                assert "Traceback" not in err, where
                assert len(err.splitlines()) <= 1, f"{where}: {err}"
                assert "unexpected error" not in err, f"{where}: {err}"
                _check_file(fs, name, path, before, known)
                seen["refreshed" if path.read_bytes() != before else "unchanged"] += 1
            assert fs.replays == [], f"seed {SEED}, case {i}: sent again after {fs.log}"
            seen["requests"] += fs.n
            seen["spent"] += len(fs.spent)
    # Not vacuous: files were rewritten, and tokens were spent that a replay would have hit.
    assert seen["refreshed"] >= 10, (SEED, seen)
    assert seen["spent"] >= 10, (SEED, seen)
    assert seen["unchanged"] >= 10, (SEED, seen)
    crashes = home.root / "state" / "wrap" / "crashes"
    assert not crashes.exists(), f"seed {SEED}: crash reports {os.listdir(crashes)}"
    print(f"fuzz seed {SEED}: {dict(seen)}")


def test_fuzzed_cases_through_the_console_script(home: Home) -> None:
    rng = random.Random(SEED + 1)
    for i in range(6):
        fs = FuzzServer(rng)
        with fs.server:
            _, data = _case(rng, i)
            home.creds.write_bytes(data)
            before = data
            r = home.wrap_claude(
                "--fuzz",
                env=home.env(
                    WRAP_TOKEN_URL=fs.server.url,
                    WRAP_REFRESH_TIMEOUT="3s",
                    FAKE_CREDENTIALS=os.devnull,
                ),
                timeout=60,
            )
            where = f"seed {SEED + 1}, case {i}"
            assert r.returncode == 0, f"{where}: {r.stderr}"
            assert "Traceback" not in r.stderr, where
            assert len(r.stderr.splitlines()) <= 1, f"{where}: {r.stderr}"
            assert r.stdout == "fake claude ran\n", where
            _check_file(fs, "claude", home.creds, before, _tokens_in("claude", before, home.creds))
            assert fs.replays == [], f"{where}: sent again after {fs.log}"
    assert len(home.reports()) == 6
    assert [rep["argv"] for rep in home.reports()] == [["--fuzz"]] * 6
