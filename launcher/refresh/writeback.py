"""Writing a refreshed document back through the account's store, keeping what another program
changed meanwhile and, whatever else fails, the newest refresh token."""

from __future__ import annotations

import json
import os

from launcher import credentials, store, stores
from launcher.errors import CredentialsError, WrapError, WriteError
from launcher.refresh.answer import answer_fields
from launcher.refresh.locks import key
from launcher.refresh.outcome import remember_recovery

TYPE_CHECKING = False  # typing itself costs ~2 ms of import, paid by every launch that waits
if TYPE_CHECKING:
    from launcher import vendors
    from launcher.config import Settings
    from launcher.credentials import Credentials
    from launcher.profiles import Profile
    from launcher.refresh import grant
    from launcher.stores import Store


class Adopted(WrapError):
    """Another program put another login into the file meanwhile: use it, send nothing more."""

    def __init__(self, creds: Credentials) -> None:
        super().__init__("the file holds another login now")
        self.creds = creds


class Writer:
    """Writes the document back, keeping what it did not change, and the newest refresh token.

    Every write happens under the vendor's write lock, after checking that the file is still
    the one read: changes another program made meanwhile are kept (ours are applied onto its
    document), and a document holding another token chain is adopted instead of overwritten.
    """

    def __init__(
        self,
        settings: Settings,
        profile: Profile,
        state_dir: str,
        doc: dict[str, object],
        original: bytes,
        sent: str | None,
        locks: vendors.Locks,
        *,
        adopt: bool = True,
        source: Store | None = None,
    ) -> None:
        self.settings = settings
        # Where the document is read back from and written to (launcher/stores/).
        self.source = source or stores.for_settings(settings, os.environ)
        self.profile = profile
        self.state_dir = state_dir
        self.doc = doc
        self.original = original
        self.sent = sent
        self.locks = locks
        # False for a login: its new chain replaces whatever the file holds by then.
        self.adopt = adopt
        self.saved_refresh_token: str | None = None
        self.creds: Credentials | None = None
        # Every value this refresh set, so that it can be applied onto a newer document too.
        self.changes: dict[str, object] = {}

    def save_refresh_token(self, token: str) -> None:
        # Called the moment a response carries a refresh token, before anything else can fail:
        # a rotated token thrown away would make the next refresh replay a dead one.
        if token == self.sent:
            return
        self.saved_refresh_token = token
        self._commit({"refresh_token": token})

    def write(
        self, response: grant.TokenResponse, *, refreshed_at: float, expires_at: float
    ) -> None:
        extra = answer_fields(self.profile, response)
        # A new login deadline, when the answer gives one (claude's refreshTokenExpiresAt).
        extra.update(credentials.deadline_changes(self.profile, response.body, refreshed_at))
        self._commit(
            {
                "access_token": response.access_token,
                "refresh_token": response.refresh_token,
                "expires_at": expires_at,
                "refreshed_at": refreshed_at,
                "extra": extra,
            }
        )
        self.creds = credentials.Credentials(
            response.access_token,
            response.refresh_token or self.saved_refresh_token or self.sent,
            expires_at,
        )

    def commit_recovered(self, doc: dict[str, object]) -> None:
        """Put a recovered document back into the file (it replaces what the file holds)."""
        with self.locks.write():
            self._write(doc, self.original)
        self.doc = doc

    def _commit(self, changes: dict[str, object]) -> None:
        for name, value in changes.items():
            if value is not None:
                self.changes[name] = value
        new = self._apply(self.doc)
        try:
            with self.locks.write():
                current = _read_quietly(self.source)
                like = self.original
                if current is not None and current != self.original:
                    base = self._newer(current)
                    new, like = self._apply(base), current
                self._write(new, like)
        except (Adopted, WriteError):
            raise
        except Exception as e:  # a rotated token must reach a disk whatever else fails
            raise self._recover(new, f"{type(e).__name__}") from e
        self.doc = new

    def _apply(self, doc: dict[str, object]) -> dict[str, object]:
        ch = self.changes
        extra = ch.get("extra")
        return credentials.updated(
            self.profile,
            doc,
            access_token=_str(ch.get("access_token")),
            refresh_token=_str(ch.get("refresh_token")),
            expires_at=_num(ch.get("expires_at")),
            refreshed_at=_num(ch.get("refreshed_at")),
            extra=extra if isinstance(extra, dict) else None,
        )

    def _newer(self, current: bytes) -> dict[str, object]:
        """The document another program wrote since our read: merge into it, or adopt it."""
        try:
            doc, creds = credentials.parse(self.settings.profile, current, self.source.where)
        except CredentialsError:
            # Not a document we can merge into (a half-done rewrite, a blanked file): our
            # changes go onto the document we read, which still holds every field we knew.
            return self.doc
        theirs = creds.refresh_token
        if self.adopt and theirs and theirs not in (self.sent, self.saved_refresh_token):
            raise Adopted(creds)
        return doc

    def _write(self, doc: dict[str, object], like: bytes) -> None:
        path = self.settings.credentials
        try:
            data = credentials.dumps_like(doc, like)
        except (UnicodeError, ValueError) as e:
            raise self._recover(doc, type(e).__name__) from e
        try:
            self.source.write(data, backup_dir=_backup_dir(self.state_dir, path))
        except WriteError as e:
            raise self._recover(doc, str(e), data) from e
        self.original = data

    def _recover(self, doc: dict[str, object], why: str, data: bytes | None = None) -> WriteError:
        """Keep DOC in a recovery file and remember it, so that the next launch uses its token."""
        path = self.settings.credentials
        if data is None:
            # Whatever made the normal serialization fail, plain ASCII JSON always encodes.
            data = (json.dumps(doc, indent=2, ensure_ascii=True) + "\n").encode("ascii")
        try:
            kept = store.save_recovery(os.path.join(self.state_dir, "recovery"), path, data)
        except OSError as e2:
            return WriteError(
                f"{why}, and the new token could not be saved elsewhere either ({e2.strerror})"
            )
        remember_recovery(self.state_dir, self.source, kept)
        where = self.source.where
        return WriteError(f"{why}; the new token was saved to {kept}: copy it over {where}")


def _read_quietly(source: Store) -> bytes | None:
    try:
        return source.read()
    except WrapError:
        return None


def _str(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _num(value: object) -> float | None:
    return float(value) if isinstance(value, int | float) else None


def _backup_dir(state_dir: str, path: str) -> str:
    return os.path.join(state_dir, "backups", key(state_dir, path))
