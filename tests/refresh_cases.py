"""The built-in profiles as the refresh tests drive them through the console scripts: each
one's fixture installed under a throw-away HOME, its stand-in program on PATH, and the
refresh token its file holds now (read with the profile's own parser)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from conftest import BIN, FIXTURES, ROOT, Home

from launcher import credentials, profiles

# profile -> (fixture, file under HOME); every fixture's token has expired, so each is due.
FILES = {
    "claude": ("claude.credentials.json", ".claude/.credentials.json"),
    "codex": ("codex.auth.json", ".codex/auth.json"),
    "gemini": ("gemini.oauth_creds.json", ".gemini/oauth_creds.json"),
    "qwen": ("qwen.oauth_creds.json", ".qwen/oauth_creds.json"),
    "kiro": ("kiro-auth-token.social.json", ".aws/sso/cache/kiro-auth-token.json"),
    "iflow": ("iflow.oauth_creds.json", ".iflow/oauth_creds.json"),
}


def install(home: Home, name: str) -> Path:
    """NAME's fixture at its place under HOME (0600), and its program on PATH."""
    fixture, rel = FILES[name]
    target = home.root / rel
    target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    shutil.copy(FIXTURES / fixture, target)
    target.chmod(0o600)
    program = home.bin / profiles.BUILTIN[name].programs[0]
    if not program.exists():
        program.write_text(
            f"#!{sys.executable}\n" + (ROOT / "tests" / "bin" / "fake_claude.py").read_text()
        )
        program.chmod(0o755)
    return target


def refresh_token(name: str, path: Path) -> str | None:
    _, creds = credentials.parse(profiles.BUILTIN[name], path.read_bytes(), str(path))
    return creds.refresh_token


def start(home: Home, name: str, env: dict[str, str], *args: str) -> subprocess.Popen[str]:
    """`wrap PROGRAM` for profile NAME (the gate), or `wrap ARGS...` when ARGS are given."""
    argv = [str(BIN / "wrap"), *(args or (profiles.BUILTIN[name].programs[0],))]
    return subprocess.Popen(
        argv,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
