"""The refresh's stop points, one seam for every path: the local flight and the fleet holder
call at() where a process could die with a token at stake ("locked", "before_send",
"after_send"). Nothing in wrap sets the hook and no environment variable reaches it; a test's
driver (tests/bin/stop_at.py) installs its own before calling a real entry point, to pause or
kill a refresher exactly there."""

from __future__ import annotations

TYPE_CHECKING = False  # typing itself costs ~2 ms of import, paid by every launch that waits
if TYPE_CHECKING:
    from collections.abc import Callable


def _none(point: str) -> None:
    pass


hook: Callable[[str], None] = _none


def at(point: str) -> None:
    hook(point)
