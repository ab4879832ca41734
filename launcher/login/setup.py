"""The vendor's setup command (`claude setup-token`) under a pty, with the user's terminal
attached: they see its URL and paste the code as usual; we capture the token it prints.

Our own copy loop rather than pexpect's interact(): it needs a deadline, and it masks the token
on the screen (a kindness: the terminal's scrollback is not a secret store). The masking and
the token read are one parse of the output (launcher/login/mask.py).
"""

from __future__ import annotations

import os
import select
import signal
import time
from typing import TYPE_CHECKING

from launcher.errors import Interrupted, LoginError
from launcher.login.mask import MASK, PREFIX, Masker

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence
    from typing import Any

__all__ = ["MASK", "PREFIX", "Failed", "Masker", "run", "run_pty"]


def run(command: Sequence[str], **kw: Any) -> str:
    """Run COMMAND with the terminal attached; return the token it printed, or LoginError."""
    masker = Masker()
    run_pty(command, masker=masker, **kw)
    name = " ".join(command)
    if masker.unsure:
        # A line of token characters after the token: a wrap at a width we do not know, or
        # not; storing a token cut in two would report a login that does not work.
        raise LoginError(
            f"'{name}' printed the token in a shape wrap cannot read for sure (broken across "
            "lines); nothing changed: run it yourself and set the token by hand"
        )
    if not masker.tokens:
        raise LoginError(f"'{name}' finished without printing a token; nothing changed")
    return masker.tokens[-1].decode("ascii")


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
    masker: Masker | None = None,
) -> bytes:
    """Run COMMAND under a pty with the terminal attached (masked through MASKER, Ctrl-C and
    window size passed through, a deadline); return what it printed once it exits 0, else
    LoginError (Failed, with the output, for a non-zero exit)."""
    import pexpect

    name = " ".join(command)
    try:
        child = (spawn or pexpect.spawn)(
            command[0], list(command[1:]), env=dict(env), dimensions=_size(stdout_fd)
        )
    except pexpect.ExceptionPexpect as e:
        raise LoginError(f"cannot run '{name}': {e}") from None
    # The screen's width tells a token hard-wrapped at it from one that ended at a line break.
    masker = masker or Masker()
    masker.width = _size(stdout_fd)[1]
    captured = bytearray()
    restore = _raw(stdin_fd)

    def resize(signum: int, frame: object) -> None:
        rows, cols = _size(stdout_fd)
        child.setwinsize(rows, cols)
        masker.width = cols

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
            # No pause releases what the masker holds: only a token's body is held, and the
            # rest of the output (its public prefix included) is shown as it arrives.
            try:
                ready, _, _ = select.select(fds, [], [], min(remaining, 0.5))
            except InterruptedError:
                continue
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
        raise Interrupted(f"'{name}' was interrupted; nothing changed")
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
