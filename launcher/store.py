"""The credentials file on disk: read, cross-process lock, atomic write, backups, modes, symlinks.

`read_bytes` is on the hot path; the rest runs only when a refresh is due.
"""

from __future__ import annotations

import errno
import os
import stat
import time

from launcher import gate
from launcher.credentials import INVALID, MISSING
from launcher.errors import CredentialsError, WriteError

TYPE_CHECKING = False  # typing itself costs ~4 ms of import on the launch path
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

    from launcher.credentials import Credentials
    from launcher.profiles import Profile
    from launcher.stores import Store

FILE_MODE = 0o600
DIR_MODE = 0o700
# Credentials files are a few KiB; anything past this is not one (and must not fill memory).
MAX_READ = gate.MAX_READ


def read_bytes(path: str, fix: str, what: str = "a credentials file") -> bytes:
    """The file's bytes, or CredentialsError with the path and what to do.

    Only a regular file of at most MAX_READ bytes is read: a FIFO would block forever, a device
    (a link to /dev/zero) or a huge file would eat all memory, and no credentials file is either
    (nor any other small file of secrets, WHAT).
    """
    try:
        # Refused before it is opened: opening some devices (a tty, a tape) already does things.
        _refuse_unless_regular(os.stat(path).st_mode, path, fix, what)
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
        _refuse_unless_regular(os.fstat(fd).st_mode, path, fix, what)
        data = gate.read_capped(fd, MAX_READ)
        if data is None:
            raise CredentialsError(
                f"{path} is larger than {MAX_READ >> 20} MiB, too large for {what}: "
                f"move it away, then {fix}",
                INVALID,
            )
        return data
    except OSError as e:
        raise CredentialsError(f"cannot read {path}: {e.strerror}", INVALID) from e
    finally:
        os.close(fd)


def _refuse_unless_regular(mode: int, path: str, fix: str, what: str) -> None:
    if not stat.S_ISREG(mode):
        raise CredentialsError(
            f"{path} is {_kind(mode)}, not {what}: move it away, then {fix}", INVALID
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


# codex rewrites its file in place (truncate, then write): a read that caught it halfway is
# tried again after these pauses before the file is called invalid.
IN_PLACE_REREADS = 3
IN_PLACE_PAUSE = 0.2


def read_parsed(
    profile: Profile, path: str, sleep: Callable[[float], None], source: Store | None = None
) -> tuple[bytes, dict[str, Any], Credentials]:
    """Read and parse the file, or SOURCE (a store of launcher/stores/), CredentialsError when
    unusable; a profile whose CLI rewrites the file in place gets a few more reads, after
    pauses, before it is called invalid."""
    from launcher import credentials

    tries = IN_PLACE_REREADS if profile.rewrites_in_place else 0
    while True:
        data = read_bytes(path, profile.login_hint) if source is None else source.read()
        try:
            doc, creds = credentials.parse(profile, data, path if source is None else source.where)
        except CredentialsError as e:
            if tries <= 0 or e.state != INVALID:
                raise
            tries -= 1
            sleep(IN_PLACE_PAUSE)
            continue
        return data, doc, creds


def fingerprint(path: str) -> str | None:
    """Identity of the file's current version, for 'has it changed since?' (no content read)."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return f"{st.st_ino}:{st.st_size}:{st.st_mtime_ns}"


def ensure_dir(path: str) -> None:
    """Create PATH and its missing parents 0700, whatever the umask (mkdir's mode is masked by
    it); leave an existing directory's mode alone."""
    if os.path.isdir(path):
        return
    parent = os.path.dirname(path)
    if parent and parent != path:
        ensure_dir(parent)
    try:
        os.mkdir(path, DIR_MODE)
    except FileExistsError:
        if os.path.isdir(path):
            return  # another process made it meanwhile
        raise
    os.chmod(path, DIR_MODE)


def ensure_private_dir(path: str) -> None:
    """ensure_dir, and refuse PATH when it or its parent (wrap's state directory: PATH is one
    of its folders) belongs to another user: wrap's state is trusted and may hold tokens."""
    parent = os.path.dirname(path)
    ensure_dir(parent)
    _check_owner(parent)  # before anything is made inside it
    ensure_dir(path)
    _check_owner(path)


def _check_owner(directory: str) -> None:
    owner = os.stat(directory).st_uid
    if owner != os.geteuid():
        raise Refused(
            errno.EPERM,
            f"{directory} belongs to another user (uid {owner}); wrap keeps its state only "
            "in a directory of its own (set XDG_STATE_HOME)",
        )


# Each state directory's verdict, once per process: the path to use for it.
_trusted: dict[str, str] = {}


def trusted_state(path: str) -> str:
    """PATH (wrap's state directory) when it may be trusted, else a new empty private directory
    that stands in for it during this run, after one line saying why and what to do.

    Every read of wrap's state (records, suspensions, kept tokens, pending recoveries, the
    config cache) would otherwise take the word of whoever could write there: another user's
    planted `token_url` would receive the refresh token. The stand-in is never removed: a new
    refresh token that could not be written may be kept only there (its path is said)."""
    use = _trusted.get(path)
    if use is None:
        found = untrusted_state(path)
        if found is None:
            use = path
        else:
            import tempfile

            directory, why = found
            use = tempfile.mkdtemp(prefix="wrap-state-")  # 0700, this user's
            _warn(
                f"the state directory {directory} {why}, so wrap uses none of its state for "
                f"this run: make it yours and private (chown $(id -u) {directory} && chmod 700 "
                f"{directory}), or set XDG_STATE_HOME to a directory of your own"
            )
        _trusted[path] = use
    return use


untrusted_state = gate.untrusted_state


_said: set[str] = set()


class Refused(OSError):
    """A write wrap will not make (its strerror is the whole one-line reason)."""


def atomic_write(
    path: str,
    data: bytes,
    *,
    backup_dir: str | None = None,
    keep: int = 5,
    warn: Callable[[str], None] | None = None,
) -> None:
    """Replace PATH's content with DATA so that a crash leaves the whole old or the whole new file.

    A symlink is written through to its target (the link stays a link); the file keeps its mode
    without group or other bits (0600 when new; WARN says so once when it had them) and its
    owner and group (root writing a user's file leaves it the user's). A backup that cannot be
    made is WARNed about and does not stop the write. On any failure the original is untouched
    and WriteError names the path.
    """

    def say(message: str) -> None:
        # Once per process: a refresh that rotates the token writes the file twice.
        if message not in _said:
            _said.add(message)
            (warn or _warn)(message)

    target = os.path.realpath(path)
    directory = os.path.dirname(target)
    try:
        st: os.stat_result | None = os.stat(target)
    except FileNotFoundError:
        st = None
    mode = FILE_MODE if st is None else st.st_mode & 0o7777
    if mode & 0o077:
        say(f"{path} was readable or writable by others (mode {mode & 0o777:03o}); writing it 0600")
        mode &= ~0o077
    try:
        ensure_dir(directory)
        if st is not None and backup_dir is not None:
            try:
                _backup(target, backup_dir, keep)
            except OSError as e:
                say(f"could not back up {path} ({_reason(e)}); writing it anyway")
        _replace(target, data, mode, owner=None if st is None else (st.st_uid, st.st_gid))
    except OSError as e:
        raise WriteError(f"cannot write {path}: {_reason(e)}; the file was left as it was") from e
    _prune_temp_files(directory, os.path.basename(target))


def _replace(target: str, data: bytes, mode: int, owner: tuple[int, int] | None = None) -> None:
    import tempfile

    directory = os.path.dirname(target)
    fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(target)}.", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "wb") as f:
            if owner is not None:
                _keep_owner(f.fileno(), owner)
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


