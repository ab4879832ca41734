"""`wrap-claude ARGS...` that stops itself (SIGSTOP) at one stop point of the refresh (locked,
before_send, after_send: launcher/refresh/checkpoint.py), on the local flight or as the fleet's
holder: `python stop_at.py POINT ARGS...`.

The test's seam into the algorithm's context: this driver installs the checkpoint, then calls
the console script's own function, so no shipped code obeys an environment variable for it."""

from __future__ import annotations

import os
import signal
import sys

from launcher import gate
from launcher.refresh import checkpoint

POINT = sys.argv[1]


def stop(point: str) -> None:
    if point == POINT:
        os.kill(os.getpid(), signal.SIGSTOP)


checkpoint.hook = stop
sys.exit(gate.main_claude(sys.argv[2:]))
