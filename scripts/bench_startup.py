#!/usr/bin/env python3
"""Startup cost of every launch path with a fresh token, measured side by side in one invocation.

Runs, interleaved, N times each (every program found on PATH as `claude` is `true`):
  a) wrap-claude
  b) a minimal standard-library gate installed the same way: the same interpreter and the same
     console-script template, with the import of wrap replaced by a function that reads the
     JSON, compares and execvp's
  c) wrap claude                        (how gemini, codex and qwen are aliased)
  d) wrap --profile claude claude
  e) wrap --check-only                  (the CI pre-step)
  f) wrap --check-only --json
each of a) to f) through the console scripts of two installers: pip before 25 (its template
imports `re` to strip "-script.pyw" from argv[0]) and pip 25 or uv (no `re`); and, with
--before DIR (a tree holding another revision's `launcher`, such as
`git archive main launcher | tar -x -C DIR`), a) and c) to f) of that revision through the same
scripts, interleaved with the rest. Then, once:
  g) python -c pass
  h) wrap-claude reading the token from the macOS Keychain through a STAND-IN `security` (a
     shell script printing the entry; the real Keychain cannot run here): what one `security`
     process adds to a launch
  i) wrap-claude with the same config file but store = "file", the baseline for h)
Prints the median wall time and peak RSS of each, and each ratio against b) of the same
installer with its target (issue 25: wrap-claude 0.85, the `wrap` paths 0.90).

Usage: python scripts/bench_startup.py [N] [--before DIR]
"""

from __future__ import annotations

import argparse
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
    "a) wrap-claude": 0.85,
    "c) wrap claude": 0.90,
    "d) wrap --profile claude claude": 0.90,
    "e) wrap --check-only": 0.90,
    "f) wrap --check-only --json": 0.90,
}

# The console scripts the installers write (pip's vendored distlib before pip 25; pip 25 and uv
# since), for a module's function: {python}, {imports}, {call}.
TEMPLATES = {
    "pip<25 (import re)": (
        "#!{python}\n# -*- coding: utf-8 -*-\nimport re\nimport sys\n{imports}\n"
        "if __name__ == '__main__':\n"
        "    sys.argv[0] = re.sub(r'(-script\\.pyw|\\.exe)?$', '', sys.argv[0])\n"
        "    sys.exit({call}())\n"
    ),
    "pip 25, uv (no re)": (
        "#!{python}\n# -*- coding: utf-8 -*-\nimport sys\n{imports}\n"
        'if __name__ == "__main__":\n'
        '    if sys.argv[0].endswith("-script.pyw"):\n'
        "        sys.argv[0] = sys.argv[0][:-11]\n"
        '    elif sys.argv[0].endswith(".exe"):\n'
        "        sys.argv[0] = sys.argv[0][:-4]\n"
        "    sys.exit({call}())\n"
    ),
}
ENTRY_POINTS = {"wrap-claude": ("launcher.gate", "main_claude"), "wrap": ("launcher.main", "entry")}


def installed(name: str) -> str | None:
    return shutil.which(name, path=os.path.dirname(sys.executable)) or shutil.which(name)


def wrap_scripts() -> tuple[str, str]:
    """The installed wrap-claude and wrap, or exit 2 saying how to install them."""
    wrap_claude, wrap = installed("wrap-claude"), installed("wrap")
    if wrap_claude is None or wrap is None:
        print("wrap is not installed in this environment (pip install -e .)", file=sys.stderr)
        raise SystemExit(2)
    return wrap_claude, wrap


def installer_of(script: str) -> str:
    """Which TEMPLATES entry wrote SCRIPT (the installed console script)."""
    with open(script) as f:
        return next(iter(TEMPLATES)) if "import re\n" in f.read() else list(TEMPLATES)[1]


def scripts_as(style: str, where: str) -> dict[str, str]:
    """wrap-claude, wrap and the minimal gate as the installer STYLE writes console scripts."""
    os.makedirs(where, exist_ok=True)
    out = {}
    for name, (module, function) in {**ENTRY_POINTS, "minimal-gate": ("", "main_claude")}.items():
        imports = f"from {module} import {function}" if module else MINIMAL_GATE.strip()
        text = TEMPLATES[style].format(python=sys.executable, imports=imports, call=function)
        path = os.path.join(where, name)
        with open(path, "w") as f:
            f.write(text)
        os.chmod(path, 0o755)
        out[name] = path
    return out


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


