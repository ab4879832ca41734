"""The launch path's SHA-256: CPython's own module when there is one, hashlib otherwise; the
same digests either way (state file names depend on them)."""

from __future__ import annotations

import hashlib
import subprocess
import sys

import pytest

from launcher import digest

SAMPLES = [b"", b"/home/a/.claude/.credentials.json", "é\udcff".encode("utf-8", "surrogateescape")]


@pytest.mark.parametrize("data", SAMPLES)
def test_the_digest_is_sha256(data: bytes) -> None:
    assert digest.sha256_hex(data) == hashlib.sha256(data).hexdigest()


def _run(code: str) -> str:
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.strip()


def test_without_cpythons_own_module_hashlib_gives_the_same_digest() -> None:
    out = _run(
        "import sys\n"
        "sys.modules['_sha2'] = sys.modules['_sha256'] = None\n"
        "from launcher import digest\n"
        "d = digest.sha256_hex(b'x')\n"
        "print('hashlib' in sys.modules, d)"
    )
    assert out == f"True {hashlib.sha256(b'x').hexdigest()}"


def test_with_cpythons_own_module_openssl_is_not_loaded() -> None:
    available = _run(
        "import importlib.util as u; print(any(u.find_spec(m) for m in ('_sha2', '_sha256')))"
    )
    if available != "True":
        pytest.skip("this Python has no built-in SHA-256 module: hashlib is the path taken")
    out = _run(
        "import sys\nfrom launcher import digest\ndigest.sha256_hex(b'x')\n"
        "print('_hashlib' in sys.modules)"
    )
    assert out == "False"
