"""Finding the program and replacing this process with it (exec: same PID, same stdio), with
the errors and exit codes that say what went wrong.

The rules themselves (the PATH search that skips this launcher, the re-entry mark, the one call
of exec) are launcher/gate.py's, where a fresh launch uses them without loading this module.
"""

from __future__ import annotations

import os

from launcher import exitcodes, gate
from launcher.errors import ExecError

TYPE_CHECKING = False  # typing itself costs ~4 ms of import on the launch path
if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, MutableMapping, Sequence

ACTIVE = gate.ACTIVE
mark = gate.mark


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
    was re-entered (see gate.ACTIVE): then every launcher, and whatever led back here, is
    skipped, and SAY is told in one line."""
    real = real_name or os.path.basename(name)
    looped = gate.looped(env.get(ACTIVE), real)
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
    found = gate.which(name, env, skip)
    if found is not None:
        return found
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


def reentered(name: str, env: Mapping[str, str]) -> bool:
    """Whether this process was re-entered for NAME: the first pass already gated it."""
    return gate.looped(env.get(ACTIVE), name) is not None


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
    e = gate.exec_marked(path, argv0, args, name=name, execv=execv, environ=environ)
    if isinstance(e, FileNotFoundError):
        raise ExecError(f"{path} was not found", exitcodes.NOT_FOUND) from None
    if isinstance(e, PermissionError):
        raise ExecError(
            f"{path} cannot be executed: permission denied (chmod +x {path}?)",
            exitcodes.CANNOT_EXECUTE,
        ) from None
    if e.strerror is not None:
        raise ExecError(
            f"{path} cannot be executed: {e.strerror}", exitcodes.CANNOT_EXECUTE
        ) from None
    raise ExecError(f"exec of {path} returned", exitcodes.CANNOT_EXECUTE)
