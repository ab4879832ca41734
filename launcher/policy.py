"""The freshness decision: pure functions of the token's expiry, `now` and the threshold."""

from __future__ import annotations

from launcher import gate

# The rules live in launcher/gate.py, where --check-only's fast path uses them too.
FRESH = gate.FRESH
EXPIRING = gate.EXPIRING
EXPIRED = gate.EXPIRED
effective_threshold = gate.effective_threshold
token_state = gate.token_state


def login_state(login_expires_at: float | None, now: float, threshold: int) -> str:
    """The login's own deadline against the threshold itself, not the lifetime rule's: no
    refresh extends a login, so only a new login helps, and that needs warning well ahead."""
    return token_state(login_expires_at, now, threshold)
