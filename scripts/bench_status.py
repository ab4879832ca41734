#!/usr/bin/env python3
"""`wrap status --json` (and the table, `wrap status`) over 100, 1,000 and 10,000 account files,
side by side with a baseline that only reads and parses the same files, in one invocation.

Every round runs, interleaved (the order flips each round, so drift in the machine's load falls
on all alike), both forms of wrap status and the baseline at each size, and at one account: the
fixed cost (the first account loads what the others reuse, hashlib say), so that the cost per
account is (median at N - median at 1) / (N - 1). Prints the medians, the ratio to the baseline
per size, the cost per account, and the peak RSS of each child (os.wait4's ru_maxrss).
Targets (issue 13): `status --json` at most 2.5 times the baseline at 10,000 accounts, a cost
per account that does not grow with the count, and under 50 MiB at 10,000.

Usage: python scripts/bench_status.py [RUNS] [SIZES] [--before WRAP]
(default 21 runs; sizes 100,1000,10000). --before WRAP adds another tree's `wrap` (an older
commit's, say) to the same interleaved rounds, as "before --json" and "before (table)".
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BIN = Path(sys.executable).parent
# What any tool listing these accounts must do at least: find, read and parse every file.
BASELINE = """
import glob, json, os
for p in sorted(glob.glob(os.path.expanduser("~/.routecodex/auth/*.json"))):
    with open(p, "rb") as f:
        json.loads(f.read())
