"""The one interface every store implements, checked on each real store directly: the lock is
exclusive, kept alive by keep(), gone after its TTL or unlock(); a write is refused on a stale
version or under a lock that is not ours."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator

import pytest
from fleet_servers import KINDS, StoreServer

from launcher.fleet import Backend, Stored
from launcher.fleet import settings as fleet_settings
from launcher.fleet.account import open_store


@pytest.fixture(scope="module", params=KINDS)
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[StoreServer]:
    s = StoreServer(request.param, tmp_path_factory.mktemp(f"backend-{request.param}"))
    yield s
    s.stop()


@pytest.fixture
def backend(server: StoreServer) -> Iterator[Backend]:
    table = {"fleet": {"url": server.url, "prefix": f"b{uuid.uuid4().hex[:8]}", "clock_skew": 0}}
    fs = fleet_settings.parse(table, server.env, "test")
    b = open_store(fs)
    yield b
    b.close()


def test_the_lock_is_exclusive_kept_alive_and_released(backend: Backend) -> None:
    first = backend.try_lock("acct", '{"machine": "a"}', 2)
    assert first is not None
    assert backend.try_lock("acct", '{"machine": "b"}', 2) is None
    assert backend.lock_owner("acct") == '{"machine": "a"}'
    for _ in range(3):  # 3 s in all, past the TTL: held only because it is kept alive
        time.sleep(1)
        assert backend.keep(first)
    assert backend.try_lock("acct", '{"machine": "b"}', 2) is None
    backend.unlock(first)
    assert backend.lock_owner("acct") is None
    second = backend.try_lock("acct", '{"machine": "b"}', 2)
    assert second is not None
    assert not backend.keep(first)


def test_an_expired_lock_can_be_taken_and_its_holder_writes_no_more(backend: Backend) -> None:
    old = backend.try_lock("acct", '{"machine": "a"}', 2)
    assert old is not None
    empty = backend.read("acct")
    assert empty.value is None
    deadline = time.monotonic() + 10
    new = None
    while new is None and time.monotonic() < deadline:
        time.sleep(0.2)
        new = backend.try_lock("acct", '{"machine": "b"}', 2)
    assert new is not None
    assert backend.write("acct", b"late", empty, old) is None  # the lock is not its own
    assert backend.read("acct").value is None
    assert backend.write("acct", b"v1", empty, new) is not None


def test_compare_and_swap_refuses_a_stale_version(backend: Backend) -> None:
    absent = backend.read("acct")
    v1 = backend.write("acct", b"one", absent, None)
    assert v1 is not None
    assert backend.write("acct", b"again", absent, None) is None  # it exists now
    v2 = backend.write("acct", b"two", backend.read("acct"), None)
    assert v2 is not None
    assert backend.write("acct", b"stale", v1, None) is None
    assert backend.read("acct").value == b"two"
    stored = backend.read("acct")
    assert isinstance(stored, Stored)
    assert backend.write("acct", b"three", stored, None) is not None


def test_names_list_records_not_locks(backend: Backend) -> None:
    backend.write("one", b"1", backend.read("one"), None)
    lease = backend.try_lock("two", '{"machine": "a"}', 5)
    assert lease is not None
    backend.write("two", b"2", backend.read("two"), lease)
    assert sorted(backend.names()) == ["one", "two"]
