#!/usr/bin/env python3
"""Startup cost of every launch path with a fresh token, measured side by side in one invocation.

Runs, interleaved, N times each (every program found on PATH as `claude` is `true`):
  a) wrap-claude
  b) a minimal standard-library gate installed the same way: the installed wrap-claude script
     itself (same interpreter, same console-script template and its `import re`) with the
     import of wrap replaced by a function that reads the JSON, compares and execvp's
  c) wrap claude                        (how gemini, codex and qwen are aliased)
  d) wrap --profile claude claude
  e) wrap --check-only                  (the CI pre-step)
  f) wrap --check-only --json
  g) python -c pass
  h) wrap-claude reading the token from the macOS Keychain through a STAND-IN `security` (a
     shell script printing the entry; the real Keychain cannot run here): what one `security`
     process adds to a launch
  i) wrap-claude with the same config file but store = "file", the baseline for h)
and prints the median wall time and peak RSS of each, and each ratio against b) with its
target (wrap-claude 1.05, the `wrap` paths 1.10).

Usage: python scripts/bench_startup.py [N]
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import benchlib

MINIMAL_GATE = """
def main_claude():
    import json, os, time
    p = os.path.expanduser("~/.claude/.credentials.json")
    with open(p, "rb") as f:
        o = json.loads(f.read())["claudeAiOauth"]
    if o["expiresAt"] / 1000 - time.time() <= 7 * 86400:
        sys.stderr.write("would refresh\\n")
    os.execvp("claude", ["claude", *sys.argv[1:]])
"""

TARGETS = {
    "a) wrap-claude": 1.05,
    "c) wrap claude": 1.10,
    "d) wrap --profile claude claude": 1.10,
    "e) wrap --check-only": 1.10,
    "f) wrap --check-only --json": 1.10,
}


def installed(name: str) -> str | None:
    return shutil.which(name, path=os.path.dirname(sys.executable)) or shutil.which(name)


def wrap_scripts() -> tuple[str, str]:
    """The installed wrap-claude and wrap, or exit 2 saying how to install them."""
    wrap_claude, wrap = installed("wrap-claude"), installed("wrap")
    if wrap_claude is None or wrap is None:
        print("wrap is not installed in this environment (pip install -e .)", file=sys.stderr)
        raise SystemExit(2)
    return wrap_claude, wrap


def minimal_gate_script(wrap_claude: str, where: str) -> str:
    """wrap-claude's own console script with wrap's import replaced by the minimal gate."""
    with open(wrap_claude) as f:
        text = f.read()
    line = "from launcher.gate import main_claude\n"
    if line not in text:
        raise SystemExit(f"{wrap_claude} is not the console script this benchmark expects")
    path = os.path.join(where, "minimal-gate")
    with open(path, "w") as f:
        f.write(text.replace(line, MINIMAL_GATE.lstrip()))
    os.chmod(path, 0o755)
    return path


CREDS = {
    "claudeAiOauth": {
        "accessToken": "bench-access",
        "refreshToken": "bench-refresh",
        "expiresAt": int((time.time() + 300 * 86400) * 1000),
    }
}


def fresh_home(home: str) -> dict[str, str]:
    """HOME with a token fresh for 300 days and `claude` as `true`; the environment to run in."""
    os.makedirs(os.path.join(home, ".claude"), mode=0o700)
    with open(os.path.join(home, ".claude", ".credentials.json"), "w") as f:
        json.dump(CREDS, f)
    bindir = os.path.join(home, "bin")
    os.mkdir(bindir)
    os.symlink(shutil.which("true") or "/bin/true", os.path.join(bindir, "claude"))
    return {
        "HOME": home,
        "PATH": bindir + os.pathsep + os.environ.get("PATH", ""),
        "LANG": "C.UTF-8",
    }


def main() -> int:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 40
    python = sys.executable
    wrap_claude, wrap = wrap_scripts()
    with tempfile.TemporaryDirectory() as home:
        env = fresh_home(home)
        bindir = os.path.join(home, "bin")
        keychain_env = _keychain_stand_in(home, bindir, CREDS, env)
        commands = {
            "a) wrap-claude": ([wrap_claude], env),
            "b) minimal gate": ([minimal_gate_script(wrap_claude, home)], env),
            "c) wrap claude": ([wrap, "claude"], env),
            "d) wrap --profile claude claude": ([wrap, "--profile", "claude", "claude"], env),
            "e) wrap --check-only": ([wrap, "--check-only"], env),
            "f) wrap --check-only --json": ([wrap, "--check-only", "--json"], env),
            "g) python -c pass": ([python, "-c", "pass"], env),
            "h) wrap-claude, Keychain": ([wrap_claude], keychain_env),
            "i) wrap-claude, config": ([wrap_claude], _same_config_file_store(home, keychain_env)),
        }
        for argv, cmd_env in commands.values():  # warm caches and .pyc files
            benchlib.timed(argv, cmd_env)
        times: dict[str, list[float]] = {k: [] for k in commands}
        for _ in range(n):
            for name, (argv, cmd_env) in commands.items():
                times[name].append(benchlib.timed(argv, cmd_env))
        # Memory in runs of its own: GNU time's fork would blur the timings.
        peak = {k: benchlib.peak_rss_kib(*commands[k]) for k in commands}
    medians = {k: statistics.median(v) for k, v in times.items()}
    base = medians["b) minimal gate"]
    print(f"load average {benchlib.load()}")
    for name, m in medians.items():
        ratio = f"{m / base:5.2f}x b" + (
            f" (target <= {TARGETS[name]:.2f})" if name in TARGETS else ""
        )
        print(f"{name:34s} median {m * 1000:7.2f} ms  peak {benchlib.mib(peak[name])} MiB  {ratio}")
    extra = (medians["h) wrap-claude, Keychain"] - medians["i) wrap-claude, config"]) * 1000
    print(f"h-i: {extra:.2f} ms for one (stand-in) `security` read  (n={n})")
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
