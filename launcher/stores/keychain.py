"""The macOS login Keychain through `security`, as Claude Code keeps its credentials there.

Observed in Claude Code 2.1.197 (darwin build); undocumented:
- service `Claude Code-credentials`; with CLAUDE_CONFIG_DIR set (or CLAUDE_SECURESTORAGE_CONFIG_DIR
  non-empty, which wins) `Claude Code-credentials-` + the first 8 hex characters of sha256 of that
  directory as given, NFC-normalized;
- account `$USER` (else the login name), or `claude-code-user` when it has characters outside
  `[A-Za-z0-9._-]`;
- the password is the whole JSON document that `.credentials.json` holds elsewhere;
- read: `security find-generic-password -a ACCOUNT -w -s SERVICE` (exit 44: no such entry,
  36: the keychain is locked, as it is over SSH until `security unlock-keychain`);
- write: `security -i` with `add-generic-password -U -a ACCOUNT -s SERVICE -X <hex>` on stdin, so
  that no token is in argv; only a line longer than 4032 characters goes to argv instead, as
  claude does (the README names this);
- the Keychain first, `.credentials.json` only when it has no entry; a Keychain write deletes
  the file (wrap leaves that migration to claude: it writes back where it read).

A Keychain read costs one `security` process; only a refresh writes (and reads back to check).
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import unicodedata
from typing import TYPE_CHECKING

from launcher.credentials import INVALID, MISSING
from launcher.errors import CredentialsError, WriteError
from launcher.stores import Store

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    # (argv, stdin) -> (exit code, stdout)
    Runner = Callable[[list[str], bytes | None], tuple[int, bytes]]

SERVICE = "Claude Code-credentials"
FALLBACK_ACCOUNT = "claude-code-user"
_ACCOUNT_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-")
NOT_FOUND = 44
LOCKED = 36
# Claude's limit for a `security -i` line; a longer one goes to argv.
INTERACTIVE_LINE_LIMIT = 4032
TIMEOUT = 20.0
# By absolute path, as Claude Code runs it: a `security` earlier on PATH would be handed every
# token wrap writes.
SECURITY = "/usr/bin/security"
UNLOCK_HINT = "run 'security unlock-keychain' (over SSH the login keychain stays locked until then)"


def service_name(env: Mapping[str, str]) -> str:
    custom = env.get("CLAUDE_SECURESTORAGE_CONFIG_DIR") or env.get("CLAUDE_CONFIG_DIR")
    if not custom:
        return SERVICE
    normalized = unicodedata.normalize("NFC", custom)
    return f"{SERVICE}-{hashlib.sha256(normalized.encode('utf-8')).hexdigest()[:8]}"


def account_name(env: Mapping[str, str]) -> str:
    user = env.get("USER") or _login_name()
    if user and all(c in _ACCOUNT_CHARS for c in user):
        return user
    return FALLBACK_ACCOUNT


def _login_name() -> str:
    try:
        import pwd

        return pwd.getpwuid(os.getuid()).pw_name
    except (ImportError, KeyError):
        return ""


def for_claude(env: Mapping[str, str], run: Runner | None = None) -> KeychainStore:
    return KeychainStore(service_name(env), account_name(env), run=run)


def run_security(argv: list[str], stdin: bytes | None) -> tuple[int, bytes]:
    try:
        done = subprocess.run(
            argv,
            input=stdin if stdin is not None else b"",
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            timeout=TIMEOUT,
            check=False,
        )
    except FileNotFoundError:
        return 127, b""
    except subprocess.TimeoutExpired:
        return -1, b""
    return done.returncode, done.stdout


class KeychainStore(Store):
    kind = "keychain"

    def __init__(self, service: str, account: str, *, run: Runner | None = None) -> None:
        self.service = service
        self.account = account
        self.where = f"keychain:{service}"
        self.path = ""
        self.run = run or run_security

    def read(self) -> bytes:
        code, out = self.run(
            [SECURITY, "find-generic-password", "-a", self.account, "-w", "-s", self.service],
            None,
        )
        if code == NOT_FOUND:
            raise CredentialsError(f"no entry in the login keychain ({self.where})", MISSING)
        if code == LOCKED:
            raise CredentialsError(
                f"the login keychain is locked ({self.where}): {UNLOCK_HINT}", INVALID
            )
        if code != 0:
            raise CredentialsError(f"cannot read {self.where}: {_failure(code)}", INVALID)
        return _password(out)

    def write(self, data: bytes, *, backup_dir: str | None = None) -> None:
        hexed = data.hex()
        line = f'add-generic-password -U -a "{self.account}" -s "{self.service}" -X "{hexed}"'
        if len(line) <= INTERACTIVE_LINE_LIMIT:
            code, _ = self.run([SECURITY, "-i"], (line + "\n").encode("ascii"))
        else:
            argv = [SECURITY, "add-generic-password", "-U", "-a", self.account]
            code, _ = self.run([*argv, "-s", self.service, "-X", hexed], None)
        if code == LOCKED:
            raise WriteError(f"cannot write {self.where}: the keychain is locked; {UNLOCK_HINT}")
        if code != 0:
            raise WriteError(f"cannot write {self.where}: {_failure(code)}")
        # `security -i` may not turn a failed command into its exit code: read it back, so that a
        # rotated token that did not land goes to the recovery file instead of being lost.
        try:
            back = self.read()
        except CredentialsError as e:
            raise WriteError(f"cannot check the write to {self.where}: {e}") from None
        if back != data:
            raise WriteError(f"{self.where} does not hold what was written to it")


def _password(out: bytes) -> bytes:
    # `-w` prints the password and a newline; a password that is not printable text comes out
    # as hex instead.
    data = out[:-1] if out.endswith(b"\n") else out
    stripped = data.strip()
    hexdigits = b"0123456789abcdefABCDEF"
    if stripped and len(stripped) % 2 == 0 and all(c in hexdigits for c in stripped):
        try:
            decoded = bytes.fromhex(stripped.decode("ascii"))
        except ValueError:
            return data
        if decoded.lstrip().startswith(b"{"):
            return decoded
    return data


def _failure(code: int) -> str:
    if code == 127:
        return "the security command was not found"
    if code == -1:
        return f"security did not answer within {TIMEOUT:g} s"
    return f"security exited with {code}"
