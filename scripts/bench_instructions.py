#!/usr/bin/env python3
"""Instructions executed by each fresh-token launch path, against the minimal gate: a figure
the machine's load cannot move (wall-time ratios on a shared 2-core machine drift by 10 %).

Each path runs once under valgrind's callgrind, up to the point where it would exec the program
(a small runner replaces os.exec* with an exit, since callgrind reports nothing for a process
that execs). The paths and the minimal gate are the ones of scripts/bench_startup.py. Needs
valgrind (Debian: apt-get install valgrind); a run takes about ten seconds.

Usage: python scripts/bench_instructions.py
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_startup import TARGETS, fresh_home, minimal_gate_script, wrap_scripts

RUNNER = """
import os, sys
def _stop(*args, **kwargs):
    sys.stdout.flush()
    os._exit(0)
os.execv = os.execve = os.execvp = os.execvpe = _stop
script = sys.argv[1]
sys.argv = sys.argv[1:]
with open(script) as f:
    code = compile(f.read(), script, "exec")
exec(code, {"__name__": "__main__", "__file__": script})
"""


def instructions(argv: list[str], env: dict[str, str], runner: str) -> int:
    r = subprocess.run(
        ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null",
         sys.executable, runner, *argv],
        env=env, capture_output=True, text=True, check=False,
    )  # fmt: skip
    found = re.search(r"refs:\s+([\d,]+)", r.stderr)
    if found is None:
        raise SystemExit(f"callgrind gave no count for {argv}: {r.stderr[-400:]}")
    return int(found.group(1).replace(",", ""))


def main() -> int:
    if shutil.which("valgrind") is None:
        print("valgrind is not installed (apt-get install valgrind)", file=sys.stderr)
        return 2
    wrap_claude, wrap = wrap_scripts()
    with tempfile.TemporaryDirectory() as home:
        env = fresh_home(home)
        runner = os.path.join(home, "runner.py")
        Path(runner).write_text(RUNNER)
        paths = {
            "b) minimal gate": [minimal_gate_script(wrap_claude, home)],
            "a) wrap-claude": [wrap_claude],
            "c) wrap claude": [wrap, "claude"],
            "d) wrap --profile claude claude": [wrap, "--profile", "claude", "claude"],
            "e) wrap --check-only": [wrap, "--check-only"],
            "f) wrap --check-only --json": [wrap, "--check-only", "--json"],
        }
        for argv in paths.values():  # compile what a changed tree has not compiled yet
            subprocess.run(argv, env=env, stdout=subprocess.DEVNULL, check=False)
        counts = {name: instructions(argv, env, runner) for name, argv in paths.items()}
    base = counts["b) minimal gate"]
    for name, n in counts.items():
        target = f" (target <= {TARGETS[name]:.2f})" if name in TARGETS else ""
        print(f"{name:34s} {n / 1e6:8.2f} M instructions  {n / base:5.3f}x b{target}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
