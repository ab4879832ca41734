"""OpenBao (and HashiCorp Vault) KV v2 over httpx: check-and-set versions, no lock primitive.

The lock is a claim record beside the account's (<prefix>/.locks/<name>) taken with `cas`:
version 0 when absent, else the version of a claim that was released or ran out. A claim's end
is in its holder's wall clock, so others add the configured clock skew before taking it over.
The record itself is written with `cas=<version read>` after checking the claim is still ours;
that check and the write are not one transaction here, so the version compare is what keeps a
late writer out. Checked against OpenBao 2.7 (`bao server -dev`).
"""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING, Any

from launcher.fleet import FleetError, Lease, Stored, unreachable
from launcher.fleet.records import mapping
from launcher.refresh import http
from launcher.refresh.http import httpx  # every client from the one factory

if TYPE_CHECKING:
    from collections.abc import Callable

    from launcher.fleet.settings import FleetSettings


class OpenBaoBackend:
    def __init__(
        self, fs: FleetSettings, *, timeout: float, now: Callable[[], float] = time.time
    ) -> None:
        scheme = "https" if fs.tls else "http"
        self.where = fs.where
        self.prefix = fs.prefix
        self.mount = fs.mount
        self.skew = fs.clock_skew
        self.now = now
        headers = {"X-Vault-Token": fs.token} if fs.token else {}
        self.client = http.client_for(
            f"{scheme}://{fs.authority()}",
            ca_file=fs.ca_file,
            base_url=True,
            timeout=httpx.Timeout(timeout, connect=min(timeout, 3.0)),
            headers=headers,
        )
        self.has_token = bool(fs.token)

    def _data(self, path: str) -> str:
        return f"/v1/{self.mount}/data/{self.prefix}/{path}"

    def _request(self, method: str, url: str, body: dict[str, Any] | None = None) -> httpx.Response:
        if not self.has_token:
            raise FleetError(
                f"no token for the fleet store {self.where}: set WRAP_FLEET_TOKEN or token_file"
            )
        try:
            response = self.client.request(method, url, json=body)
        except httpx.HTTPError as e:
            raise unreachable(self.where, e) from e
        if response.status_code in (401, 403):
            raise FleetError(
                f"the fleet store {self.where} refused wrap (HTTP {response.status_code}): check "
                f"the token and its policy on {self.mount}/data/{self.prefix}/*"
            )
        return response

    def _get(self, path: str) -> tuple[dict[str, Any] | None, int]:
        response = self._request("GET", self._data(path))
        outer = mapping(_json(response).get("data")) or {}
        version = self._version((mapping(outer.get("metadata")) or {}).get("version", 0))
        if response.status_code == 404:
            return None, version  # absent, or its last version deleted
        if response.status_code != 200:
            raise FleetError(f"the fleet store {self.where} answered HTTP {response.status_code}")
        data = outer.get("data")
        return (data if isinstance(data, dict) else None), version

    def _version(self, value: object) -> int:
        """A KV v2 version: the compare-and-swap hangs on it, so nothing else is guessed at."""
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise FleetError(
                f"the fleet store {self.where} answered a record version that is not a number: "
                f"check that {self.mount} is a KV v2 mount of OpenBao or Vault"
            )
        return value

    def _put(self, path: str, data: dict[str, Any], cas: int) -> int | None:
        response = self._request("POST", self._data(path), {"options": {"cas": cas}, "data": data})
        body = _json(response)
        if response.status_code == 400 and "check-and-set" in json.dumps(body.get("errors")):
            return None
        if response.status_code not in (200, 204):
            raise FleetError(f"the fleet store {self.where} answered HTTP {response.status_code}")
        written = (mapping(body.get("data")) or {}).get("version")
        return cas + 1 if written is None else self._version(written)

    def _claim(self, name: str) -> tuple[dict[str, Any] | None, int]:
        return self._get(f".locks/{name}")

    def _live(self, claim: dict[str, Any] | None) -> bool:
        if not claim or claim.get("released"):
            return False
        until = claim.get("until")
        return isinstance(until, int | float) and until + self.skew > self.now()

    def try_lock(self, name: str, owner: str, ttl: float) -> Lease | None:
        claim, version = self._claim(name)
        if self._live(claim):
            return None
        taken = self._put(f".locks/{name}", {"owner": owner, "until": self.now() + ttl}, version)
        return Lease(name, owner, ttl, handle=taken) if taken is not None else None

    def keep(self, lease: Lease) -> bool:
        claim, version = self._claim(lease.name)
        if not claim or claim.get("owner") != lease.owner or version != lease.handle:
            return False
        data = {"owner": lease.owner, "until": self.now() + lease.ttl}
        taken = self._put(f".locks/{lease.name}", data, version)
        if taken is None:
            return False
        lease.handle = taken
        return True

    def unlock(self, lease: Lease) -> None:
        if isinstance(lease.handle, int):
            self._put(f".locks/{lease.name}", {"released": True}, lease.handle)

    def lock_owner(self, name: str) -> str | None:
        claim, _ = self._claim(name)
        owner = claim.get("owner") if claim and self._live(claim) else None
        return owner if isinstance(owner, str) else None

    def read(self, name: str) -> Stored:
        data, version = self._get(name)
        record = data.get("record") if data else None
        return Stored(record.encode() if isinstance(record, str) else None, version)

    def write(
        self, name: str, value: bytes, expected: Stored, lease: Lease | None
    ) -> Stored | None:
        if lease is not None:
            claim, _ = self._claim(name)
            if not claim or claim.get("owner") != lease.owner or not self._live(claim):
                return None
        assert isinstance(expected.version, int)
        written = self._put(name, {"record": value.decode()}, expected.version)
        return Stored(value, written) if written is not None else None

    def names(self) -> list[str]:
        response = self._request("LIST", f"/v1/{self.mount}/metadata/{self.prefix}")
        if response.status_code == 404:
            return []
        if response.status_code != 200:
            raise FleetError(f"the fleet store {self.where} answered HTTP {response.status_code}")
        keys = (_json(response).get("data") or {}).get("keys") or []
        return [k for k in keys if isinstance(k, str) and not k.endswith("/")]

    def close(self) -> None:
        self.client.close()


def _json(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}
