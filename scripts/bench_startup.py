#!/usr/bin/env python3
"""Startup cost of the hot path, measured side by side in one invocation.

Runs, interleaved, N times each:
  a) wrap-claude with a fresh token, exec'ing `true` (found on PATH as `claude`)
  b) a minimal standard-library gate doing the same (read JSON, compare, execvp)
  c) python3 -c pass
  d) wrap-claude reading the token from the macOS Keychain through a STAND-IN `security` (a
     shell script printing the entry; the real Keychain cannot run here): what one `security`
     process adds to a launch
  e) wrap-claude with the same config file but store = "file", the baseline for d)
and prints the median wall time of each and the ratio a/b (target: at most 1.25).

Usage: python scripts/bench_startup.py [N]
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

MINIMAL_GATE = """
import json, os, sys, time
p = os.path.expanduser("~/.claude/.credentials.json")
with open(p, "rb") as f:
    o = json.loads(f.read())["claudeAiOauth"]
if o["expiresAt"] / 1000 - time.time() <= 7 * 86400:
    sys.stderr.write("would refresh\\n")
os.execvp("claude", ["claude"])
"""


def main() -> int:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 40
    python = sys.executable
    wrap_claude = shutil.which("wrap-claude", path=os.path.dirname(python)) or shutil.which(
        "wrap-claude"
    )
    if wrap_claude is None:
        print(
            "wrap-claude is not installed in this environment (pip install -e .)", file=sys.stderr
        )
        return 2
    with tempfile.TemporaryDirectory() as home:
        os.makedirs(os.path.join(home, ".claude"), mode=0o700)
        creds = {
            "claudeAiOauth": {
                "accessToken": "bench-access",
                "refreshToken": "bench-refresh",
                "expiresAt": int((time.time() + 300 * 86400) * 1000),
            }
        }
        with open(os.path.join(home, ".claude", ".credentials.json"), "w") as f:
            json.dump(creds, f)
        bindir = os.path.join(home, "bin")
        os.mkdir(bindir)
        os.symlink(shutil.which("true") or "/bin/true", os.path.join(bindir, "claude"))
        env = {
            "HOME": home,
            "PATH": bindir + os.pathsep + os.environ.get("PATH", ""),
            "LANG": "C.UTF-8",
        }
        keychain_env = _keychain_stand_in(home, bindir, creds, env)
        commands = {
            "a) wrap-claude": ([wrap_claude], env),
            "b) minimal stdlib gate": ([python, "-c", MINIMAL_GATE], env),
            "c) python -c pass": ([python, "-c", "pass"], env),
            "d) wrap-claude, Keychain": ([wrap_claude], keychain_env),
            "e) wrap-claude, config": ([wrap_claude], _same_config_file_store(home, keychain_env)),
        }
        for argv, cmd_env in commands.values():  # warm caches and .pyc files
            subprocess.run(argv, env=cmd_env, check=True)
        times: dict[str, list[float]] = {k: [] for k in commands}
        for _ in range(n):
            for name, (argv, cmd_env) in commands.items():
                start = time.perf_counter()
                subprocess.run(argv, env=cmd_env, check=True)
                times[name].append(time.perf_counter() - start)
    medians = {k: statistics.median(v) for k, v in times.items()}
    for name, m in medians.items():
        print(f"{name:26s} median {m * 1000:7.2f} ms  (n={n})")
    ratio = medians["a) wrap-claude"] / medians["b) minimal stdlib gate"]
    print(f"ratio a/b: {ratio:.3f}  (target <= 1.25)")
    extra = (medians["d) wrap-claude, Keychain"] - medians["e) wrap-claude, config"]) * 1000
    print(f"d-e: {extra:.2f} ms for one (stand-in) `security` read")
    return 0


def _keychain_stand_in(
    home: str, bindir: str, creds: dict[str, object], env: dict[str, str]
) -> dict[str, str]:
    """A `security` that prints the Keychain entry, and a config choosing the Keychain."""
    entry = os.path.join(home, "keychain-entry.json")
    with open(entry, "w") as f:
        json.dump(creds, f)
    tool = os.path.join(bindir, "security")
    with open(tool, "w") as f:
        f.write("#!/bin/sh\n# stand-in for macOS security find-generic-password -w\n")
        f.write(f'cat "{entry}"\n')
    os.chmod(tool, 0o755)
    config = os.path.join(home, "keychain.toml")
    with open(config, "w") as f:
        f.write('[profiles.claude]\nstore = "keychain"\n')
    return {**env, "WRAP_CONFIG": config, "USER": "bench"}


def _same_config_file_store(home: str, env: dict[str, str]) -> dict[str, str]:
    config = os.path.join(home, "file.toml")
    with open(config, "w") as f:
        f.write('[profiles.claude]\nstore = "file"\n')
    return {**env, "WRAP_CONFIG": config}


if __name__ == "__main__":
    sys.exit(main())
