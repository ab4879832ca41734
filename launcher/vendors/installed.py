"""Which version of a vendor's CLI is installed, read from files beside the program.

Never by running it: `claude --version` starts a 200 MB binary (Node's for gemini), far more
than a status line may cost. npm puts every CLI in a package whose `package.json` sits a few
directories above the file that PATH's link resolves to; Claude's native installer keeps each
release as `.../claude/versions/<version>`. Not for the launch path: status, doctor and the
refresh request (codex names its version in its User-Agent) call it.
"""

from __future__ import annotations

import json
import os
import re

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping

# The npm packages whose version is the CLI's: the wrapper and, for the native builds, the
# per-platform package (whose version codex suffixes with the platform: 0.171.0-linux-x64).
PACKAGES = {
    "@anthropic-ai/claude-code": "claude",
    "@openai/codex": "codex",
    "@google/gemini-cli": "gemini",
    "@qwen-code/qwen-code": "qwen",
}
_PLATFORM_PACKAGE = re.compile(r"^(@anthropic-ai/claude-code|@openai/codex)-(linux|darwin|win32)-")
_PLATFORM_SUFFIX = re.compile(r"-(linux|darwin|win32)-[a-z0-9]+$")
_VERSION = re.compile(r"^\d+\.\d+\.\d+(?:-[0-9A-Za-z.-]+)?$")
# bin/ or vendor/<triple>/bin/ inside the package: the deepest layout checked is codex's.
_LEVELS = 5


def cli_version(program_path: str) -> str | None:
    """The version of the CLI at PROGRAM_PATH (a link on PATH or the file itself), or None
    when nothing beside it says (not an npm or native install of a known CLI)."""
    try:
        real = os.path.realpath(program_path)
    except (OSError, ValueError):
        return None
    parent = os.path.dirname(real)
    if os.path.basename(parent) == "versions" and _VERSION.match(os.path.basename(real)):
        return os.path.basename(real)  # Claude's native installer
    directory = parent
    for _ in range(_LEVELS):
        found = _package(os.path.join(directory, "package.json"))
        if found is not None:
            return found
        up = os.path.dirname(directory)
        if up == directory:
            break
        directory = up
    return None


def _package(path: str) -> str | None:
    try:
        with open(path, "rb") as f:
            doc = json.loads(f.read(1 << 20))
    except (OSError, ValueError):
        return None
    if not isinstance(doc, dict):
        return None
    name, version = doc.get("name"), doc.get("version")
    if not isinstance(name, str) or not isinstance(version, str):
        return None
    if name not in PACKAGES and not _PLATFORM_PACKAGE.match(name):
        return None
    version = _PLATFORM_SUFFIX.sub("", version)
    return version if _VERSION.match(version) else None


def checked(cli: str) -> str | None:
    """The newest version of CLI whose facts wrap was checked with (its vendor module says)."""
    import importlib

    try:
        module = importlib.import_module(f"launcher.vendors.{cli}")
    except ImportError:
        return None
    value = getattr(module, "CHECKED", None)
    return value if isinstance(value, str) else None


def newer_than_checked(cli: str, version: str | None) -> str | None:
    """The line to show when the installed VERSION of CLI is newer than wrap's checks."""
    newest = checked(cli)
    if version is None or newest is None or version_key(version) <= version_key(newest):
        return None
    return (
        f"{cli} {version} is newer than wrap's checks ({newest}): run scripts/check-vendors, "
        "or report it"
    )


def version_key(version: str) -> tuple[tuple[int, ...], int]:
    """Release numbers, then a release above its own pre-releases (0.172.0-alpha.1)."""
    release, _, pre = version.partition("-")
    numbers = tuple(int(p) if p.isdigit() else 0 for p in release.split("."))
    return numbers, 0 if pre else 1


def program_version(programs: tuple[str, ...], env: Mapping[str, str]) -> str | None:
    """The version of the first of PROGRAMS found on PATH (passing over wrap's own launchers),
    or None; `WRAP_CLAUDE_BIN` names claude's, as for the launch."""
    from launcher.errors import WrapError
    from launcher.execute import find_program

    for name in programs:
        explicit = env.get("WRAP_CLAUDE_BIN") if name == "claude" else None
        try:
            path = find_program(explicit or name, env, skip_self=True)
        except WrapError:
            continue
        return cli_version(path)
    return None
