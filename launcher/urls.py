"""Which token URLs wrap may send a refresh token to: https, or http to a loopback host.

Standard library only, so that a launch can refuse a bad URL before it waits on any lock or
imports the HTTP client (launcher/refresh/grant.py checks again, with httpx's parser, before
sending).
"""

from __future__ import annotations

from urllib.parse import urlsplit

from launcher.errors import UsageError
from launcher.redact import text as clean


def is_loopback(host: str) -> bool:
    import ipaddress

    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_url(url: str) -> None:
    """Refuse a token URL that would send a refresh token in the clear (loopback excepted),
    or that is not a URL at all."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        parts.port  # noqa: B018 - raises on a port out of range
    except ValueError as e:
        raise UsageError(
            f"invalid token URL {clean(url)!r}: {e}; check --token-url / WRAP_TOKEN_URL"
        ) from None
    if parts.scheme == "https" and host:
        return
    if parts.scheme == "http" and is_loopback(host):
        return
    raise UsageError(
        f"refusing token URL {clean(url)!r}: it must be https:// (http:// only for a loopback "
        "host); check --token-url / WRAP_TOKEN_URL"
    )
