"""The freshness decision: pure functions of the token's expiry, `now` and the threshold."""

from __future__ import annotations

FRESH = "fresh"
EXPIRING = "expiring"
EXPIRED = "expired"


def effective_threshold(threshold: int, lifetime: float | None) -> int:
    """The lifetime rule: a token that lives no longer than the threshold refreshes at half-life.

    Without it, an 8-hour token under a 7-day threshold would be refreshed on every launch,
    rotating the refresh token under every running session.
    """
    if lifetime is not None and 0 < lifetime <= threshold:
        return int(lifetime // 2)
    return threshold


def token_state(expires_at: float | None, now: float, threshold: int) -> str:
    """fresh (time left > threshold), expiring (0 < left <= threshold) or expired."""
    if expires_at is None:
        return FRESH
    left = expires_at - now
    if left <= 0:
        return EXPIRED
    if left <= threshold:
        return EXPIRING
    return FRESH


def login_state(login_expires_at: float | None, now: float, threshold: int) -> str:
    """The login's own deadline against the threshold itself, not the lifetime rule's: no
    refresh extends a login, so only a new login helps, and that needs warning well ahead."""
    return token_state(login_expires_at, now, threshold)


def exit_state(token: str, login: str) -> str:
    """What --check-only exits with: the worse of the token's state and the login's."""
    order = (FRESH, EXPIRING, EXPIRED)
    if token not in order:
        return token  # missing or invalid: nothing to say about a login
    return max(token, login, key=order.index)
