#!/usr/bin/env python3
"""N wrap-claude processes at once on one expiring token: how many refresh requests reach the
server, how many launches failed, and the wall time.

The server rotates refresh tokens and rejects a reused one (revoking the family), so anything
but exactly one request means launches raced each other.

Each launch's CPU time and peak RSS come from wait4 (the RSS covers wrap and the program it
exec'd); the machine's load is printed before and after.

Usage: python scripts/stress_concurrency.py [N] [--rounds R] [--baseline DIR]   (N: 50)
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))
import benchlib  # noqa: E402
from token_server import TokenServer  # noqa: E402

BIN = Path(sys.executable).parent


class Result:
    def __init__(self) -> None:
        self.requests = 0
        self.failures: list[str] = []
        self.wall = 0.0
        self.launched = 0
        self.saw_new_token = 0
        self.file_ok = False
        self.peak_rss_kib = 0
        self.cpu: list[float] = []


def launch_many(n: int, env: dict[str, str]) -> list[tuple[int, str]]:
    """Start N wrap-claude processes at once (argument run-I); (exit code, stderr) of each."""
    return [(code, err) for code, err, _, _ in launch_measured(n, env)]


def launch_measured(n: int, env: dict[str, str]) -> list[tuple[int, str, int, float]]:
    """launch_many, with each launch's peak RSS (KiB) and CPU seconds from wait4: the RSS
    covers wrap and the program it exec'd."""
    procs = [
        subprocess.Popen(
            [str(BIN / "wrap-claude"), f"run-{i}"],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        for i in range(n)
    ]
    out = []
    for proc in procs:
        assert proc.stderr is not None
        # Read to EOF first: a child blocked on a full pipe would never exit.
        err = proc.stderr.read().decode(errors="replace")
        proc.stderr.close()
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        cpu = usage.ru_utime + usage.ru_stime
        out.append((proc.returncode, err, usage.ru_maxrss, cpu))
    return out


# What a launch may say and still be a success: on a loaded machine a launch that waited past
# 2 s for the one doing the refresh says so (launcher/refresh/flight.py). Anything else is a
# failure.
WAITING = re.compile(r"^wrap: waiting for another process to finish refreshing \S+$")


def unexpected(stderr: str) -> list[str]:
    """The lines of a launch's stderr that are not the waiting notice."""
    return [line for line in stderr.splitlines() if line.strip() and not WAITING.match(line)]


def run_stress(n: int, tmp: Path, source: str | None = None) -> Result:
    """N launches at once; SOURCE: a directory whose `launcher` package they run instead."""
    result = Result()
    home = tmp / "home"
    (home / ".claude").mkdir(parents=True, mode=0o700)
    creds = home / ".claude" / ".credentials.json"
    creds.write_text(
        json.dumps(
            {
                "claudeAiOauth": {
                    "accessToken": "stress-old-access",
                    "refreshToken": "stress-old-refresh",
                    "expiresAt": int((time.time() + 3600) * 1000),
                    "scopes": ["user:inference"],
                },
                "mcpOAuth": {},
            },
            indent=2,
        )
    )
    creds.chmod(0o600)
    bindir = home / "bin"
    bindir.mkdir()
    fake = bindir / "claude"
    fake.write_text(f"#!{sys.executable}\n" + (ROOT / "tests/bin/fake_claude.py").read_text())
    fake.chmod(0o755)
    report = tmp / "report.jsonl"
    with TokenServer() as server:
        server.seed("stress-old-refresh")
        env = {
            "HOME": str(home),
            "PATH": f"{bindir}{os.pathsep}{BIN}{os.pathsep}/usr/bin:/bin",
            "LANG": "C.UTF-8",
            "FAKE_REPORT": str(report),
            "WRAP_TOKEN_URL": server.url,
            "XDG_STATE_HOME": str(tmp / "state"),
        }
        if source is not None:
            env["PYTHONPATH"] = source
        start = time.perf_counter()
        launches = launch_measured(n, env)
        result.wall = time.perf_counter() - start
        for i, (code, err, rss, cpu) in enumerate(launches):
            said = unexpected(err)
            if code != 0 or said:
                result.failures.append(f"run-{i}: exit {code}: {' | '.join(said)}")
            result.peak_rss_kib = max(result.peak_rss_kib, rss)
            result.cpu.append(cpu)
        result.requests = server.refresh_requests
        newest_access = server.issued_access[-1] if server.issued_access else None
        newest_refresh = server.issued_refresh[-1] if server.issued_refresh else None
    records = [json.loads(line) for line in report.read_text().splitlines()]
    result.launched = len(records)
    if newest_access is not None:
        want = hashlib.sha256(newest_access.encode()).hexdigest()[:16]
        result.saw_new_token = sum(1 for r in records if r["token_digest"] == want)
    try:
        doc = json.loads(creds.read_text())
        result.file_ok = doc["claudeAiOauth"]["refreshToken"] == newest_refresh
    except (ValueError, KeyError):
        result.file_ok = False
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("n", nargs="?", type=int, default=50, help="launches at once (50)")
    parser.add_argument(
        "--baseline",
        metavar="DIR",
        help="also run, interleaved, the `launcher` package in DIR (another revision: "
        "git archive REV launcher | tar -x -C DIR) and print the ratio",
    )
    parser.add_argument("--rounds", type=int, default=1, help="runs of each (medians)")
    args = parser.parse_args()
    n = args.n
    variants: dict[str, str | None] = {"this tree": None}
    if args.baseline:
        variants["baseline"] = os.path.abspath(args.baseline)
    print(f"load before:          {benchlib.load()}  ({os.cpu_count()} CPUs)")
    results: dict[str, list[Result]] = {name: [] for name in variants}
    for i in range(args.rounds):
        # Alternate which goes first: whatever else loads the machine hits both alike.
        order = list(variants) if i % 2 == 0 else list(reversed(variants))
        for name in order:
            with tempfile.TemporaryDirectory() as tmp:
                results[name].append(run_stress(n, Path(tmp), variants[name]))
    ok = True
    for name, runs in results.items():
        print(f"== {name} ({len(runs)} runs of {n} processes)")
        for r in runs:
            ok = ok and report(r, n)
        if len(runs) > 1:
            print(f"median wall time:     {statistics.median(r.wall for r in runs):.2f} s")
    print(f"load after:           {benchlib.load()}")
    if args.baseline:
        mine, base = (statistics.median(r.wall for r in results[k]) for k in variants)
        print(f"wall time ratio this tree / baseline: {mine / base:.2f}")
    return 0 if ok else 1


def report(r: Result, n: int) -> bool:
    """Print one run; whether it was right (one request, no failure, all on the new token)."""
    print(
        f"requests {r.requests} (want 1), launched {r.launched}, saw the new token "
        f"{r.saw_new_token}, failures {len(r.failures)}, file holds the newest refresh token: "
        f"{r.file_ok}"
    )
    for f in r.failures[:5]:
        print(f"  {f}")
    cpu = sorted(r.cpu)
    print(
        f"wall {r.wall:.2f} s; CPU per launch median {statistics.median(cpu) * 1000:.0f} ms, "
        f"max {cpu[-1] * 1000:.0f} ms, total {sum(cpu):.2f} s (wrap and the program it "
        f"exec'd); peak RSS {r.peak_rss_kib / 1024:.1f} MiB (largest launch)"
    )
    return r.requests == 1 and not r.failures and r.saw_new_token == n and r.file_ok


if __name__ == "__main__":
    sys.exit(main())
