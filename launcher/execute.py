"""The one place that replaces this process with the program (exec: same PID, same stdio)."""

from __future__ import annotations

import os
import sys

from launcher import exitcodes
from launcher.errors import ExecError

TYPE_CHECKING = False  # typing itself costs ~4 ms of import on the launch path
if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, MutableMapping, Sequence

# A console script that pip wrote for this package names the module it runs.
_SIGNATURE = b"launcher.gate"
# Set just before exec: "<pid>:<depth>:<name>:<path>[:<path>...]", the programs this process
# chain exec'd for NAME. A wrap that starts with its own pid there was re-entered: what it
# exec'd (WRAP_CLAUDE_BIN=wrap-claude, a `claude` script that execs wrap-claude) leads back here.
ACTIVE = "WRAP_ACTIVE"
# A script that runs wrap-claude as a child instead (no exec) makes a chain of processes, each
# the child of the last: that many in a row is a loop too. Claude running claude from a tool
# nests once or twice.
MAX_DEPTH = 8


def find_program(
    name: str,
    env: Mapping[str, str],
    *,
    skip_self: bool = True,
    fix: str = "",
    real_name: str | None = None,
    say: Callable[[str], None] | None = None,
) -> str:
    """Resolve NAME on PATH, passing over any copy of this launcher (so `claude` -> wrap-claude
    installed early on PATH does not exec itself).

    REAL_NAME (default: NAME's base name) is the program looked for on PATH when this process
    was re-entered (see ACTIVE): then every launcher, and whatever led back here, is skipped,
    and SAY is told in one line."""
    real = real_name or os.path.basename(name)
    looped = _looped(env.get(ACTIVE), real)
    if looped is not None:
        if say is not None:
            say(
                f"{name} leads back to wrap itself; running the first other {real} on PATH "
                "(set WRAP_CLAUDE_BIN, or PATH, to the real one)"
            )
        return _search(real, env, skip=looped, fix=fix or f"install the real {real}")
    if os.sep in name:
        return name
    return _search(name, env, skip=set() if skip_self else None, fix=fix)


def _search(name: str, env: Mapping[str, str], *, skip: set[str] | None, fix: str) -> str:
    """The first executable NAME on PATH; SKIP (real paths) and launchers passed over unless
    SKIP is None."""
    me = os.path.realpath(sys.argv[0]) if sys.argv and sys.argv[0] else ""
    for directory in env.get("PATH", os.defpath).split(os.pathsep):
        candidate = os.path.join(directory or ".", name)
        if not os.path.isfile(candidate) or not os.access(candidate, os.X_OK):
            continue
        if skip is not None and (
            os.path.realpath(candidate) in skip or _is_launcher(candidate, me)
        ):
            continue
        return candidate
    skipped = " (wrap's own launchers are skipped)" if skip is not None else ""
    raise ExecError(
        f"{name} was not found on PATH{skipped}: {fix or _fix_for(name)}",
        exitcodes.NOT_FOUND,
    )


def _fix_for(name: str) -> str:
    """What to do about a missing NAME: a typo of a wrap command says which one it meant."""
    import difflib

    from launcher.main import SUBCOMMANDS

    match = difflib.get_close_matches(name, sorted(SUBCOMMANDS), n=1, cutoff=0.75)
    if match:
        return f"did you mean 'wrap {match[0]}'? (else install {name}, or give its full path)"
    return "install it, or give its full path"


def _parse(raw: str | None) -> tuple[int, int, str, list[str]] | None:
    if not raw:
        return None
    parts = raw.split(os.pathsep)
    try:
        return int(parts[0]), int(parts[1]), parts[2], parts[3:]
    except (ValueError, IndexError):
        return None


def reentered(name: str, env: Mapping[str, str]) -> bool:
    """Whether this process was re-entered for NAME: the first pass already gated it."""
    return _looped(env.get(ACTIVE), name) is not None


def _looped(raw: str | None, name: str) -> set[str] | None:
    """The programs that led back here when this wrap was re-entered for NAME; else None."""
    chain = _parse(raw)
    if chain is None or chain[2] != name:
        return None
    pid, depth, _, paths = chain
    if pid == os.getpid() or (pid == os.getppid() and depth >= MAX_DEPTH):
        return set(paths)
    return None


def mark(name: str, path: str, env: MutableMapping[str, str]) -> None:
    """Record in ENV (the one exec passes on) that this process is about to exec PATH for NAME."""
    chain = _parse(env.get(ACTIVE))
    depth, paths = 1, []
    if chain is not None and chain[2] == name:
        if chain[0] == os.getpid():
            depth, paths = chain[1], chain[3]
        elif chain[0] == os.getppid():
            depth, paths = chain[1] + 1, chain[3]
    real = os.path.realpath(path)
    paths = paths if real in paths else [*paths, real]
    env[ACTIVE] = os.pathsep.join([str(os.getpid()), str(depth), name, *paths])


def _is_launcher(candidate: str, me: str) -> bool:
    if os.path.realpath(candidate) == me:
        return True
    try:
        with open(candidate, "rb") as f:
            head = f.read(1024)
    except OSError:
        return False
    return head.startswith(b"#!") and _SIGNATURE in head


def exec_program(
    path: str,
    argv0: str,
    args: Sequence[str],
    *,
    execv: Callable[[str, list[str]], object] = os.execvp,
    name: str | None = None,
    environ: MutableMapping[str, str] = os.environ,
) -> None:
    """Replace this process; return only through ExecError (126/127).

    NAME (the program's own name) is recorded in ENVIRON's ACTIVE, which exec passes on, so
    that a PATH that leads back to wrap is caught at once instead of looping."""
    if name is not None:
        mark(name, path, environ)
    sys.stdout.flush()
    sys.stderr.flush()
    try:
        execv(path, [argv0, *args])
    except FileNotFoundError:
        raise ExecError(f"{path} was not found", exitcodes.NOT_FOUND) from None
    except PermissionError:
        raise ExecError(
            f"{path} cannot be executed: permission denied (chmod +x {path}?)",
            exitcodes.CANNOT_EXECUTE,
        ) from None
    except OSError as e:
        raise ExecError(
            f"{path} cannot be executed: {e.strerror}", exitcodes.CANNOT_EXECUTE
        ) from None
    raise ExecError(f"exec of {path} returned", exitcodes.CANNOT_EXECUTE)
