"""SHA-256 for the launch and check paths, without loading OpenSSL.

`hashlib` imports `_hashlib`, which maps libcrypto: about 2 ms and 4 MiB on every
`wrap --check-only` and every launch that looks at its state, to hash a file name. CPython also
builds its own SHA-256 (`_sha256` up to 3.11, `_sha2` from 3.12); those are private modules, so
hashlib, which gives the same digest, is the fallback when neither is there (a build without
them, another interpreter). tests/test_digest.py checks both paths against hashlib.
"""

from __future__ import annotations

import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any


def _builtin() -> Callable[[bytes], Any] | None:
    # This Python's name first: a failed import searches every folder of sys.path.
    names = ("_sha2", "_sha256") if sys.version_info >= (3, 12) else ("_sha256", "_sha2")
    for name in names:
        try:
            module = __import__(name)
        except ImportError:
            continue
        constructor = getattr(module, "sha256", None)
        if constructor is not None:
            return constructor  # type: ignore[no-any-return]
    return None


def _hashlib() -> Callable[[bytes], Any]:
    import hashlib

    return hashlib.sha256


_sha256 = _builtin() or _hashlib()


def sha256_hex(data: bytes) -> str:
    return str(_sha256(data).hexdigest())
