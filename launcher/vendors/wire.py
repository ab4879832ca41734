"""How wrap's refresh request may differ from the vendor CLI's own, and why.

tests/test_conformance.py compares the two as recorded by a TLS-intercepting proxy, header by
header and field by field; a difference not listed here fails it. Versions checked: Claude Code
2.1.197, 2.1.330 and 2.1.337, codex 0.169.0 and 0.171.0, gemini-cli 0.61.0.
"""

from __future__ import annotations

# The values of the tokens themselves differ by nature.
TOKEN_FIELDS = frozenset({"refresh_token", "refreshToken"})
# Headers whose values depend on the body or the connection, not on who sends it.
ANY_VALUE = frozenset({"content-length", "host"})

_HTTPX = {
    # httpx asks for gzip and deflate, axios also for compress and br; the answer is small JSON
    # and the endpoint answers either.
    "accept-encoding",
    # axios sends "close" or "keep-alive" depending on its agent; a one-request client is free
    # to keep or close the connection.
    "connection",
}

ALLOWED_DIFFERENCES: dict[str, frozenset[str]] = {
    "claude 2.1.197": frozenset(
        {
            *_HTTPX,
            # wrap sends the newest checked version's list, which adds user:plugins.
            "body.scope",
        }
    ),
    "claude 2.1.330": frozenset(_HTTPX),
    "claude 2.1.337": frozenset(_HTTPX),
    "codex 0.169.0": frozenset(_HTTPX),
    "codex 0.171.0": frozenset(_HTTPX),
    "gemini 0.61.0": frozenset(
        {
            *_HTTPX,
            # gemini names the Node.js version that runs it (gl-node/20.20.2 here); wrap cannot
            # know it without starting Node, and Google's endpoint does not ask for it.
            "x-goog-api-client",
        }
    ),
}


def allowed(cli: str, version: str) -> frozenset[str]:
    """The differences allowed against VERSION of CLI; a version not checked yet (what
    scripts/check-vendors tries) is held to the newest checked one's."""
    key = f"{cli} {version}"
    if key in ALLOWED_DIFFERENCES:
        return ALLOWED_DIFFERENCES[key]
    from launcher.vendors import installed

    checked = [k for k in ALLOWED_DIFFERENCES if k.startswith(f"{cli} ")]
    newest = max(checked, key=lambda k: installed.version_key(k.split(" ", 1)[1]))
    return ALLOWED_DIFFERENCES[newest]
