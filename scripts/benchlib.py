"""What the benchmarks in scripts/ share: one timed run, one peak-memory run, the load.

Peak memory is not read from `os.wait4` of a child of this script: Linux carries the largest
resident size across exec, and a child forked from this Python starts as a copy of it (about
13 MiB here, more than wrap's hot path). GNU time forks from its own small image, so its %M is
the child's own figure; without it the figure is given as unmeasured rather than wrong.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time

GNU_TIME = "/usr/bin/time" if os.access("/usr/bin/time", os.X_OK) else shutil.which("gtime")


def load() -> str:
    """/proc/loadavg as it reads, to print beside every figure."""
    try:
        with open("/proc/loadavg") as f:
            return f.read().strip()
    except OSError:
        return "unknown"


def timed(argv: list[str], env: dict[str, str], *, check: bool = True) -> float:
    """Wall seconds of one run of ARGV (its output discarded)."""
    start = time.perf_counter()
    r = subprocess.run(argv, env=env, stdout=subprocess.DEVNULL, check=False)
    elapsed = time.perf_counter() - start
    if check and r.returncode != 0:
        raise SystemExit(f"{argv[0]} exited {r.returncode}")
    return elapsed


def peak_rss_kib(argv: list[str], env: dict[str, str]) -> int | None:
    """The largest resident size of one run of ARGV in KiB, or None without GNU time."""
    if GNU_TIME is None:
        return None
    with tempfile.NamedTemporaryFile("r", suffix=".rss") as out:
        subprocess.run(
            [GNU_TIME, "-f", "%M", "-o", out.name, *argv],
            env=env,
            stdout=subprocess.DEVNULL,
            check=False,
        )
        text = out.read().strip().splitlines()
    try:
        return int(text[-1])
    except (IndexError, ValueError):
        return None


def mib(kib: int | None) -> str:
    return "   n/a" if kib is None else f"{kib / 1024:6.1f}"
