"""SHA-256 for the launch and check paths, without loading OpenSSL: launcher/gate.py's (CPython's
own module when there is one, hashlib otherwise); tests/test_digest.py checks both paths."""

from __future__ import annotations

from launcher.gate import sha256_hex

__all__ = ["sha256_hex"]
