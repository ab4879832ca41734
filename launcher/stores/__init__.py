"""Where an account's credentials document lives: a file, the macOS Keychain, the OS keyring.

One small interface, one module per member (file.py, keychain.py, keyring.py); parsing,
deciding, refreshing and writing back work on the document whatever the store. `for_account`
is on the hot path: standard library only and cheap, so the file store costs a launch what it
always did; the keychain and keyring modules load only when such a store is chosen.

Every store keeps the account's file path as its key: wrap's state, locks, backups and
recovery files are named after it, as they were before there were other stores.
"""

from __future__ import annotations

import os
import sys

from launcher.credentials import MISSING
from launcher.errors import CredentialsError, UsageError

TYPE_CHECKING = False  # typing itself costs ~4 ms of import on the launch path
if TYPE_CHECKING:
    from collections.abc import Mapping

    from launcher.config import Settings
    from launcher.profiles import Profile

FILE = "file"
KEYCHAIN = "keychain"
KEYRING = "keyring"
CHOICES = ("auto", FILE, KEYCHAIN, KEYRING)


class Store:
    """read() -> bytes (CredentialsError MISSING/INVALID), write(data), fingerprint().

    `kind` is "file", "keychain" or "keyring"; `where` says where the document is for people
    (a path, `keychain:<service>`, `keyring:<service>/<account>`); `path` is the account's
    file, the key of wrap's own state and locks."""

    kind = FILE
    where = ""
    path = ""

    def read(self) -> bytes:
        raise NotImplementedError

    def write(self, data: bytes, *, backup_dir: str | None = None) -> None:
        """Replace the document; BACKUP_DIR keeps the previous one where that makes sense
        (a file: a copy of a keychain entry in a plain file would defeat the keychain)."""
        raise NotImplementedError

    def fingerprint(self) -> str | None:
        """Identity of the document's current version, for 'has it changed since?' (None when
        there is none): a digest of the content, where no stat can tell."""
        try:
            data = self.read()
        except CredentialsError:
            return None
        from launcher.digest import sha256_hex

        return f"{self.kind}:{sha256_hex(data)[:16]}"


class Fallback(Store):
    """A secure store first, the file only when it has no entry, as claude on macOS, codex's
    "auto" and gemini's encrypted storage read them. A write goes where the last read found
    the document, so wrap never moves an account from one to the other."""

    def __init__(self, primary: Store, file: Store, fix: str, *, on_error: bool = False) -> None:
        self.primary = primary
        self.file = file
        self.fix = fix
        # Also the file when the secure store fails (codex's "auto" does); else only when it
        # has no entry: a locked Keychain must not send wrap to a stale file.
        self.on_error = on_error
        self.path = file.path
        self._use(primary)

    def _use(self, found: Store) -> None:
        # kind and where follow the document: status says where it is now.
        self.current = found
        self.kind = found.kind
        self.where = found.where

    def read(self) -> bytes:
        try:
            data = self.primary.read()
        except CredentialsError as e:
            if e.state != MISSING and not self.on_error:
                raise
            try:
                data = self.file.read()
            except CredentialsError as missing:
                if missing.state != MISSING:
                    raise
                raise CredentialsError(
                    f"{e}, nor at {self.file.where}: {self.fix}", MISSING
                ) from None
            self._use(self.file)
            return data
        self._use(self.primary)
        return data

    def write(self, data: bytes, *, backup_dir: str | None = None) -> None:
        self.current.write(data, backup_dir=backup_dir)

    def fingerprint(self) -> str | None:
        return self.primary.fingerprint() or self.file.fingerprint()


def for_settings(settings: Settings, env: Mapping[str, str], platform: str = sys.platform) -> Store:
    # A named account's directory variable names its Keychain item as it does for its CLI.
    return for_account(
        settings.profile,
        settings.credentials,
        settings.program_env(env),
        platform,
        choice=settings.store,
    )


def for_account(
    profile: Profile,
    path: str,
    env: Mapping[str, str],
    platform: str = sys.platform,
    *,
    choice: str = "auto",
) -> Store:
    """The store of the account whose file is PATH: CHOICE when explicit, else what the
    profile's CLI itself would use here (profile.secure_store names its convention)."""
    from launcher.stores.file import FileStore

    file = FileStore(path, profile.login_hint)
    vendor = profile.secure_store
    if choice == FILE or (choice == "auto" and vendor is None):
        return file
    if choice not in CHOICES:
        raise UsageError(f"invalid store {choice!r} for {profile.name}: use {', '.join(CHOICES)}")
    if vendor == "claude":
        if choice == KEYRING:
            raise UsageError("claude keeps its credentials in a file or the macOS Keychain")
        if choice == "auto" and platform != "darwin":
            return file
        from launcher.stores import keychain

        return Fallback(keychain.for_claude(env), file, profile.login_hint)
    if vendor in ("codex", "gemini"):
        if choice == KEYCHAIN:
            raise UsageError(f"{profile.name} keeps its credentials in a file or the OS keyring")
        mode = _codex_mode(path) if vendor == "codex" else _gemini_mode(env)
        if choice == "auto" and mode is None:
            return file
        from launcher.stores import keyring

        primary = keyring.for_vendor(vendor, path, platform)
        if mode == "keyring":  # codex reads only the keyring then
            return primary
        # codex's "auto" uses auth.json when the keyring has no entry or fails (storage.rs
        # AutoAuthStorage); gemini migrates oauth_creds.json when the keyring has no entry.
        return Fallback(primary, file, profile.login_hint, on_error=vendor == "codex")
    raise UsageError(f'profile {profile.name} has no {choice} store: use store = "file"')


def _codex_mode(path: str) -> str | None:
    """codex's cli_auth_credentials_store from $CODEX_HOME/config.toml (0.169.0): "keyring" or
    "auto" put the login in the keyring (and delete auth.json); None for the file."""
    try:
        with open(os.path.join(os.path.dirname(path), "config.toml"), "rb") as f:
            data = f.read()
    except OSError:
        return None
    # tomllib costs ~8 ms: parse only a config that mentions the key at all.
    if b"cli_auth_credentials_store" not in data:
        return None
    import tomllib

    try:
        value = tomllib.loads(data.decode("utf-8")).get("cli_auth_credentials_store")
    except (tomllib.TOMLDecodeError, UnicodeDecodeError):
        return None
    return value if value in ("keyring", "auto") else None


def _gemini_mode(env: Mapping[str, str]) -> str | None:
    # gemini-cli 0.61.0 (code_assist/oauth2.js): only the exact string "true" switches it to its
    # keychain storage, which migrates oauth_creds.json and deletes it.
    return "auto" if env.get("GEMINI_FORCE_ENCRYPTED_FILE_STORAGE") == "true" else None
