#!/usr/bin/env python3
"""What a keepalive pass costs: `wrap keepalive` over 1, 50 and 1,000 accounts with none due,
and over 50 due accounts refreshed against the loopback token server, each side by side with a
baseline that does only the unavoidable work (read and parse the same files; for the
refreshes, also send the same 50 requests and write the files back). Medians and ratios.

A fresh pass is also timed against `wrap status --json` over the same accounts, which does
the same reading and deciding without the pass's bookkeeping.

Usage: python scripts/bench_keepalive.py [RUNS]      (default 5 runs of each)
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

sys.path.insert(0, str(Path(__file__).resolve().parent))
from token_server import TokenServer

BIN = Path(sys.executable).parent
READ = """
import glob, json, os
for p in sorted(glob.glob(os.path.expanduser("~/.bench/*.json"))):
    with open(p, "rb") as f:
        json.loads(f.read())
"""
REFRESH = """
import glob, json, os, sys, httpx
with httpx.Client() as client:
    for p in sorted(glob.glob(os.path.expanduser("~/.bench/*.json"))):
        with open(p, "rb") as f:
            doc = json.loads(f.read())
        answer = client.post(sys.argv[1], data={"grant_type": "refresh_token",
                             "refresh_token": doc["refresh_token"]}).json()
        doc.update(access_token=answer["access_token"], refresh_token=answer["refresh_token"])
        tmp = p + ".tmp"
        with open(tmp, "w") as f:
            json.dump(doc, f)
        os.replace(tmp, p)
"""


def accounts(home: Path, n: int, left: float, prefix: str) -> None:
    folder = home / ".bench"
    for old in folder.glob("*.json"):
        old.unlink()
    folder.mkdir(exist_ok=True)
    expiry = int((time.time() + left) * 1000)
    for i in range(n):
        doc = {
            "access_token": f"a{i}",
            "refresh_token": f"{prefix}{i}",
            "expiry_date": expiry,
            "email": f"user{i}@example.com",
        }
        (folder / f"bench-oauth-{i}.json").write_text(json.dumps(doc))


def timed(argv: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    done = subprocess.run(argv, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"{argv[:3]} exited {done.returncode}: {done.stderr}")
    return elapsed


def row(name: str, wrap: list[float], base: list[float]) -> None:
    w, b = statistics.median(wrap) * 1000, statistics.median(base) * 1000
    print(f"{name:34s} wrap {w:8.1f} ms   against {b:8.1f} ms   ratio {w / b:5.2f}")


def main() -> int:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    with tempfile.TemporaryDirectory() as tmp, TokenServer() as server:
        home = Path(tmp)
        cfg = home / ".config" / "wrap"
        cfg.mkdir(parents=True)
        (cfg / "config.toml").write_text(
            f'[profiles.bench]\nbase = "qwen"\npaths = ["~/.bench/*.json"]\n'
            f'token_url = "{server.url}"\n'
        )
        env = {"HOME": str(home), "PATH": os.environ.get("PATH", ""), "LANG": "C.UTF-8"}
        keepalive = [str(BIN / "wrap"), "keepalive"]
        for n in (1, 50, 1000):
            accounts(home, n, 30 * 86400, "rt")
            timed(keepalive, env)  # the first pass learns the accounts
            wrap, base, status = [], [], []
            for _ in range(runs):
                wrap.append(timed(keepalive, env))
                base.append(timed([sys.executable, "-c", READ], env))
                status.append(timed([str(BIN / "wrap"), "status", "--json"], env))
            row(f"pass, {n} accounts, none due", wrap, base)
            # What the pass adds to listing the same accounts (most of its time is that).
            row("  the same against wrap status", wrap, status)
            assert server.refresh_requests == 0, "a pass with nothing due sent a request"
        wrap, base = [], []
        for run in range(runs):
            # Every run starts from 50 due accounts whose refresh tokens the server knows.
            accounts(home, 50, 3600, f"w{run}-")
            for i in range(50):
                server.seed(f"w{run}-{i}")
            wrap.append(timed(keepalive, env))
            accounts(home, 50, 3600, f"b{run}-")
            for i in range(50):
                server.seed(f"b{run}-{i}")
            base.append(timed([sys.executable, "-c", REFRESH, server.url], env))
        row("pass, 50 accounts refreshed", wrap, base)
        print(f"token server: {server.refresh_requests} requests, {server.reused} reused")
    return 0


if __name__ == "__main__":
    sys.exit(main())
