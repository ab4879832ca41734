"""The OS keyring: codex's and gemini's logins when they keep them there.

Where each CLI puts its item (undocumented; read in their sources):
- codex 0.169.0 (codex-rs/login/src/auth/storage.rs), `cli_auth_credentials_store = "keyring"` or
  `"auto"`: service `Codex Auth`, account `cli|` + the first 16 hex characters of sha256 of the
  canonical CODEX_HOME; the password is auth.json's document as compact JSON. Through the
  keyring-rs crate 3.x: on Linux a Secret Service item with the attributes `service`,
  `username`, `target=default` and `application=rust-keyring`.
- gemini-cli 0.61.0 (@google/gemini-cli-core code_assist/oauth-credential-storage.js),
  `GEMINI_FORCE_ENCRYPTED_FILE_STORAGE=true`: service `gemini-cli-oauth`, account
  `main-account`; the password is `{"serverName": "main-account", "token": {"accessToken",
  "refreshToken", "tokenType", "scope", "expiresAt"}, "updatedAt"}` (the gemini profile reads it
  as a variant). Through @github/keytar 7.10.6: on Linux a libsecret item of the schema
  `org.freedesktop.Secret.Generic` with the attributes `service` and `account`.

On Linux wrap talks to the Secret Service with `secretstorage` (what `keyring` itself uses
there), matching each CLI's own attributes: keyring's backend names items by `service`,
`username` and `application=python-keyring`, so it would not find keytar's item, and its write
would add a second item beside codex's instead of updating the one codex reads. Elsewhere
(macOS) the `keyring` library's (service, account) is the CLIs' own. Both load only here.
"""

from __future__ import annotations

import hashlib
import os
from typing import TYPE_CHECKING

from launcher.credentials import INVALID, MISSING
from launcher.errors import CredentialsError, UsageError, WriteError
from launcher.stores import Store

if TYPE_CHECKING:
    from jeepney.io.blocking import DBusConnection
    from secretstorage import Item

CODEX_SERVICE = "Codex Auth"
GEMINI_SERVICE = "gemini-cli-oauth"
GEMINI_ACCOUNT = "main-account"
# The most one Secret Service call may take.
ANSWER_TIMEOUT = 10.0
LOCKED_HINT = "unlock it (log in to the desktop session, or 'gnome-keyring-daemon --unlock')"


def codex_key(codex_home: str) -> str:
    """What codex's compute_store_key makes of CODEX_HOME: canonicalized when it exists."""
    canonical = os.path.realpath(codex_home) if os.path.exists(codex_home) else codex_home
    digest = hashlib.sha256(canonical.encode("utf-8", "surrogateescape")).hexdigest()
    return f"cli|{digest[:16]}"


def for_vendor(vendor: str, path: str, platform: str) -> Store:
    """The item VENDOR's CLI keeps for the account whose file would be PATH."""
    if vendor == "codex":
        service, account = CODEX_SERVICE, codex_key(os.path.dirname(path))
        search = {"service": service, "username": account, "target": "default"}
        extra = {"application": "rust-keyring"}
        label = f"keyring-rs for target 'default', service '{service}', user '{account}'"
    elif vendor == "gemini":
        service, account = GEMINI_SERVICE, GEMINI_ACCOUNT
        search = {
            "service": service,
            "account": account,
            "xdg:schema": "org.freedesktop.Secret.Generic",
        }
        extra = {}
        label = f"{service}/{account}"
    else:  # pragma: no cover - the chooser names only these
        raise UsageError(f"no keyring item is known for {vendor}")
    if platform.startswith("linux"):
        return SecretServiceStore(service, account, search, extra, label, path)
    if platform == "darwin":
        return KeyringStore(service, account, path)
    raise UsageError(
        f'wrap does not read {vendor}\'s keyring item on {platform}: use store = "file"'
    )


