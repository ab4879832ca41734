#!/usr/bin/env python3
"""`wrap status` over many account files, side by side with a minimal baseline that only reads
and parses the same files, in one invocation. Prints medians and the ratio.

Usage: python scripts/bench_status.py [ACCOUNTS] [RUNS]      (default 1000 accounts, 7 runs)
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
BASELINE = """
import glob, json, os, sys
for p in sorted(glob.glob(os.path.expanduser("~/.routecodex/auth/*.json"))):
    with open(p, "rb") as f:
        json.loads(f.read())
"""


def main() -> int:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    runs = int(sys.argv[2]) if len(sys.argv) > 2 else 7
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        auth = home / ".routecodex" / "auth"
        auth.mkdir(parents=True)
        now = time.time()
        for i in range(n):
            doc = {
                "access_token": f"a{i}",
                "refresh_token": f"r{i}",
                "expiry_date": int((now + (i % 20) * 86400) * 1000),
                "email": f"user{i}@example.com",
            }
            (auth / f"qwen-oauth-{i}.json").write_text(json.dumps(doc))
        cfg = home / ".config" / "wrap"
        cfg.mkdir(parents=True)
        (cfg / "config.toml").write_text(
            '[profiles.router]\nbase = "qwen"\npaths = ["~/.routecodex/auth/*.json"]\n'
        )
        env = {"HOME": str(home), "PATH": os.environ.get("PATH", ""), "LANG": "C.UTF-8"}
        commands = {
            "wrap status --json": [str(BIN / "wrap"), "status", "--json"],
            "baseline: read+parse": [sys.executable, "-c", BASELINE],
        }
        out = subprocess.run(
            commands["wrap status --json"], env=env, capture_output=True, check=True
        )
        assert len(json.loads(out.stdout)) == n, "wrap status did not list every account"
        times: dict[str, list[float]] = {k: [] for k in commands}
        for _ in range(runs):
            for name, argv in commands.items():
                start = time.perf_counter()
                subprocess.run(argv, env=env, capture_output=True, check=True)
                times[name].append(time.perf_counter() - start)
    for name, values in times.items():
        print(f"{name:24s} median {statistics.median(values) * 1000:8.1f} ms  ({n} accounts)")
    ratio = statistics.median(times["wrap status --json"]) / statistics.median(
        times["baseline: read+parse"]
    )
    print(f"ratio wrap/baseline: {ratio:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
