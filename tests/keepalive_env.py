"""What the keepalive tests share: accounts in custom profiles, a webhook receiver."""

from __future__ import annotations

import json
import queue
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from conftest import Home

DAY = 86400


def account(folder: Path, filename: str, left: float, refresh: str, **extra: Any) -> Path:
    """A qwen-shaped credentials file whose token expires LEFT seconds from now."""
    folder.mkdir(parents=True, exist_ok=True)
    doc = {
        "access_token": f"acc-{filename}",
        "refresh_token": refresh,
        "expiry_date": int((time.time() + left) * 1000),
        **extra,
    }
    path = folder / filename
    path.write_text(json.dumps(doc, indent=2))
    path.chmod(0o600)
    return path


def config(home: Home, **servers: str) -> None:
    """One qwen-based profile per server, NAME reading ~/.NAME/*.json, refreshing at its URL;
    a `webhook` keyword becomes notify_webhook."""
    lines = []
    hook = servers.pop("webhook", None)
    if hook:
        lines.append(f'notify_webhook = "{hook}"')
    for name, url in servers.items():
        lines += [
            f"[profiles.{name}]",
            'base = "qwen"',
            f'paths = ["~/.{name}/*.json"]',
            f'token_url = "{url}"',
        ]
    folder = home.root / "config" / "wrap"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.toml").write_text("\n".join(lines) + "\n")


class Webhook:
    """A local HTTP receiver; `posts` is a queue of the JSON bodies it was sent."""

    def __init__(self) -> None:
        self.posts: queue.Queue[dict[str, Any]] = queue.Queue()
        self.status = 200
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                hook.posts.put(json.loads(body))
                self.send_response(hook.status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: object) -> None:
                pass

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._httpd.server_address[1]}/hook"

    def received(self) -> list[dict[str, Any]]:
        """Every body received so far (each POST is answered before the sender goes on)."""
        out = []
        while not self.posts.empty():
            out.append(self.posts.get_nowait())
        return out


@pytest.fixture(name="webhook")
def webhook_fixture() -> Iterator[Webhook]:
    hook = Webhook()
    hook._thread.start()
    yield hook
    hook._httpd.shutdown()
    hook._httpd.server_close()


def snapshot(root: Path, skip: tuple[str, ...] = ()) -> dict[str, tuple[int, bytes]]:
    """Every file under ROOT with its mtime and bytes (paths ending with SKIP left out)."""
    return {
        str(p): (p.stat().st_mtime_ns, p.read_bytes())
        for p in root.rglob("*")
        if p.is_file() and not str(p).endswith(skip)
    }
