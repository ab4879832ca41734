"""The freshness decision and the lifetime rule, as pure functions of `now`."""

from __future__ import annotations

import pytest

from launcher import policy

DAY = 86400
NOW = 1_800_000_000.0


@pytest.mark.parametrize(
    ("left", "expected"),
    [
        (8 * DAY, policy.FRESH),
        (7 * DAY + 1, policy.FRESH),
        (7 * DAY, policy.EXPIRING),
        (1, policy.EXPIRING),
        (0, policy.EXPIRED),
        (-5, policy.EXPIRED),
    ],
)
def test_state_against_seven_day_threshold(left: int, expected: str) -> None:
    assert policy.token_state(NOW + left, NOW, 7 * DAY) == expected


def test_no_expiry_is_fresh() -> None:
    assert policy.token_state(None, NOW, 7 * DAY) == policy.FRESH


def test_zero_threshold_refreshes_only_when_expired() -> None:
    assert policy.token_state(NOW + 1, NOW, 0) == policy.FRESH
    assert policy.token_state(NOW, NOW, 0) == policy.EXPIRED


def test_lifetime_at_most_threshold_halves_it() -> None:
    assert policy.effective_threshold(7 * DAY, 8 * 3600) == 4 * 3600


def test_long_lifetime_keeps_threshold() -> None:
    assert policy.effective_threshold(7 * DAY, 365 * DAY) == 7 * DAY


def test_unknown_lifetime_keeps_threshold() -> None:
    assert policy.effective_threshold(7 * DAY, None) == 7 * DAY


def test_eight_hour_token_is_fresh_until_half_life() -> None:
    threshold = policy.effective_threshold(7 * DAY, 8 * 3600)
    issued = NOW
    expires = issued + 8 * 3600
    assert policy.token_state(expires, issued + 3 * 3600, threshold) == policy.FRESH
    assert policy.token_state(expires, issued + 4 * 3600, threshold) == policy.EXPIRING
