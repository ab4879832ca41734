"""The Credentials value, and reading/updating it in each profile's JSON shape.

Imported on the hot path: standard library only.
"""

from __future__ import annotations

from launcher import gate
from launcher.errors import CredentialsError

TYPE_CHECKING = False  # typing itself costs ~4 ms of import on the launch path
if TYPE_CHECKING:
    from typing import Any

    from launcher.profiles import Profile

MISSING = "missing"
INVALID = "invalid"

_LATEST_EXPIRY = gate.LATEST_EXPIRY
_finite = gate.finite
decode_deadline = gate.decode_deadline
parse_iso = gate.parse_iso
jwt_claims = gate.jwt_claims
peek = gate.peek


class Credentials:
    """The three values wrap cares about; everything else in the file is left alone."""

    __slots__ = ("access_token", "expires_at", "login_expires_at", "refresh_token")

    def __init__(
        self,
        access_token: str,
        refresh_token: str | None,
        expires_at: float | None,
        login_expires_at: float | None = None,
    ) -> None:
        self.access_token = access_token
        self.refresh_token = refresh_token
        # Epoch seconds; None when the file carries no expiry (treated as fresh).
        self.expires_at = expires_at
        # When the login itself ends (no refresh extends it: Claude's refreshTokenExpiresAt);
        # epoch seconds, None when the profile or the file does not say.
        self.login_expires_at = login_expires_at

    def __repr__(self) -> str:
        # Never show token values, even in a traceback or a debugger.
        return (
            f"Credentials(access_token=<{len(self.access_token)} chars>, "
            f"refresh_token={'<set>' if self.refresh_token else None}, "
            f"expires_at={self.expires_at!r}, login_expires_at={self.login_expires_at!r})"
        )


def parse(profile: Profile, data: bytes, path: str) -> tuple[dict[str, Any], Credentials]:
    """Decode a credentials file; raise CredentialsError (missing/invalid) for anything unusable."""
    fix = profile.login_hint
    try:
        doc = gate.loads(data)
    except (ValueError, RecursionError) as e:  # RecursionError: nested past the parser's depth
        what = "is empty" if not data.strip() else "is not valid JSON"
        raise CredentialsError(
            f"{path} {what}; it was left as it is: repair it or {fix}", INVALID
        ) from e
    if not isinstance(doc, dict):
        raise CredentialsError(
            f"{path} holds JSON that is not an object; it was left as it is: {fix}", INVALID
        )
    profile = profile.for_doc(doc)
    access = get_field(doc, profile.access_field, path, fix)
    if access is None or access == "":
        raise CredentialsError(
            f"{path} has no access token ({profile.access_field}): {fix}", MISSING
        )
    if not isinstance(access, str):
        raise _wrong_type(path, profile.access_field, "a string", fix)
    refresh = get_field(doc, profile.refresh_field, path, fix)
    if refresh is not None and not isinstance(refresh, str):
        raise _wrong_type(path, profile.refresh_field, "a string", fix)
    raw_expiry = get_field(doc, profile.expiry_field, path, fix)
    expires_at = _decode_expiry(raw_expiry, profile, path, fix)
    login_ends = None
    if profile.login_expiry_field:
        login_ends = decode_deadline(
            peek(doc, profile.login_expiry_field), profile.login_expiry_unit
        )
    return doc, Credentials(access, refresh or None, expires_at, login_ends)


def number(value: object) -> float | None:
    """A finite JSON number as a float; None for anything else (true and false are not numbers,
    nor the Infinity and NaN a hostile store may answer)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if _finite(value) else None


def deadline_changes(profile: Profile, body: dict[str, Any], at: float) -> dict[str, object]:
    """The file change for a token answer that says when the login ends (a login, or a refresh
    that starts a new one): Claude's refresh_token_expires_in becomes refreshTokenExpiresAt."""
    field = profile.login_expiry_field
    seconds = body.get("refresh_token_expires_in")
    if not field or isinstance(seconds, bool) or not isinstance(seconds, int | float):
        return {}
    if not _finite(seconds) or not 0 < seconds <= _LATEST_EXPIRY:
        return {}
    return {field: encode_expiry(at + seconds, profile.login_expiry_unit)}


def updated(
    profile: Profile,
    doc: dict[str, Any],
    *,
    access_token: str | None = None,
    refresh_token: str | None = None,
    expires_at: float | None = None,
    refreshed_at: float | None = None,
    extra: dict[str, object] | None = None,
) -> dict[str, Any]:
    """A copy of DOC with the given values set in place: key order and every other field kept,
    each value written in the form the file already uses."""
    import copy

    new = copy.deepcopy(doc)
    if access_token is not None:
        _set(new, profile.access_field, access_token)
    if refresh_token is not None:
        _set(new, profile.refresh_field, refresh_token)
    unit = profile.expiry_unit
    if expires_at is not None and unit in ("ms", "s", "iso"):
        old = peek(doc, profile.expiry_field)
        _set(new, profile.expiry_field, encode_expiry(expires_at, unit, old))
    if refreshed_at is not None:
        for field in {
            profile.refreshed_field,
            profile.expiry_field if unit == "last_refresh" else None,
        }:
            if field:
                _set(new, field, format_iso(refreshed_at, peek(doc, field)))
    for field, value in (extra or {}).items():
        _set(new, field, value)
    return new


