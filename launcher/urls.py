"""Which token URLs wrap may send a refresh token to: https, or http to a loopback host.

Standard library only, so that a launch can refuse a bad URL before it waits on any lock or
imports the HTTP client (launcher/refresh/grant.py checks again, with httpx's parser, before
sending).
"""

from __future__ import annotations

from launcher.errors import UsageError
from launcher.redact import text as clean


def plainly_allowed(url: str) -> bool:
    """Whether URL is, at a glance, one urlsplit reads as https with a host, or as http to a
    loopback address (127.x.x.x, localhost), with a valid port: urllib.parse (and the `re` it
    imports) cost a launch that waits on another's refresh more than the rest of its wait.
    False only means: look closer (tests/test_refresh.py checks that True agrees with
    check_url's full reading)."""
    scheme, sep, rest = url.partition("://")
    if scheme not in ("https", "http") or not sep:
        return False
    if not url.isascii() or not url.isprintable() or " " in url:
        return False
    netloc = rest
    for end in "/?#":
        netloc = netloc.split(end, 1)[0]
    host, colon, port = netloc.partition(":")
    if not host or any(ch in host for ch in "[]@%\\"):
        return False
    if colon and not (port.isdigit() and int(port) <= 65535):
        return False
    if scheme == "https":
        return True
    quad = host.split(".")
    return host.lower() == "localhost" or (
        len(quad) == 4
        and quad[0] == "127"
        and all(p.isdigit() and str(int(p)) == p and int(p) <= 255 for p in quad)
    )


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
    if plainly_allowed(url):
        return
    from urllib.parse import urlsplit

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
