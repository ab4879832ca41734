"""etcd v3 through its JSON gateway (/v3/kv/..., /v3/lease/...), over httpx.

The lock is a key bound to a lease, created in a transaction only if absent; the record is
written in a transaction that compares its mod_revision and that the lock key is still bound
to our lease. (The PyPI etcd3 client does not import with a current protobuf.)
Checked against etcd 3.4 (Debian's etcd-server).
"""

from __future__ import annotations

import base64
import math
from typing import TYPE_CHECKING, Any

from launcher.fleet import FleetError, Lease, Stored, unreachable
from launcher.refresh import http
from launcher.refresh.http import httpx  # every client from the one factory

if TYPE_CHECKING:
    from launcher.fleet.settings import FleetSettings


def _b64(text: str | bytes) -> str:
    raw = text.encode() if isinstance(text, str) else text
    return base64.b64encode(raw).decode()


def _prefix_end(prefix: str) -> str:
    raw = bytearray(prefix.encode())
    raw[-1] += 1  # every key that starts with PREFIX sorts before this one
    return _b64(bytes(raw))


class EtcdBackend:
    def __init__(self, fs: FleetSettings, *, timeout: float) -> None:
        scheme = "https" if fs.tls else "http"
        self.where = fs.where
        self.prefix = fs.prefix
        self.client = http.client_for(
            f"{scheme}://{fs.authority()}",
            ca_file=fs.ca_file,
            base_url=True,
            timeout=httpx.Timeout(timeout, connect=min(timeout, 3.0)),
        )
        self.user, self.password = fs.user, fs.password
        self._authenticated = False

    def _key(self, name: str) -> str:
        return f"{self.prefix}/{name}"

    def _lock_key(self, name: str) -> str:
        return f"{self.prefix}/.locks/{name}"

    def _call(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        if self.user and not self._authenticated:
            self._authenticate()
        try:
            response = self.client.post(path, json=body)
        except httpx.HTTPError as e:
            raise unreachable(self.where, e) from e
        if response.status_code in (401, 403) or _auth_error(response):
            raise FleetError(
                f"the fleet store {self.where} refused wrap (HTTP {response.status_code}): "
                "check WRAP_FLEET_USER / WRAP_FLEET_PASSWORD"
            )
        try:
            data = response.json()
        except ValueError:
            data = None
        if response.status_code != 200 or not isinstance(data, dict):
            raise FleetError(
                f"the fleet store {self.where} answered HTTP {response.status_code} to {path}"
            )
        return data

    def _authenticate(self) -> None:
        try:
            response = self.client.post(
                "/v3/auth/authenticate", json={"name": self.user, "password": self.password or ""}
            )
        except httpx.HTTPError as e:
            raise unreachable(self.where, e) from e
        token = response.json().get("token") if response.status_code == 200 else None
        if not isinstance(token, str):
            raise FleetError(
                f"the fleet store {self.where} refused the user {self.user!r}: check "
                "WRAP_FLEET_USER / WRAP_FLEET_PASSWORD"
            )
        self.client.headers["Authorization"] = token
        self._authenticated = True

    def try_lock(self, name: str, owner: str, ttl: float) -> Lease | None:
        granted = self._call("/v3/lease/grant", {"TTL": max(2, math.ceil(ttl))})
        lease_id = granted.get("ID")
        if not lease_id:
            raise FleetError(f"the fleet store {self.where} granted no lease")
        key = _b64(self._lock_key(name))
        txn = self._call(
            "/v3/kv/txn",
            {
                "compare": [{"target": "CREATE", "key": key, "create_revision": "0"}],
                "success": [{"request_put": {"key": key, "value": _b64(owner), "lease": lease_id}}],
            },
        )
        if not txn.get("succeeded"):
            self._call("/v3/lease/revoke", {"ID": lease_id})
            return None
        return Lease(name, owner, ttl, handle=lease_id)

    def keep(self, lease: Lease) -> bool:
        answer = self._call("/v3/lease/keepalive", {"ID": lease.handle})
        result = answer.get("result") or {}
        return int(result.get("TTL") or 0) > 0

    def unlock(self, lease: Lease) -> None:
        self._call("/v3/lease/revoke", {"ID": lease.handle})

    def lock_owner(self, name: str) -> str | None:
        kvs = self._call("/v3/kv/range", {"key": _b64(self._lock_key(name))}).get("kvs") or []
        return base64.b64decode(kvs[0].get("value", "")).decode() if kvs else None

    def read(self, name: str) -> Stored:
        kvs = self._call("/v3/kv/range", {"key": _b64(self._key(name))}).get("kvs") or []
        if not kvs:
            return Stored(None, 0)
        kv = kvs[0]
        return Stored(base64.b64decode(kv.get("value", "")), int(kv.get("mod_revision", 0)))

    def write(
        self, name: str, value: bytes, expected: Stored, lease: Lease | None
    ) -> Stored | None:
        key = _b64(self._key(name))
        compare: list[dict[str, Any]] = [
            {"target": "MOD", "key": key, "mod_revision": str(expected.version)}
        ]
        if lease is not None:
            compare.append(
                {"target": "LEASE", "key": _b64(self._lock_key(name)), "lease": lease.handle}
            )
        txn = self._call(
            "/v3/kv/txn",
            {"compare": compare, "success": [{"request_put": {"key": key, "value": _b64(value)}}]},
        )
        if not txn.get("succeeded"):
            return None
        revision = int((txn.get("header") or {}).get("revision", 0))
        return Stored(value, revision)

    def names(self) -> list[str]:
        start = f"{self.prefix}/"
        answer = self._call(
            "/v3/kv/range", {"key": _b64(start), "range_end": _prefix_end(start), "keys_only": True}
        )
        out = []
        for kv in answer.get("kvs") or []:
            rest = base64.b64decode(kv.get("key", "")).decode()[len(start) :]
            if rest and "/" not in rest:
                out.append(rest)
        return out

    def close(self) -> None:
        self.client.close()


def _auth_error(response: httpx.Response) -> bool:
    if response.status_code < 400:
        return False
    text = response.text.lower()
    return "permission denied" in text or "invalid auth token" in text or "user name" in text