def paths(
    home: str, env: dict[str, str], before: str | None
) -> dict[tuple[str, str, str], tuple[list[str], dict[str, str]]]:
    """(path, installer, revision) -> (argv, env) for a) to f), each installer, each revision."""
    out = {}
    for i, style in enumerate(TEMPLATES):
        s = scripts_as(style, os.path.join(home, f"scripts-{i}"))
        argvs = {
            "a) wrap-claude": [s["wrap-claude"]],
            "b) minimal gate": [s["minimal-gate"]],
            "c) wrap claude": [s["wrap"], "claude"],
            "d) wrap --profile claude claude": [s["wrap"], "--profile", "claude", "claude"],
            "e) wrap --check-only": [s["wrap"], "--check-only"],
            "f) wrap --check-only --json": [s["wrap"], "--check-only", "--json"],
        }
        for name, argv in argvs.items():
            out[(name, style, "after")] = (argv, env)
            if before is not None and name in TARGETS:
                out[(name, style, "before")] = (argv, {**env, "PYTHONPATH": before})
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("n", nargs="?", type=int, default=40)
    parser.add_argument("--before", help="a tree holding another revision's launcher/")
    args = parser.parse_args()
    before = os.path.abspath(args.before) if args.before else None
    wrap_claude, _ = wrap_scripts()
    with tempfile.TemporaryDirectory() as home:
        env = fresh_home(home)
        bindir = os.path.join(home, "bin")
        keychain_env = _keychain_stand_in(home, bindir, CREDS, env)
        commands: dict[tuple[str, str, str], tuple[list[str], dict[str, str]]] = {
            **paths(home, env, before),
            ("g) python -c pass", "", "after"): ([sys.executable, "-c", "pass"], env),
            ("h) wrap-claude, Keychain", "", "after"): ([wrap_claude], keychain_env),
            ("i) wrap-claude, config", "", "after"): (
                [wrap_claude],
                _same_config_file_store(home, keychain_env),
            ),
        }
        for argv, cmd_env in commands.values():  # warm caches and .pyc files
            benchlib.timed(argv, cmd_env)
        times: dict[tuple[str, str, str], list[float]] = {k: [] for k in commands}
        for _ in range(args.n):
            for key, (argv, cmd_env) in commands.items():
                times[key].append(benchlib.timed(argv, cmd_env))
        # Memory in runs of its own: GNU time's fork would blur the timings.
        peak = {k: benchlib.peak_rss_kib(*commands[k]) for k in commands if k[2] == "after"}
    medians = {k: statistics.median(v) for k, v in times.items()}
    print(f"load average {benchlib.load()}  (n={args.n}; installed by {installer_of(wrap_claude)})")
    for style in TEMPLATES:
        print(f"console scripts as {style} writes them:")
        base = medians[("b) minimal gate", style, "after")]
        for (name, s, revision), m in medians.items():
            if s != style or revision != "after":
                continue
            ratio = f"{m / base:5.2f}x b"
            if name in TARGETS:
                ratio += f" (target <= {TARGETS[name]:.2f})"
                if (name, style, "before") in medians:
                    ratio += f"  before {medians[(name, style, 'before')] / base:5.2f}x b"
            kib = peak[(name, s, revision)]
            print(f"  {name:34s} median {m * 1000:7.2f} ms  peak {benchlib.mib(kib)} MiB  {ratio}")
    for name in ("g) python -c pass", "h) wrap-claude, Keychain", "i) wrap-claude, config"):
        m, kib = medians[(name, "", "after")], peak[(name, "", "after")]
        print(f"{name:36s} median {m * 1000:7.2f} ms  peak {benchlib.mib(kib)} MiB")
    extra = (
        medians[("h) wrap-claude, Keychain", "", "after")]
        - medians[("i) wrap-claude, config", "", "after")]
    ) * 1000
    print(f"h-i: {extra:.2f} ms for one (stand-in) `security` read")
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
