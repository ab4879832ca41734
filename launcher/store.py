"""The credentials file on disk: read, cross-process lock, atomic write, backups, modes, symlinks.

`read_bytes` is on the hot path; the rest runs only when a refresh is due.
"""

from __future__ import annotations

import errno
import os
import stat
import time

from launcher.credentials import INVALID, MISSING
from launcher.errors import CredentialsError, WriteError

FILE_MODE = 0o600
DIR_MODE = 0o700
# Credentials files are a few KiB; anything past this is not one (and must not fill memory).
MAX_READ = 1 << 20


def read_bytes(path: str, fix: str) -> bytes:
    """The file's bytes, or CredentialsError with the path and what to do.

    Only a regular file of at most MAX_READ bytes is read: a FIFO would block forever, a device
    (a link to /dev/zero) or a huge file would eat all memory, and no credentials file is either.
    """
    try:
        # Refused before it is opened: opening some devices (a tty, a tape) already does things.
        _refuse_unless_regular(os.stat(path).st_mode, path, fix)
        # Non-blocking, so that even a FIFO swapped in since returns at once, for fstat to refuse.
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
    except FileNotFoundError:
        raise CredentialsError(f"no credentials file at {path}: {fix}", MISSING) from None
    except PermissionError:
        raise CredentialsError(
            f"cannot read {path}: permission denied; make it yours and readable (chmod 600 {path})",
            INVALID,
        ) from None
    except OSError as e:
        raise CredentialsError(f"cannot read {path}: {e.strerror}", INVALID) from e
    try:
        _refuse_unless_regular(os.fstat(fd).st_mode, path, fix)
        chunks = []
        size = 0
        # Read to the cap, not to fstat's size: the file may grow while it is read.
        while size <= MAX_READ:
            chunk = os.read(fd, MAX_READ + 1 - size)
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        if size > MAX_READ:
            raise CredentialsError(
                f"{path} is larger than {MAX_READ >> 20} MiB, too large for a credentials "
                f"file: move it away, then {fix}",
                INVALID,
            )
        return b"".join(chunks)
    except OSError as e:
        raise CredentialsError(f"cannot read {path}: {e.strerror}", INVALID) from e
    finally:
        os.close(fd)


def _refuse_unless_regular(mode: int, path: str, fix: str) -> None:
    if not stat.S_ISREG(mode):
        raise CredentialsError(
            f"{path} is {_kind(mode)}, not a credentials file: move it away, then {fix}", INVALID
        )


def _kind(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a regular file"


def fingerprint(path: str) -> str | None:
    """Identity of the file's current version, for 'has it changed since?' (no content read)."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return f"{st.st_ino}:{st.st_size}:{st.st_mtime_ns}"


def ensure_dir(path: str) -> None:
    """Create PATH (and parents) as 0700; leave an existing directory's mode alone."""
    os.makedirs(path, mode=DIR_MODE, exist_ok=True)


def atomic_write(path: str, data: bytes, *, backup_dir: str | None = None, keep: int = 5) -> None:
    """Replace PATH's content with DATA so that a crash leaves the whole old or the whole new file.

    A symlink is written through to its target (the link stays a link); the file keeps its mode
    (0600 when new). On any failure the original is untouched and WriteError names the path.
    """
    target = os.path.realpath(path)
    directory = os.path.dirname(target)
    try:
        mode = os.stat(target).st_mode & 0o7777
        exists = True
    except FileNotFoundError:
        mode, exists = FILE_MODE, False
    try:
        ensure_dir(directory)
        if exists and backup_dir is not None:
            _backup(target, backup_dir, keep)
        _replace(target, data, mode)
    except OSError as e:
        raise WriteError(f"cannot write {path}: {_reason(e)}; the file was left as it was") from e


def _replace(target: str, data: bytes, mode: int) -> None:
    import tempfile

    directory = os.path.dirname(target)
    fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(target)}.", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "wb") as f:
            os.fchmod(f.fileno(), mode)
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, target)
    except BaseException:
        try:  # noqa: SIM105 - contextlib is not worth its import here
            os.unlink(tmp)
        except OSError:
            pass
        raise
    _fsync_dir(directory)


def _fsync_dir(directory: str) -> None:
    # Makes the rename itself durable; some filesystems refuse fsync on a directory.
    try:
        dfd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(dfd)
    except OSError:
        pass
    finally:
        os.close(dfd)


def _backup(target: str, backup_dir: str, keep: int) -> None:
    ensure_dir(backup_dir)
    with open(target, "rb") as f:
        previous = f.read()
    stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime())
    name = f"{stamp}-{time.time_ns() % 1_000_000_000:09d}.json"
    _replace(os.path.join(backup_dir, name), previous, FILE_MODE)
    old = sorted(n for n in os.listdir(backup_dir) if n.endswith(".json"))
    for stale in old[:-keep] if keep > 0 else old:
        try:  # noqa: SIM105
            os.unlink(os.path.join(backup_dir, stale))
        except OSError:
            pass


def write_private(path: str, data: bytes) -> None:
    """Atomically write a small private file (0600) whose directory is created 0700."""
    ensure_dir(os.path.dirname(path))
    _replace(path, data, FILE_MODE)


def _reason(e: OSError) -> str:
    if e.errno == errno.ENOSPC:
        return "no space left on the device"
    if e.errno == errno.EROFS:
        return "the filesystem is read-only"
    if e.errno in (errno.EACCES, errno.EPERM):
        return "permission denied"
    return e.strerror or type(e).__name__


def save_recovery(recovery_dir: str, path: str, data: bytes) -> str:
    """Keep DATA (a new credentials file that could not be written to PATH) somewhere safe."""
    name = os.path.basename(path).lstrip(".") or "credentials"
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    candidates = [recovery_dir, os.path.join(os.path.expanduser("~"), ".wrap-recovery")]
    last: OSError | None = None
    for directory in candidates:
        target = os.path.join(directory, f"{name}.{stamp}.recovered.json")
        try:
            write_private(target, data)
            return target
        except OSError as e:
            last = e
    assert last is not None
    raise last
