#!/usr/bin/env python3
"""Instructions executed by each fresh-token launch path, against the minimal gate: a figure
the machine's load cannot move (wall-time ratios on a shared 2-core machine drift by 10 %).

Each path runs once under valgrind's callgrind, up to the point where it would exec the program
(a small runner replaces os.exec* with an exit, since callgrind reports nothing for a process
that execs). The paths, the two installers' console scripts, the minimal gate and --before DIR
(another revision's `launcher`, run through the same scripts) are those of
scripts/bench_startup.py. Needs valgrind (Debian: apt-get install valgrind); a run takes about
a minute.

Usage: python scripts/bench_instructions.py [--before DIR]
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_startup import TARGETS, TEMPLATES, fresh_home, paths

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
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--before", help="a tree holding another revision's launcher/")
    args = parser.parse_args()
    if shutil.which("valgrind") is None:
        print("valgrind is not installed (apt-get install valgrind)", file=sys.stderr)
        return 2
    before = os.path.abspath(args.before) if args.before else None
    with tempfile.TemporaryDirectory() as home:
        env = fresh_home(home)
        runner = os.path.join(home, "runner.py")
        Path(runner).write_text(RUNNER)
        commands = paths(home, env, before)
        for argv, cmd_env in commands.values():  # compile what a changed tree has not compiled
            subprocess.run(argv, env=cmd_env, stdout=subprocess.DEVNULL, check=False)
        counts = {
            key: instructions(argv, cmd_env, runner) for key, (argv, cmd_env) in commands.items()
        }
    for style in TEMPLATES:
        print(f"console scripts as {style} writes them:")
        base = counts[("b) minimal gate", style, "after")]
        for (name, s, revision), n in counts.items():
            if s != style or revision != "after":
                continue
            line = f"  {name:34s} {n / 1e6:8.2f} M instructions  {n / base:5.3f}x b"
            if name in TARGETS:
                line += f" (target <= {TARGETS[name]:.2f})"
                if (name, style, "before") in counts:
                    line += f"  before {counts[(name, style, 'before')] / base:5.3f}x b"
            print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
