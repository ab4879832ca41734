"""Redis through redis-py: `SET lock owner NX PX` for the lock, Lua for compare-and-swap.

The record's version is its old value itself: the write-back script compares it whole and that
the lock still holds our owner string, in one atomic script. Checked against Redis 7.0.
redis-py comes with the `fleet` extra (pip install 'wrap-launcher[fleet]').
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from launcher.errors import UsageError
from launcher.fleet import FleetError, Lease, Stored

if TYPE_CHECKING:
    from launcher.fleet.settings import FleetSettings

# KEYS[1] record, KEYS[2] lock; ARGV[1] "1" if the record must exist with value ARGV[2], "0"
# if it must be absent; ARGV[3] the new value; ARGV[4] our lock owner, "" for no lock check.
_WRITE = """
if ARGV[4] ~= '' and redis.call('GET', KEYS[2]) ~= ARGV[4] then return 0 end
local current = redis.call('GET', KEYS[1])
if ARGV[1] == '1' then
  if current ~= ARGV[2] then return 0 end
elseif current then
  return 0
end
redis.call('SET', KEYS[1], ARGV[3])
return 1
"""
_KEEP = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0
"""
_UNLOCK = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


class RedisBackend:
    def __init__(self, fs: FleetSettings, *, timeout: float) -> None:
        try:
            import redis
        except ImportError:
            # Something to install, not a store that is down: a usage error (2), not 6.
            raise UsageError(
                "a redis:// fleet store needs redis-py, which is not installed; install the "
                "fleet extra: pipx inject wrap-launcher redis, or uv tool install '.[fleet]'"
            ) from None
        self._errors = redis.RedisError
        self._auth_errors = (redis.AuthenticationError, redis.exceptions.NoPermissionError)
        self.where = fs.where
        self.prefix = fs.prefix
        kwargs: dict[str, Any] = {
            "socket_timeout": timeout,
            "socket_connect_timeout": min(timeout, 3.0),
            "username": fs.user,
            "password": fs.password,
        }
        if fs.tls:
            # Explicit: before 6.0 redis-py did not check the host name by default, and a
            # certificate for any other name received AUTH with the password.
            kwargs["ssl_check_hostname"] = True
            kwargs["ssl_cert_reqs"] = "required"
        if fs.tls and fs.ca_file:
            kwargs["ssl_ca_certs"] = fs.ca_file
        scheme = "rediss" if fs.tls else "redis"
        from urllib.parse import urlsplit

        path = urlsplit(fs.url).path or "/0"
        self.client = redis.Redis.from_url(f"{scheme}://{fs.authority()}{path}", **kwargs)
        self._write = self.client.register_script(_WRITE)
        self._keep = self.client.register_script(_KEEP)
        self._unlock = self.client.register_script(_UNLOCK)

    def _key(self, name: str) -> str:
        return f"{self.prefix}/{name}"

    def _lock_key(self, name: str) -> str:
        return f"{self.prefix}/.locks/{name}"

    def _do(self, what: Any) -> Any:
        try:
            return what()
        except self._auth_errors as e:
            raise FleetError(
                f"the fleet store {self.where} refused wrap ({type(e).__name__}): check "
                "WRAP_FLEET_USER / WRAP_FLEET_PASSWORD"
            ) from e
        except self._errors as e:
            text = str(e)
            if "NOAUTH" in text or "WRONGPASS" in text or "NOPERM" in text:
                raise FleetError(
                    f"the fleet store {self.where} refused wrap: check WRAP_FLEET_PASSWORD"
                ) from e
            raise FleetError(f"cannot reach the fleet store {self.where}: {text}") from e

    def try_lock(self, name: str, owner: str, ttl: float) -> Lease | None:
        ms = math.ceil(ttl * 1000)
        taken = self._do(lambda: self.client.set(self._lock_key(name), owner, nx=True, px=ms))
        return Lease(name, owner, ttl) if taken else None

    def keep(self, lease: Lease) -> bool:
        ms = math.ceil(lease.ttl * 1000)
        return bool(
            self._do(lambda: self._keep(keys=[self._lock_key(lease.name)], args=[lease.owner, ms]))
        )

    def unlock(self, lease: Lease) -> None:
        self._do(lambda: self._unlock(keys=[self._lock_key(lease.name)], args=[lease.owner]))

    def lock_owner(self, name: str) -> str | None:
        value = self._do(lambda: self.client.get(self._lock_key(name)))
        return value.decode() if isinstance(value, bytes) else None

    def read(self, name: str) -> Stored:
        value = self._do(lambda: self.client.get(self._key(name)))
        return Stored(value if isinstance(value, bytes) else None, value)

    def write(
        self, name: str, value: bytes, expected: Stored, lease: Lease | None
    ) -> Stored | None:
        old = expected.version
        args: list[bytes | str] = [
            "1" if isinstance(old, bytes) else "0",
            old if isinstance(old, bytes) else b"",
            value,
            lease.owner if lease is not None else "",
        ]
        keys = [self._key(name), self._lock_key(name)]
        done = self._do(lambda: self._write(keys=keys, args=args))
        return Stored(value, value) if done else None

    def names(self) -> list[str]:
        start = f"{self.prefix}/"
        found = self._do(lambda: list(self.client.scan_iter(match=f"{start}*", count=200)))
        out = []
        for key in found:
            rest = key.decode()[len(start) :]
            if rest and "/" not in rest:
                out.append(rest)
        return out

    def close(self) -> None:
        self._do(self.client.close)
