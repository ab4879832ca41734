"""`wrap-claude ARGS...` whose fleet holder stops itself (SIGSTOP) at one point of the protocol
(locked, before_send, after_send): `python fleet_stop_at.py POINT ARGS...`.

The test's seam into the algorithm's context: this driver installs the checkpoint, then calls
the console script's own function, so no shipped code obeys an environment variable for it."""

from __future__ import annotations

import os
import signal
import sys

from launcher import gate
from launcher.fleet import account

POINT = sys.argv[1]


def stop(point: str) -> None:
    if point == POINT:
        os.kill(os.getpid(), signal.SIGSTOP)


account.checkpoint = stop
sys.exit(gate.main_claude(sys.argv[2:]))
