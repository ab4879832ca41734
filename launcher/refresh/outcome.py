"""What wrap remembers of a refresh: success, failure, suspension, cooldown, recovery file."""

from __future__ import annotations

import contextlib
import time

from launcher import redact, state
from launcher.errors import RefreshError, WrapError

TYPE_CHECKING = False  # typing itself costs ~2 ms of import, paid by every launch that waits
if TYPE_CHECKING:
    from launcher.log import Log
    from launcher.profiles import Profile
    from launcher.stores import Store


def check_suspended(remembered: state.CredState, source: Store, hint: str) -> None:
    if remembered.suspended_at_version is None:
        return
    if remembered.suspended_at_version != source.fingerprint():
        return  # the file changed since (someone logged in): try again
    raise RefreshError(
        "automatic refresh is suspended: the server rejected this refresh token before; "
        f"{hint}, or run 'wrap --refresh-token' to try again",
        rejected=True,
        sent=False,
    )


def record_failure(
    state_dir: str, source: Store, when: float, error: WrapError, *, unanswered: str | None = None
) -> None:
    remembered = state.load(state_dir, source.path)
    remembered.consecutive_failures += 1
    remembered.last_error = redact.text(str(error))
    remembered.last_failed = when
    if unanswered is not None:
        remembered.unanswered = state.token_digest(unanswered)
    if isinstance(error, RefreshError) and error.rejected:
        remembered.suspended_at_version = source.fingerprint()
    if isinstance(error, RefreshError) and error.firewall:
        step = COOLDOWNS[min(remembered.blocked_count, len(COOLDOWNS) - 1)]
        remembered.blocked_count += 1
        remembered.blocked_until = when + step
        remembered.blocked_version = source.fingerprint()
    with contextlib.suppress(OSError):
        state.save(state_dir, remembered)


def record_success(state_dir: str, path: str, when: float, lifetime: float, log: Log) -> None:
    remembered = state.load(state_dir, path)
    remembered.last_refreshed = when
    remembered.lifetime = lifetime
    remembered.refresh_count += 1
    remembered.consecutive_failures = 0
    remembered.last_error = None
    remembered.last_failed = None
    remembered.suspended_at_version = None
    remembered.unanswered = None
    remembered.pending_recovery = None
    remembered.pending_version = None
    remembered.blocked_until = None
    remembered.blocked_count = 0
    remembered.blocked_version = None
    try:
        state.save(state_dir, remembered)
    except OSError as e:
        log.debug(f"could not save refresh state for {path}: {e.strerror}")


# How long launches leave the endpoint alone after its firewall refused wrap, growing with
# each refusal in a row (cleared by a success, or by the file changing).
COOLDOWNS = (600.0, 3600.0, 21600.0)


def cooldown(state_dir: str, path: str) -> float:
    remembered = state.load(state_dir, path)
    if remembered.blocked_until is None or remembered.last_failed is None:
        return COOLDOWNS[0]
    return remembered.blocked_until - remembered.last_failed


def human(seconds: float) -> str:
    minutes = round(seconds / 60)
    return f"{minutes // 60} h" if minutes >= 60 and minutes % 60 == 0 else f"{minutes} min"


def blocked_error(remembered: state.CredState, profile: Profile) -> RefreshError:
    until = time.strftime("%H:%M", time.localtime(remembered.blocked_until or 0))
    return RefreshError(
        f"the token endpoint's firewall refused wrap's last request; wrap leaves it alone until "
        f"{until} and {profile.programs[0]} refreshes its token itself when it must "
        "('wrap --refresh-token' tries now)",
        sent=False,
        blocked=True,
    )


def remember_recovery(state_dir: str, source: Store, kept: str) -> None:
    remembered = state.load(state_dir, source.path)
    remembered.pending_recovery = kept
    remembered.pending_version = source.fingerprint()
    with contextlib.suppress(OSError):
        state.save(state_dir, remembered)


def clear_recovery(state_dir: str, path: str) -> None:
    remembered = state.load(state_dir, path)
    remembered.pending_recovery = None
    remembered.pending_version = None
    with contextlib.suppress(OSError):
        state.save(state_dir, remembered)
