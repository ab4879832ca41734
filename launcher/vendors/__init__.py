"""The vendors' own conventions around a credentials file, one module per CLI.

Each module names the CLI versions its facts were observed in: they are undocumented, so a new
release is a change here, not a hunt through the refresh algorithm (launcher/refresh/ never
learns a vendor's name). Imported only on the slow path.

A vendor's locks come in two kinds, as Claude Code takes them:
- `refresh()`: held for the whole decision, request and write-back, so that wrap and the CLI
  never both send the same refresh token;
- `write()`: held around each write of the file, so that the re-check of the file just before
  the replace and the replace itself are one step against the CLI's other writers.
"""

from __future__ import annotations

import contextlib

from launcher.errors import Terminated

TYPE_CHECKING = False  # typing itself costs ~2 ms of import, paid by every launch that waits
if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Mapping


class Locks:
    """A CLI that takes no cross-process lock (gemini): nothing to hold."""

    def refresh(self) -> contextlib.AbstractContextManager[None]:
        return contextlib.nullcontext()

    def write(self) -> contextlib.AbstractContextManager[None]:
        return contextlib.nullcontext()


def locks_for(
    kind: str | None,
    credentials_path: str,
    env: Mapping[str, str],
    *,
    timeout: float,
    record_dir: str,
    clock: Callable[[], float],
    sleep: Callable[[float], None],
) -> Locks:
    """The locks the CLI behind KIND honours for CREDENTIALS_PATH (call under wrap's own lock)."""
    if kind == "claude":
        from launcher.vendors import claude

        return claude.ClaudeLocks(
            credentials_path, env, timeout=timeout, record_dir=record_dir, clock=clock, sleep=sleep
        )
    if kind == "codex":
        from launcher.vendors import codex

        return codex.CodexLocks(credentials_path, clock=clock, sleep=sleep)
    if kind == "qwen":
        from launcher.vendors import qwen

        return qwen.QwenLocks(credentials_path, timeout=timeout, clock=clock, sleep=sleep)
    return Locks()


@contextlib.contextmanager
def released_on_signals() -> Iterator[None]:
    """Turn SIGTERM and SIGHUP into an exception while vendor locks are held, so that the
    `finally` blocks remove the lock directories instead of leaving them for the CLI to wait
    out (10 to 60 s). Only the main thread can install handlers; elsewhere this is a no-op."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def stop(signum: int, frame: object) -> None:
        # While a request is out, refresh/deferral.py holds the signal and calls this after
        # the answer is saved: raising then cannot lose the rotated token.
        raise Terminated(signum)

    # A process with its own handler keeps it (keepalive's stop request).
    previous = {
        s: signal.signal(s, stop)
        for s in (signal.SIGTERM, signal.SIGHUP)
        if signal.getsignal(s) is signal.SIG_DFL
    }
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


def shared_lock(kind: str | None, credentials_path: str, env: Mapping[str, str]) -> str | None:
    """Where the lock the CLI behind KIND takes for CREDENTIALS_PATH lives, which every file in
    that folder shares (Claude's config dir for its own file); None for a CLI without one.
    Refreshes of files that share one wait for each other: run them one after another."""
    import os

    if kind is None:
        return None
    if kind == "claude":
        from launcher.vendors import claude

        return claude.lock_dir(credentials_path, env)
    return os.path.dirname(os.path.abspath(credentials_path))