"""
TARGET_RATIO = 2.5
TARGET_RSS_MIB = 50


def make_home(root: Path, n: int, now: float) -> dict[str, str]:
    """N accounts of one custom profile in a multi-account folder (routecodex's layout), with
    expiries spread over 20 days, so that states and times left differ from file to file."""
    auth = root / ".routecodex" / "auth"
    auth.mkdir(parents=True)
    for i in range(n):
        doc = {
            "access_token": f"a{i}",
            "refresh_token": f"r{i}",
            "expiry_date": int((now + (i % 20) * 86400) * 1000),
            "email": f"user{i}@example.com",
        }
        (auth / f"qwen-oauth-{i}.json").write_text(json.dumps(doc))
    cfg = root / ".config" / "wrap"
    cfg.mkdir(parents=True)
    (cfg / "config.toml").write_text(
        '[profiles.router]\nbase = "qwen"\npaths = ["~/.routecodex/auth/*.json"]\n'
    )
    return {"HOME": str(root), "PATH": os.environ.get("PATH", ""), "LANG": "C.UTF-8"}


# Spawns and times every measured child. ru_maxrss counts what the process held before its exec
# too, and a child of this script starts as a copy of it (or, spawned with vfork, inside its
# address space, so its peak is this script's): after parsing 10,000 accounts' output that is
# some 36 MiB on every child. This runner, started first with nothing but os, sys and time, is
# smaller than any child it spawns (8.5 MiB against python -c pass's 8.6), so each ru_maxrss is
# the child's own. One request per line: HOME, then argv, tab-separated.
RUNNER = """
import os, sys, time
out = [(os.POSIX_SPAWN_OPEN, fd, os.devnull, os.O_WRONLY, 0) for fd in (1, 2)]
path = os.environ["PATH"]
for line in sys.stdin:
    home, *argv = line.rstrip("\\n").split("\\t")
    env = {"HOME": home, "PATH": path, "LANG": "C.UTF-8"}
    start = time.perf_counter()
    pid = os.posix_spawn(argv[0], argv, env, file_actions=out)
    _, status, usage = os.wait4(pid, 0)
    took = time.perf_counter() - start
    print(took, usage.ru_maxrss, os.waitstatus_to_exitcode(status), flush=True)
"""


class Runner:
    def __init__(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-S", "-c", RUNNER],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env={"PATH": os.environ.get("PATH", "")},
        )

    def run(self, argv: list[str], env: dict[str, str]) -> tuple[float, int]:
        """(wall seconds, peak RSS in KiB) of one child, its output thrown away."""
        assert self.proc.stdin is not None
        assert self.proc.stdout is not None
        self.proc.stdin.write("\t".join([env["HOME"], *argv]) + "\n")
        self.proc.stdin.flush()
        took, kib, code = self.proc.stdout.readline().split()
        if code != "0":
            again = subprocess.run(argv, env=env, capture_output=True, text=True)
            raise SystemExit(f"{argv} failed ({code}): {again.stderr}")
        return float(took), int(kib)

    def close(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        self.proc.wait()


def main() -> int:
    args = sys.argv[1:]
    before = None
    if "--before" in args:
        at = args.index("--before")
        before = args[at + 1]
        del args[at : at + 2]
    runs = int(args[0]) if args else 21
    sizes = [int(s) for s in args[1].split(",")] if len(args) > 1 else [100, 1000, 10000]
    sizes = [1, *sizes]
    wrap = str(BIN / "wrap")
    runner = Runner()
    print(f"load before: {Path('/proc/loadavg').read_text().strip()}")
    with tempfile.TemporaryDirectory() as tmp:
        now = time.time()
        envs = {n: make_home(Path(tmp) / str(n), n, now) for n in sizes}
        # A file, not -c: the runner takes one line per child.
        (Path(tmp) / "baseline.py").write_text(BASELINE)
        commands = {
            "status --json": [wrap, "status", "--json"],
            "status (table)": [wrap, "status"],
            "baseline": [sys.executable, str(Path(tmp) / "baseline.py")],
        }
        if before is not None:
            commands["before --json"] = [before, "status", "--json"]
            commands["before (table)"] = [before, "status"]
        for n, env in envs.items():
            out = subprocess.run(commands["status --json"], env=env, capture_output=True)
            assert len(json.loads(out.stdout)) == n, f"wrap status did not list {n} accounts"
        jobs = [(n, name) for n in sizes for name in commands]
        times: dict[tuple[int, str], list[float]] = {job: [] for job in jobs}
        rss: dict[tuple[int, str], list[int]] = {job: [] for job in jobs}
        for i in range(runs):
            for n, name in jobs if i % 2 == 0 else reversed(jobs):
                t, kib = runner.run(commands[name], envs[n])
                times[n, name].append(t)
                rss[n, name].append(kib)
        runner.close()
    print(f"load after:  {Path('/proc/loadavg').read_text().strip()}")
    med = {job: statistics.median(v) * 1000 for job, v in times.items()}
    peak = {job: max(v) / 1024 for job, v in rss.items()}
    print(f"\n{runs} interleaved runs; medians (ms), ratio to the baseline at the same size,")
    print("cost per account (µs, beyond the first account's), peak RSS (MiB)")
    print(f"{'command':15s} {'accounts':>8}  {'ms':>7}  {'ratio':>5}  {'µs/acct':>7}  {'MiB':>5}")
    for name in commands:
        for n in sizes:
            ms = med[n, name]
            per = f"{(ms - med[1, name]) / (n - 1) * 1000:7.1f}" if n > 1 else f"{'-':>7}"
            print(
                f"{name:15s} {n:8d}  {ms:7.1f}  {ms / med[n, 'baseline']:5.2f}  {per}  "
                f"{peak[n, name]:5.1f}"
            )
    largest = sizes[-1]
    ratio = med[largest, "status --json"] / med[largest, "baseline"]
    mib = peak[largest, "status --json"]
    print(
        f"\nstatus --json at {largest} accounts: ratio {ratio:.2f} (target <= {TARGET_RATIO}: "
        f"{'met' if ratio <= TARGET_RATIO else 'NOT met'}), peak RSS {mib:.1f} MiB "
        f"(target < {TARGET_RSS_MIB}: {'met' if mib < TARGET_RSS_MIB else 'NOT met'})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
