"""The fleet holder under a signal while its request is out, on every store: the signal waits
until the rotated token is in the store, then the launch stops (SIGTERM, SIGHUP) or launches
(Ctrl-C at the gate), and the next machine refreshes with the newest token, nothing replayed.
(A store that goes away mid-refresh: tests/test_fleet.py, the 0600 pending file.)"""

from __future__ import annotations

import json
import signal
import threading

import pytest
from test_fleet import Fleet, fleet, pushed, store  # noqa: F401 - the fixtures, reused

from launcher.fleet import account


def _record_token(env: dict[str, str]) -> str | None:
    backend = account.open_store(account.fleet_settings_for(env))
    try:
        raw = backend.read("work").value
    finally:
        backend.close()
    assert raw is not None
    return json.loads(raw).get("refresh_token")  # type: ignore[no-any-return]


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP, signal.SIGINT])
def test_a_signal_while_the_holders_request_is_out_waits_until_the_store_has_the_answer(
    fleet: Fleet,  # noqa: F811
    signum: int,
) -> None:
    laptop = pushed(fleet)
    arrived, release = threading.Event(), threading.Event()

    def hold() -> None:
        arrived.set()
        release.wait(30)

    fleet.tokens.on_request = hold
    holder = fleet.machine("holder")
    proc = holder.launch()
    assert arrived.wait(30), "the holder never sent its request"
    proc.send_signal(signum)
    release.set()
    _, err = proc.communicate(timeout=60)
    assert "Traceback" not in err
    if signum == signal.SIGINT:
        assert proc.returncode == 0, err  # Ctrl-C at the gate: the refresh ends, claude runs
    else:
        assert proc.returncode == 128 + signum, err
        assert holder.reports() == []
    assert fleet.tokens.newest_refresh == "test-refresh-1"
    assert _record_token(laptop.env()) == fleet.tokens.newest_refresh
    fleet.tokens.on_request = None
    other = fleet.machine("other")
    assert other.wrap("refresh").returncode == 0
    assert fleet.tokens.refresh_requests == 2
    assert fleet.tokens.reused == 0
    assert fleet.tokens.replayed == []
