"""Values from a credentials file that wrap puts into a token URL or a file name.

The file is outside input: Kiro's `region` becomes part of the token URL's host, its
`clientIdHash` a file name beside it. Unchecked, `"region": "@attacker.example/"` sends the
refresh token elsewhere and `"clientIdHash": "../x"` reads another file's client secret.
"""

from __future__ import annotations

import re

from launcher.errors import RefreshError

_PATTERNS = {
    # AWS region names: us-east-1, eu-central-1, ap-southeast-2, us-gov-west-1.
    "region": re.compile(r"[a-z]{2}(?:-[a-z]+)+-\d"),
    # A hex digest in practice; never a path separator or a dot.
    "clientIdHash": re.compile(r"[A-Za-z0-9_-]+"),
}
# Any other placeholder a custom profile uses: one plain name, no separator, not `.` or `..`.
_PLAIN = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9._-]*")


def template_value(field: str, value: str, path: str, what: str) -> None:
    """Raise RefreshError (nothing sent) unless VALUE is safe to put into WHAT as FIELD."""
    if _PATTERNS.get(field, _PLAIN).fullmatch(value):
        return
    shown = value if len(value) <= 40 else value[:37] + "..."
    raise RefreshError(
        f"{path} has an invalid {field} {shown!r} for the {what}; nothing was sent: "
        "repair the file or log in again",
        sent=False,
    )
