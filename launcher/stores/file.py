"""The credentials file: launcher/store.py's read, atomic write with backups, and stat."""

from __future__ import annotations

from launcher import store
from launcher.stores import Store


class FileStore(Store):
    kind = "file"

    def __init__(self, path: str, fix: str) -> None:
        self.path = path
        self.where = path
        self.fix = fix

    def read(self) -> bytes:
        return store.read_bytes(self.path, self.fix)

    def write(self, data: bytes, *, backup_dir: str | None = None) -> None:
        store.atomic_write(self.path, data, backup_dir=backup_dir)

    def fingerprint(self) -> str | None:
        return store.fingerprint(self.path)
