#!/usr/bin/env python3
"""The gate end to end, through the real code path, against a local OAuth token server.

Nothing here touches your real credentials: it builds a throw-away HOME with an expiring Claude
token (fake values), a stand-in `claude`, and a token endpoint on 127.0.0.1, then runs the
installed `wrap` and `wrap-claude` commands in it. If you do have ~/.claude/.credentials.json,
it first shows what `wrap --check-only` says about it (read-only).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from token_server import TokenServer

BIN = Path(sys.executable).parent
STAND_IN = """#!/bin/sh
echo "  [stand-in claude] pid $$, args: $*"
"""


def run(title: str, argv: list[str], env: dict[str, str]) -> int:
    print(f"\n$ {' '.join(argv)}    # {title}")
    r = subprocess.run(
        [str(BIN / argv[0]), *argv[1:]],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        check=False,
    )
    for line in r.stdout.splitlines():
        print(f"  {line}")
    print(f"  (exit {r.returncode})")
    return r.returncode


def main() -> int:
    real = Path.home() / ".claude" / ".credentials.json"
    if real.exists():
        print(f"Your own credentials at {real} (read-only check):")
        run("your real token", ["wrap", "--check-only"], dict(os.environ))

    with tempfile.TemporaryDirectory() as tmp, TokenServer(expires_in=8 * 3600) as server:
        home = Path(tmp)
        (home / ".claude").mkdir(mode=0o700)
        creds = home / ".claude" / ".credentials.json"
        creds.write_text(
            json.dumps(
                {
                    "claudeAiOauth": {
                        "accessToken": "demo-access-token",
                        "refreshToken": "demo-refresh-token",
                        "expiresAt": int((time.time() + 2 * 3600) * 1000),
                        "scopes": ["user:inference"],
                        "subscriptionType": "max",
                    },
                    "mcpOAuth": {"kept": "untouched"},
                },
                indent=2,
            )
        )
        creds.chmod(0o600)
        bindir = home / "bin"
        bindir.mkdir()
        (bindir / "claude").write_text(STAND_IN)
        (bindir / "claude").chmod(0o755)
        env = {
            "HOME": str(home),
            "PATH": f"{bindir}{os.pathsep}{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
            "LANG": "C.UTF-8",
            "WRAP_TOKEN_URL": server.url,
            "WRAP_LOG": "debug",
        }
        print(f"\nDemo HOME {home}; local token endpoint {server.url}")
        print("The demo token expires in 2 hours, inside the 7-day threshold.")
        run("before: expiring", ["wrap", "--check-only"], env)
        run("the gate refreshes, then execs claude", ["wrap-claude", "-p", "hello"], env)
        run("after: fresh (threshold is now half the 8 h lifetime)", ["wrap", "--check-only"], env)
        run("a second launch: no network, no lock, no write", ["wrap-claude", "--version"], env)
        run("every account on this (demo) machine", ["wrap", "status"], env)
        kept = json.loads(creds.read_text())
        print(f"\nRefresh requests the server saw: {server.refresh_requests}")
        print(f"Fields kept: {sorted(kept['claudeAiOauth'])} and mcpOAuth={kept['mcpOAuth']}")
        print(f"File mode: {oct(creds.stat().st_mode & 0o777)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