class SecretServiceStore(Store):
    """One item of the Secret Service (gnome-keyring, KeePassXC, ...), found by the attributes
    its CLI searches with and updated in place, so that its attributes stay the CLI's."""

    kind = "keyring"

    def __init__(
        self,
        service: str,
        account: str,
        search: dict[str, str],
        extra: dict[str, str],
        label: str,
        path: str,
    ) -> None:
        self.where = f"keyring:{service}/{account}"
        self.search = search
        self.extra = extra
        self.label = label
        self.path = path

    def read(self) -> bytes:
        with self._connection(CredentialsError) as conn:
            items = self._items(conn)
            if not items:
                raise CredentialsError(f"no item in the keyring ({self.where})", MISSING)
            item = items[0]
            if item.is_locked():
                raise CredentialsError(
                    f"the keyring is locked ({self.where}): {LOCKED_HINT}", INVALID
                )
            return bytes(item.get_secret())

    def write(self, data: bytes, *, backup_dir: str | None = None) -> None:
        import secretstorage

        with self._connection(WriteError) as conn:
            items = self._items(conn)
            if any(item.is_locked() for item in items):
                raise WriteError(f"cannot write {self.where}: the keyring is locked; {LOCKED_HINT}")
            for item in items:
                item.set_secret(data)
            if not items:
                collection = secretstorage.get_default_collection(conn)
                if collection.is_locked():
                    raise WriteError(
                        f"cannot write {self.where}: the keyring is locked; {LOCKED_HINT}"
                    )
                collection.create_item(self.label, {**self.search, **self.extra}, data)

    def _items(self, conn: DBusConnection) -> list[Item]:
        import secretstorage

        return list(secretstorage.search_items(conn, self.search))

    def _connection(self, error: type[Exception]) -> _Connection:
        return _Connection(self.where, error)


class _Connection:
    """A session-bus connection for one operation; every Secret Service failure becomes ERROR
    (a CredentialsError for a read, a WriteError for a write) naming the item."""

    def __init__(self, where: str, error: type[Exception]) -> None:
        self.where = where
        self.error = error
        self.conn: DBusConnection | None = None

    def __enter__(self) -> DBusConnection:
        import secretstorage

        try:
            conn = secretstorage.dbus_init()
        except (secretstorage.exceptions.SecretStorageException, OSError, KeyError) as e:
            raise self._fail(f"no Secret Service on the session bus ({type(e).__name__})") from e
        # secretstorage waits for every answer without a limit: a Secret Service that hangs, or
        # waits on a prompt nobody sees, must not hold the launch (TimeoutError is an OSError).
        send = conn.send_and_get_reply

        def bounded(message: object, *, timeout: float | None = None) -> object:
            return send(message, timeout=ANSWER_TIMEOUT if timeout is None else timeout)

        conn.send_and_get_reply = bounded
        self.conn = conn
        return conn

    def __exit__(self, kind: object, value: object, tb: object) -> None:
        if self.conn is not None:
            self.conn.close()
        if isinstance(value, CredentialsError | WriteError) or value is None:
            return
        if isinstance(value, Exception) and _is_dbus_failure(value):
            import secretstorage

            name = getattr(value, "name", None)  # a D-Bus error's name; never a secret
            if name == "org.freedesktop.DBus.Error.ServiceUnknown" or isinstance(
                value, secretstorage.exceptions.SecretServiceNotAvailableException
            ):
                raise self._fail("no Secret Service on the session bus") from value
            if isinstance(value, TimeoutError):
                why = f"the Secret Service did not answer within {ANSWER_TIMEOUT:g} s"
                raise self._fail(why) from value
            raise self._fail(name if isinstance(name, str) else type(value).__name__) from value

    def _fail(self, why: str) -> Exception:
        if self.error is CredentialsError:
            return CredentialsError(f"cannot read {self.where}: {why}", INVALID)
        return WriteError(f"cannot write {self.where}: {why}")


def _is_dbus_failure(e: Exception) -> bool:
    import secretstorage
    from jeepney.wrappers import DBusErrorResponse

    failures = (secretstorage.exceptions.SecretStorageException, DBusErrorResponse, OSError)
    return isinstance(e, failures)


class KeyringStore(Store):
    """The `keyring` library's default backend: the macOS Keychain's generic password of
    (service, account), which keyring-rs and keytar use there too."""

    kind = "keyring"

    def __init__(self, service: str, account: str, path: str) -> None:
        self.service = service
        self.account = account
        self.where = f"keyring:{service}/{account}"
        self.path = path

    def read(self) -> bytes:
        import keyring
        from keyring.errors import KeyringError

        try:
            value = keyring.get_password(self.service, self.account)
        except KeyringError as e:
            raise CredentialsError(f"cannot read {self.where}: {type(e).__name__}", INVALID) from e
        if value is None:
            raise CredentialsError(f"no item in the keyring ({self.where})", MISSING)
        return value.encode("utf-8")

    def write(self, data: bytes, *, backup_dir: str | None = None) -> None:
        import keyring
        from keyring.errors import KeyringError

        try:
            keyring.set_password(self.service, self.account, data.decode("utf-8"))
        except (KeyringError, UnicodeDecodeError) as e:
            raise WriteError(f"cannot write {self.where}: {type(e).__name__}") from e