def _keep_owner(fd: int, owner: tuple[int, int]) -> None:
    """Give the new file the old one's owner and group before it replaces it; refuse when the
    owner cannot be kept (the user would be locked out of their own file)."""
    uid, gid = owner
    st = os.fstat(fd)
    if (st.st_uid, st.st_gid) == (uid, gid):
        return
    try:
        os.fchown(fd, uid, gid)
    except OSError:
        if st.st_uid != uid:
            raise Refused(
                errno.EPERM, f"it belongs to uid {uid}, and a new file could not be given to it"
            ) from None
        # Only the group could not be kept: the file is 0600, so the group had nothing anyway.


# mkstemp's names beside the target: `.<name>.<random>.tmp`. One this old was left by a
# process that died mid-write (a write takes milliseconds), and may hold a token.
STALE_TEMP_AFTER = 3600.0


def _prune_temp_files(directory: str, name: str) -> None:
    import stat

    prefix = f".{name}."
    try:
        entries = os.listdir(directory)
    except OSError:
        return
    me = os.geteuid()
    for entry in entries:
        if not (entry.startswith(prefix) and entry.endswith(".tmp")):
            continue
        full = os.path.join(directory, entry)
        try:
            st = os.lstat(full)
            mine = st.st_uid == me or me == 0
            if stat.S_ISREG(st.st_mode) and mine and time.time() - st.st_mtime > STALE_TEMP_AFTER:
                os.unlink(full)
        except OSError:
            pass


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
    # BACKUP_DIR is <state dir>/backups/<file's key>: both levels and the state dir are checked.
    ensure_private_dir(os.path.dirname(backup_dir))
    ensure_private_dir(backup_dir)
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


def write_private(path: str, data: bytes, *, own_dir: bool = True) -> None:
    """Atomically write a small private file (0600) whose directory is created 0700 and must
    be this user's (OWN_DIR). The rename replaces a symlink planted at PATH; it never follows it."""
    if own_dir:
        ensure_private_dir(os.path.dirname(path))
    else:
        ensure_dir(os.path.dirname(path))
    _replace(path, data, FILE_MODE)


read_private = gate.read_private


def _warn(message: str) -> None:
    from launcher.log import Log

    Log().warn(message)


def _reason(e: OSError) -> str:
    if isinstance(e, Refused):
        return str(e.strerror)
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
            # Anywhere it can be written: a last resort that must not be refused.
            write_private(target, data, own_dir=False)
            return target
        except OSError as e:
            last = e
    assert last is not None
    raise last
