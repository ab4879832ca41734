"""The account's record in the store, and the access-only copies machines keep of it.

A record is one JSON object: the credentials document as the logged-in machine had it, minus
its refresh token (so a machine with no file at all, a CI runner, gets the whole shape), the
refresh token beside it, and what the fleet needs to coordinate: who is refreshing (with a
fingerprint of the token, never the token), the last refresh, a rejection. Expiry and login
deadline are copied to the top for `wrap fleet status`, which needs no profile to read them.
"""

from __future__ import annotations

import copy
import json
from typing import TYPE_CHECKING, Any

from launcher import credentials, policy, redact
from launcher.fleet import FleetError
from launcher.state import token_digest

if TYPE_CHECKING:
    from launcher.profiles import Profile

FORMAT = 1
# Fingerprints of the chain's refresh tokens kept, newest last: tells "an older token of this
# login" from "another login" when a machine pushes.
CHAIN_KEPT = 50

# How each CLI's access-only copy looks, keyed by the profile's refresh-token field (the field
# identifies the CLI's file shape, whatever a custom profile is called).
# Codex reads a missing refresh_token as a broken file, so it gets an empty one; the others
# lose the key (Claude 2.1.197 and 2.1.330 with no refreshToken never try to refresh).
EMPTY_REFRESH = frozenset({"tokens.refresh_token"})


class Record:
    """One account's record; `data` is the JSON object, kept whole so that fields a newer wrap
    adds survive an older one's write."""

    __slots__ = ("data",)

    def __init__(self, data: dict[str, Any]) -> None:
        self.data = data

    @classmethod
    def new(
        cls,
        profile: Profile,
        doc: dict[str, Any],
        refresh_token: str,
        *,
        lifetime: float | None,
        machine: str,
        at: float,
        chain: list[str] | None = None,
    ) -> Record:
        rec = cls({"format": FORMAT, "profile": profile.name})
        rec.set_doc(profile, doc)
        rec.data["refresh_token"] = refresh_token
        rec.data["chain"] = [*(chain or []), token_digest(refresh_token)][-CHAIN_KEPT:]
        rec.data["lifetime"] = lifetime
        rec.data["pushed"] = {"at": at, "machine": machine}
        return rec

    @classmethod
    def loads(cls, raw: bytes, where: str) -> Record:
        try:
            data = json.loads(raw)
        except (ValueError, UnicodeDecodeError) as e:
            raise FleetError(f"the fleet record {where} is not JSON: push it again") from e
        if not isinstance(data, dict) or not isinstance(data.get("doc"), dict):
            raise FleetError(f"the fleet record {where} is not a wrap record: push it again")
        return cls(data)

    def dumps(self) -> bytes:
        return json.dumps(self.data, separators=(",", ":")).encode()

    def copy(self) -> Record:
        return Record(copy.deepcopy(self.data))

    # --- values -------------------------------------------------------------------------

    @property
    def doc(self) -> dict[str, Any]:
        doc: dict[str, Any] = self.data["doc"]
        return doc

    @property
    def profile_name(self) -> str:
        return str(self.data.get("profile") or "")

    @property
    def refresh_token(self) -> str | None:
        token = self.data.get("refresh_token")
        return token if isinstance(token, str) and token else None

    @property
    def expires_at(self) -> float | None:
        return credentials.number(self.data.get("expires_at"))

    @property
    def lifetime(self) -> float | None:
        return credentials.number(self.data.get("lifetime"))

    @property
    def refreshing(self) -> dict[str, Any] | None:
        return mapping(self.data.get("refreshing"))

    @property
    def rejected(self) -> dict[str, Any] | None:
        return mapping(self.data.get("rejected"))

    @property
    def chain(self) -> list[str]:
        chain = self.data.get("chain")
        return [c for c in chain if isinstance(c, str)] if isinstance(chain, list) else []

    def fresh(self, now: float, threshold: int) -> bool:
        effective = policy.effective_threshold(threshold, self.lifetime)
        return policy.token_state(self.expires_at, now, effective) == policy.FRESH

    def usable(self, now: float) -> bool:
        """Still valid at all (a copy of it is better than an expired local one)."""
        return policy.token_state(self.expires_at, now, 0) == policy.FRESH

    # --- changes ------------------------------------------------------------------------

    def set_doc(self, profile: Profile, doc: dict[str, Any]) -> None:
        doc = access_only(profile, own_login(profile, doc))
        self.data["doc"] = doc
        _, creds = credentials.parse(profile, json.dumps(doc).encode(), "the fleet record")
        self.data["expires_at"] = creds.expires_at
        self.data["login_expires_at"] = login_deadline(profile, doc)

    def set_refresh_token(self, token: str) -> None:
        self.data["refresh_token"] = token
        self.data["chain"] = [*self.chain, token_digest(token)][-CHAIN_KEPT:]

    def mark(self, *, since: float, machine: str, token: str, lock: str | None) -> None:
        """Say, before sending, that this machine is refreshing with this token (by fingerprint)
        under the lock with this id (when another holds the lock, this one's has ended)."""
        self.data["refreshing"] = {
            "since": since,
            "machine": machine,
            "token": token_digest(token),
            "lock": lock,
        }

    def unmark(self) -> None:
        self.data["refreshing"] = None

    def refreshed(self, *, at: float, machine: str, lifetime: float) -> None:
        self.data["refreshing"] = None
        self.data["last_refresh"] = {"at": at, "machine": machine}
        self.data["lifetime"] = lifetime

    def reject(self, *, at: float, machine: str, error: str) -> None:
        self.data["refreshing"] = None
        # Shown by every machine: redacted here, by the one that knows the token it quotes.
        self.data["rejected"] = {"at": at, "machine": machine, "error": redact.text(error)}


