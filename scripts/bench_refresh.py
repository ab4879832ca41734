#!/usr/bin/env python3
"""One refresh, measured side by side in one invocation against one real token server.

Runs, interleaved, N times each, every run starting from a file whose token expires in a minute:
  a) wrap-claude refreshing it (loopback http:// token server), exec'ing `true` as `claude`
  b) a standard-library refresh doing the same job: flock, read, urllib POST of the
     refresh_token grant, atomic write of the whole document (temp + fsync + rename), execvp
  c) b) that also loads a CA store (ssl.create_default_context()), as an https:// client must
and prints per command the median wall time, the median CPU time (user + system) and the
largest peak RSS of the child (os.wait4's ru_maxrss, which covers the Python process and the
program it exec'd), then the ratios a/b (target: at most 1.5) and a/c. Every run must have
sent exactly one request and left the newest refresh token in its file, or the script stops.

The machine's load (/proc/loadavg) is printed before and after: on a shared machine the
figures mean little without it.

With --baseline DIR, d) is wrap-claude running the `launcher` package of DIR (another revision),
for a before/after in the same invocation.

Usage: python scripts/bench_refresh.py [N] [--baseline DIR]      (N: 40)
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
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

STDLIB_REFRESH = r"""
import fcntl, json, os, sys, time, urllib.request
ca = sys.argv[1] == "ca"
path = os.path.expanduser("~/.claude/.credentials.json")
lock = os.open(path + ".lock", os.O_RDWR | os.O_CREAT, 0o600)
fcntl.flock(lock, fcntl.LOCK_EX)
with open(path, "rb") as f:
    doc = json.loads(f.read())
