"""The one place that replaces this process with the program (exec: same PID, same stdio)."""

from __future__ import annotations

import os
import sys

from launcher import exitcodes
from launcher.errors import ExecError

TYPE_CHECKING = False  # typing itself costs ~4 ms of import on the launch path
if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence

# A console script that pip wrote for this package names the module it runs.
_SIGNATURE = b"launcher.gate"


def find_program(
    name: str, env: Mapping[str, str], *, skip_self: bool = True, fix: str = ""
) -> str:
    """Resolve NAME on PATH, passing over any copy of this launcher (so `claude` -> wrap-claude
    installed early on PATH does not exec itself)."""
    if os.sep in name:
        return name
    me = os.path.realpath(sys.argv[0]) if sys.argv and sys.argv[0] else ""
    for directory in env.get("PATH", os.defpath).split(os.pathsep):
        candidate = os.path.join(directory or ".", name)
        if not os.path.isfile(candidate) or not os.access(candidate, os.X_OK):
            continue
        if skip_self and _is_launcher(candidate, me):
            continue
        return candidate
    skipped = " (wrap's own launchers are skipped)" if skip_self else ""
    raise ExecError(
        f"{name} was not found on PATH{skipped}: {fix or 'install it, or give its full path'}",
        exitcodes.NOT_FOUND,
    )


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
) -> None:
    """Replace this process; return only through ExecError (126/127)."""
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