def fingerprint(token: str) -> str:
    return token_digest(token)


def login_deadline(profile: Profile, doc: dict[str, Any]) -> float | None:
    """The login deadline the document holds, in the profile's own field and unit (a custom
    profile's `login_expiry` too), as the local file's parser reads it."""
    field = profile.login_expiry_field
    if not field:
        return None
    return credentials.decode_deadline(credentials.peek(doc, field), profile.login_expiry_unit)


def own_login(profile: Profile, doc: dict[str, Any]) -> dict[str, Any]:
    """The part of DOC that is the profile's login. When every token field lives under one
    top-level key (Claude's claudeAiOauth), only that key: the rest of the file holds other
    services' logins (Claude's mcpOAuth, with rotating refresh tokens of their own), which
    must not be shared between machines. A flat file is one login, whole."""
    fields = [f for f in (profile.access_field, profile.refresh_field, profile.expiry_field) if f]
    tops = {f.split(".", 1)[0] for f in fields}
    if len(tops) != 1 or not all("." in f for f in fields):
        return copy.deepcopy(doc)
    top = tops.pop()
    return {top: copy.deepcopy(doc[top])} if top in doc else {}


def access_only(profile: Profile, doc: dict[str, Any]) -> dict[str, Any]:
    """DOC without its refresh token, in the form the CLI still reads as logged in."""
    out = copy.deepcopy(doc)
    field = profile.refresh_field
    if field in EMPTY_REFRESH:
        if credentials.peek(out, field) is not None:
            _set(out, field, "")
        return out
    *parents, leaf = field.split(".")
    node: object = out
    for key in parents:
        node = node.get(key) if isinstance(node, dict) else None
    if isinstance(node, dict):
        node.pop(leaf, None)
    return out


def copy_onto(profile: Profile, local: dict[str, Any] | None, record: Record) -> dict[str, Any]:
    """The local file's document with the record's access token, expiry, login deadline and
    what a refresh answer sets (scopes, id token, ...), every other local field kept, and no
    refresh token. With no local document: the record's whole document."""
    source = record.doc
    if local is None:
        # A record pushed by an older wrap may hold the whole file: still only the login.
        return access_only(profile, own_login(profile, source))
    out = copy.deepcopy(local)
    fields = [
        profile.access_field,
        profile.expiry_field,
        profile.refreshed_field,
        profile.id_token_field,
        profile.scope_field,
        profile.login_expiry_field,
        *profile.copy_fields.values(),
    ]
    for field in fields:
        if field:
            value = credentials.peek(source, field)
            if value is not None:
                _set(out, field, copy.deepcopy(value))
    return access_only(profile, out)


def _set(doc: dict[str, Any], dotted: str, value: object) -> None:
    *parents, leaf = dotted.split(".")
    node = doc
    for key in parents:
        child = node.get(key)
        if not isinstance(child, dict):
            child = node[key] = {}
        node = child
    node[leaf] = value


def mapping(value: object) -> dict[str, Any] | None:
    """VALUE when it is a JSON object."""
    return value if isinstance(value, dict) else None
