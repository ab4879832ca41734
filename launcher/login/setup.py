"""The vendor's setup command (`claude setup-token`) under a pty, with the user's terminal
attached: they see its URL and paste the code as usual; we capture the token it prints.

Our own copy loop rather than pexpect's interact(): it needs a deadline, and it masks the token
on the screen (a kindness: the terminal's scrollback is not a secret store).
"""

from __future__ import annotations

import os
import re
import select
import signal
import time
from typing import TYPE_CHECKING

from launcher.errors import LoginError

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence
    from typing import Any

# Claude's long-lived OAuth token; what follows the prefix is URL-safe base64.
TOKEN = re.compile(rb"sk-ant-oat01-[A-Za-z0-9_\-]+")
PREFIX = b"sk-ant-oat01-"
MASK = PREFIX + b"********"


class Masker:
    """Replaces tokens in a byte stream, holding back a tail that may be an unfinished one."""

    def __init__(self) -> None:
        self.pending = b""

    def feed(self, data: bytes) -> bytes:
        buf = self.pending + data
        cut = len(buf)
        matches = list(TOKEN.finditer(buf))
        last = matches[-1] if matches else None
        if last is not None and last.end() == len(buf):
            cut = last.start()  # the token may go on in the next chunk
        else:
            for n in range(min(len(PREFIX), len(buf)), 0, -1):
                if PREFIX.startswith(buf[-n:]):
                    cut = len(buf) - n
                    break
        self.pending = buf[cut:]
        return TOKEN.sub(MASK, buf[:cut])

    def flush(self) -> bytes:
        out, self.pending = TOKEN.sub(MASK, self.pending), b""
        return out


def run(command: Sequence[str], **kw: Any) -> str:
    """Run COMMAND with the terminal attached; return the token it printed, or LoginError."""
    captured = run_pty(command, **kw)
    found = TOKEN.findall(captured)
    if not found:
        raise LoginError(
            f"'{' '.join(command)}' finished without printing a token; nothing changed"
        )
    return str(found[-1].decode("ascii"))


class Failed(LoginError):
    """The command exited non-zero; OUTPUT is everything it printed (to say what it said)."""

    def __init__(self, message: str, output: bytes, status: int | None) -> None:
        super().__init__(message)
        self.output = output
        self.status = status


def run_pty(
    command: Sequence[str],
    *,
    env: Mapping[str, str],
    timeout: float,
    stdin_fd: int = 0,
    stdout_fd: int = 1,
    spawn: Callable[..., Any] | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> bytes:
    """Run COMMAND under a pty with the terminal attached (masked, Ctrl-C and window size
    passed through, a deadline); return what it printed once it exits 0, else LoginError."""
    import pexpect

    name = " ".join(command)
    try:
        child = (spawn or pexpect.spawn)(
            command[0], list(command[1:]), env=dict(env), dimensions=_size(stdout_fd)
        )
    except pexpect.ExceptionPexpect as e:
        raise LoginError(f"cannot run '{name}': {e}") from None
    captured = bytearray()
    masker = Masker()
    restore = _raw(stdin_fd)

    def resize(signum: int, frame: object) -> None:
        rows, cols = _size(stdout_fd)
        child.setwinsize(rows, cols)

    old_winch = signal.signal(signal.SIGWINCH, resize)
    deadline = clock() + timeout
    reading_stdin = True
    try:
        while True:
            remaining = deadline - clock()
            if remaining <= 0:
                child.terminate(force=True)
                raise LoginError(f"'{name}' did not finish within {timeout:.0f} s; nothing changed")
            fds = [child.child_fd] + ([stdin_fd] if reading_stdin else [])
            # A held-back tail (a possible token's start) is shown once output pauses, so a
            # prompt ending in "s" is not kept from the user.
            wait = min(remaining, 0.1 if masker.pending else 0.5)
            try:
                ready, _, _ = select.select(fds, [], [], wait)
            except InterruptedError:
                continue
            if not ready and masker.pending:
                os.write(stdout_fd, masker.flush())
            if child.child_fd in ready:
                try:
                    data = os.read(child.child_fd, 4096)
                except OSError:
                    data = b""  # EIO: the child closed its side
                if not data:
                    break
                captured += data
                os.write(stdout_fd, masker.feed(data))
            if stdin_fd in ready:
                data = os.read(stdin_fd, 1024)
                if data:
                    # Ctrl-C arrives here as a byte (raw mode) and becomes SIGINT in the
                    # child's terminal, as if it ran on its own.
                    os.write(child.child_fd, data)
                else:
                    reading_stdin = False
    finally:
        os.write(stdout_fd, masker.flush())
        signal.signal(signal.SIGWINCH, old_winch)
        restore()
    child.close()
    if child.signalstatus is not None:
        raise LoginError(f"'{name}' was interrupted; nothing changed")
    if child.exitstatus != 0:
        raise Failed(
            f"'{name}' failed (exit status {child.exitstatus}); nothing changed",
            bytes(captured),
            child.exitstatus,
        )
    return bytes(captured)


def _size(fd: int) -> tuple[int, int]:
    try:
        size = os.get_terminal_size(fd)
    except OSError:
        return 24, 80
    return size.lines, size.columns


def _raw(fd: int) -> Callable[[], None]:
    """Put the terminal in raw mode (keys go to the child as typed); return the undo."""
    if not os.isatty(fd):
        return lambda: None
    import termios
    import tty

    saved = termios.tcgetattr(fd)
    tty.setraw(fd)
    return lambda: termios.tcsetattr(fd, termios.TCSADRAIN, saved)
