"""The refresh request's headers as the vendors' CLIs send them.

Some of them describe the machine (codex 0.169.0: `codex_exec/0.169.0 (Debian 12.0.0; x86_64)
xterm`, from the os_info crate and the terminal); the profile's header templates name those
parts as {os}, {os_version}, {arch} and {terminal}. {codex_version} (any `<cli>_version`) is
the installed CLI's version, as its own request would name it, read beside the program
(launcher/vendors/installed.py), else the newest version wrap was checked with.
"""

from __future__ import annotations

import os
import platform
import string

TYPE_CHECKING = False  # typing itself costs ~2 ms of import, paid by every launch that waits
if TYPE_CHECKING:
    from collections.abc import Mapping


def headers(templates: Mapping[str, str], env: Mapping[str, str] | None = None) -> dict[str, str]:
    env = os.environ if env is None else env
    if not any("{" in value for value in templates.values()):
        return dict(templates)
    facts = machine(env)
    out = {}
    for name, template in templates.items():
        fields = {f for _, f, _, _ in string.Formatter().parse(template) if f}
        for field in fields - facts.keys():
            if field.endswith("_version"):
                facts[field] = cli_version(field.removesuffix("_version"), env)
        out[name] = template.format(**{f: facts.get(f, "") for f in fields})
    return out


def cli_version(cli: str, env: Mapping[str, str]) -> str:
    from launcher.vendors import installed

    return installed.program_version((cli,), env) or installed.checked(cli) or "unknown"


def machine(env: Mapping[str, str]) -> dict[str, str]:
    name, version = _os()
    return {
        "os": name,
        "os_version": version,
        "arch": platform.machine() or "unknown",
        "terminal": env.get("TERM_PROGRAM") or env.get("TERM") or "unknown",
    }


def _os() -> tuple[str, str]:
    if platform.system() == "Darwin":
        return "Mac OS", _semver(platform.mac_ver()[0])
    if platform.system() == "Linux":
        try:
            info = platform.freedesktop_os_release()
        except OSError:
            return "Linux", _semver(platform.release().split("-")[0])
        name = info.get("NAME", "Linux").split(" ")[0]
        return name, _semver(info.get("VERSION_ID", ""))
    return platform.system() or "unknown", _semver(platform.release())


def _semver(version: str) -> str:
    # os_info prints three numbers: Debian's "12" is "12.0.0".
    parts = [p for p in version.split(".") if p.isdigit()][:3]
    if not parts:
        return "unknown"
    return ".".join(parts + ["0"] * (3 - len(parts)))