oauth = doc["claudeAiOauth"]
if oauth["expiresAt"] / 1000 - time.time() <= 300:
    context = None
    if ca:
        import ssl
        context = ssl.create_default_context()
    body = {"grant_type": "refresh_token", "refresh_token": oauth["refreshToken"],
            "client_id": "bench"}
    request = urllib.request.Request(
        os.environ["WRAP_TOKEN_URL"], data=json.dumps(body).encode(), method="POST",
        headers={"Content-Type": "application/json", "Accept": "application/json"})
    with urllib.request.urlopen(request, timeout=30, context=context) as answer:
        got = json.loads(answer.read())
    oauth["accessToken"] = got["access_token"]
    oauth["refreshToken"] = got.get("refresh_token") or oauth["refreshToken"]
    oauth["expiresAt"] = int((time.time() + got["expires_in"]) * 1000)
    tmp = f"{path}.{os.getpid()}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(json.dumps(doc, indent=2).encode())
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
os.close(lock)
os.execvp("claude", ["claude"])
"""


class Run:
    __slots__ = ("cpu", "maxrss_kib", "wall")

    def __init__(self, wall: float, cpu: float, maxrss_kib: int) -> None:
        self.wall = wall
        self.cpu = cpu
        self.maxrss_kib = maxrss_kib


def run_child(argv: list[str], env: dict[str, str]) -> tuple[Run, int, str]:
    """Run ARGV to its end: its timing and peak RSS (from wait4), exit code and stderr."""
    start = time.perf_counter()
    proc = subprocess.Popen(
        argv, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    assert proc.stderr is not None
    err = proc.stderr.read()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    proc.stderr.close()
    proc.returncode = os.waitstatus_to_exitcode(status)
    run = Run(wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss)
    return run, proc.returncode, err.decode(errors="replace")


def make_home(root: str, name: str) -> dict[str, str]:
    home = os.path.join(root, name)
    os.makedirs(os.path.join(home, ".claude"), mode=0o700)
    bindir = os.path.join(home, "bin")
    os.mkdir(bindir)
    os.symlink(shutil.which("true") or "/bin/true", os.path.join(bindir, "claude"))
    return {
        "HOME": home,
        "PATH": bindir + os.pathsep + "/usr/bin:/bin",
        "LANG": "C.UTF-8",
        "XDG_STATE_HOME": os.path.join(home, "state"),
    }


def expiring(env: dict[str, str], refresh_token: str) -> Path:
    """Write a file whose token expires in a minute, holding the server's live refresh token."""
    path = Path(env["HOME"]) / ".claude" / ".credentials.json"
    doc = {
        "claudeAiOauth": {
            "accessToken": "bench-old-access",
            "refreshToken": refresh_token,
            "expiresAt": int((time.time() + 60) * 1000),
            "scopes": ["user:inference"],
        }
    }
    path.write_text(json.dumps(doc, indent=2))
    path.chmod(0o600)
    return path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("n", nargs="?", type=int, default=40, help="runs of each (40)")
    parser.add_argument(
        "--baseline",
        metavar="DIR",
        help="also run, interleaved, wrap-claude on the `launcher` package in DIR (another "
        "revision: git archive REV launcher | tar -x -C DIR)",
    )
    args = parser.parse_args()
    n = args.n
    python = sys.executable
    wrap_claude = shutil.which("wrap-claude", path=os.path.dirname(python))
    if wrap_claude is None:
        print("wrap-claude is not installed beside this python (pip install -e .)", file=sys.stderr)
        return 2
    print(f"load before: {benchlib.load()}  ({os.cpu_count()} CPUs)")
    with tempfile.TemporaryDirectory() as root, TokenServer() as server:
        server.seed("bench-refresh-0")
        live = ["bench-refresh-0"]
        names = {
            "a) wrap-claude refresh": "a",
            "b) stdlib refresh": "b",
            "c) stdlib refresh + CA store": "c",
        }
        if args.baseline:
            names["d) wrap-claude, baseline tree"] = "d"
        commands: dict[str, tuple[list[str], dict[str, str]]] = {}
        for name, short in names.items():
            env = {**make_home(root, short), "WRAP_TOKEN_URL": server.url}
            if short in ("a", "d"):
                if short == "d":
                    env["PYTHONPATH"] = os.path.abspath(args.baseline)
                commands[name] = ([wrap_claude], env)
            else:
                mode = "ca" if short == "c" else "plain"
                commands[name] = ([python, "-c", STDLIB_REFRESH, mode], env)

        def once(name: str) -> Run:
            argv, env = commands[name]
            path = expiring(env, live[0])
            before = server.refresh_requests
            run, code, err = run_child(argv, env)
            sent = server.refresh_requests - before
            newest = server.newest_refresh
            holds = (
                newest is not None
                and json.loads(path.read_text())["claudeAiOauth"]["refreshToken"] == newest
            )
            if code != 0 or sent != 1 or not holds or err.strip():
                first = err.strip().splitlines()[:1]
                print(
                    f"{name}: exit {code}, {sent} requests, file holds the newest refresh token: "
                    f"{holds}; {first[0] if first else 'no stderr'}",
                    file=sys.stderr,
                )
                raise SystemExit(1)
            assert newest is not None
            live[0] = newest
            return run

        for name in commands:  # warm caches and .pyc files
            once(name)
        runs: dict[str, list[Run]] = {k: [] for k in commands}
        for _ in range(n):
            for name in commands:
                runs[name].append(once(name))
    print(f"load after:  {benchlib.load()}")
    wall = {k: statistics.median(r.wall for r in v) for k, v in runs.items()}
    for name, rs in runs.items():
        cpu = statistics.median(r.cpu for r in rs)
        peak = max(r.maxrss_kib for r in rs) / 1024
        print(
            f"{name:30s} median {wall[name] * 1000:7.1f} ms  cpu {cpu * 1000:6.1f} ms  "
            f"peak RSS {peak:5.1f} MiB  (n={n})"
        )
    a, b, c = (wall[k] for k in list(names)[:3])
    print(f"ratio a/b: {a / b:.2f}  (target <= 1.5)")
    print(f"ratio a/c: {a / c:.2f}")
    if args.baseline:
        d = wall["d) wrap-claude, baseline tree"]
        print(f"ratio d/b: {d / b:.2f} (the baseline tree), a/d: {a / d:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