def encode_expiry(expires_at: float, unit: str, like: object = None) -> int | float | str:
    if unit == "ms":
        return round(expires_at * 1000)
    if unit == "iso":
        return format_iso(expires_at, like)
    return round(expires_at)


def format_iso(ts: float, like: object = None) -> str:
    """ISO 8601 in UTC, in the style of LIKE: its fraction digits, and 'Z' or '+00:00'."""
    import datetime as dt

    sample = like if isinstance(like, str) else "2000-01-01T00:00:00.000Z"
    when = dt.datetime.fromtimestamp(ts, tz=dt.UTC)
    base = when.strftime("%Y-%m-%dT%H:%M:%S")
    tail = sample.partition(".")[2]
    digits = 0
    if tail:
        while digits < len(tail) and tail[digits].isdigit():
            digits += 1
    if digits:
        base += "." + f"{when.microsecond:06d}"[: min(digits, 6)].ljust(digits, "0")
    zone = "+00:00" if sample.endswith("+00:00") else "Z"
    return base + zone


def _decode_expiry(raw: object, profile: Profile, path: str, fix: str) -> float | None:
    if raw is None:
        return None
    field = profile.expiry_field
    unit = profile.expiry_unit
    if unit == "jwt":
        claims = jwt_claims(raw)
        exp = claims.get("exp") if claims else None
        if not isinstance(exp, int | float) or isinstance(exp, bool):
            return None  # not a JWT we can read: the expiry is unknown, like a missing field
        return _in_range(float(exp), raw, profile, path, fix)
    if unit in ("iso", "last_refresh"):
        if not isinstance(raw, str):
            raise _wrong_type(path, field, "an ISO 8601 date", fix)
        seconds = parse_iso(raw)
        if seconds is None:
            raise _wrong_type(path, field, "an ISO 8601 date", fix)
        if unit == "last_refresh":
            seconds += profile.expiry_interval or 0
        return _in_range(seconds, raw, profile, path, fix)
    # bool is an int in Python but never a timestamp.
    if isinstance(raw, bool) or not isinstance(raw, int | float):
        raise _wrong_type(path, field, "a number", fix)
    return _in_range(raw / 1000 if unit == "ms" else float(raw), raw, profile, path, fix)


def _in_range(seconds: float, raw: object, profile: Profile, path: str, fix: str) -> float:
    if not _finite(seconds) or seconds < 0 or seconds > _LATEST_EXPIRY:
        shown = raw if not isinstance(raw, str) or profile.expiry_unit != "jwt" else "<jwt>"
        raise CredentialsError(
            f"{path}: {profile.expiry_field} is out of range ({shown!r} {profile.expiry_unit}); "
            f"it was left as it is: {fix}",
            INVALID,
        )
    return seconds


def get_field(doc: dict[str, Any], dotted: str, path: str, fix: str) -> object:
    if "." not in dotted:  # most fields: what the walk below does for one part
        return doc.get(dotted)
    node: object = doc
    parts = dotted.split(".")
    for i, key in enumerate(parts):
        if node is None:
            return None
        if not isinstance(node, dict):
            parent = ".".join(parts[:i])
            raise _wrong_type(path, parent, "an object", fix)
        node = node.get(key)
    return node


def _set(doc: dict[str, Any], dotted: str, value: object) -> None:
    *parents, leaf = dotted.split(".")
    node = doc
    for key in parents:
        node = node.setdefault(key, {})
    node[leaf] = value


def _wrong_type(path: str, field: str, expected: str, fix: str) -> CredentialsError:
    return CredentialsError(
        f"{path}: {field} is not {expected}; it was left as it is: {fix}", INVALID
    )


def dumps_like(doc: dict[str, Any], original: bytes) -> bytes:
    """Serialize DOC the way ORIGINAL was written: indentation, separators, final newline, a
    byte order mark and CRLF line ends (Windows editors); non-ASCII text stays as it is."""
    text = original.decode("utf-8", errors="replace")
    bom = "\ufeff" if text.startswith("\ufeff") else ""
    text = text.removeprefix(bom)
    indent: str | int | None = None
    for line in text.splitlines()[1:]:
        stripped = line.lstrip(" \t")
        if stripped and len(stripped) < len(line):
            lead = line[: len(line) - len(stripped)]
            indent = "\t" if lead.startswith("\t") else len(lead)
            break
    style: dict[str, Any]
    if indent is None and text.strip() and "\n" not in text.strip():
        # One line: keep it compact the way JSON.stringify writes it, unless it had spaces.
        compact = '": ' not in text and '", "' not in text
        style = {"separators": (",", ":") if compact else (", ", ": ")}
    else:
        style = {"indent": indent if indent is not None else 2}
    import json
    import re

    out = json.dumps(doc, ensure_ascii=False, **style)
    if text.endswith("\n") or not text:
        out += "\n"
    if "\r\n" in text:
        out = out.replace("\n", "\r\n")  # JSON strings hold no raw newline: only line ends
    # A lone surrogate ("\\ud83d", which Node writes for a cut emoji) has no UTF-8 form: that
    # one character is escaped as JSON allows (it reads back the same); the rest stays as is.
    out = re.sub("[\ud800-\udfff]", lambda m: f"\\u{ord(m.group()):04x}", out)
    return (bom + out).encode("utf-8")
