"""Which path an account's refresh takes: its fleet, the vendor's CLI, or wrap's own flight."""

from __future__ import annotations

import os
import time

TYPE_CHECKING = False  # typing itself costs ~2 ms of import, paid by every launch that waits
if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    import httpx

    from launcher.config import Settings
    from launcher.credentials import Credentials
    from launcher.log import Log


def renew(
    settings: Settings,
    state_dir: str,
    *,
    now: Callable[[], float],
    log: Log,
    forced: bool = False,
    resend: bool = False,
    ahead: float = 0.0,
    env: Mapping[str, str] | None = None,
    client_factory: Callable[[str], httpx.Client] | None = None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> Credentials:
    """Make the token at settings.credentials fresh, or raise a WrapError saying why not.

    Single flight: every wrap process for the same file serializes on the lock beside it, then
    takes every lock the vendor's CLI honours, and only then reads the file, decides and sends:
    the refresh token sent always comes from a read that no other refresher can race.
    AHEAD: refresh a token that enters its threshold within that many seconds (keepalive looks
    one pass ahead), still deciding from the read under the locks. FORCED, RESEND: flight.fly.
    """
    if settings.fleet:
        # An account shared by machines refreshes only through its fleet store.
        from launcher.errors import UsageError, WrapError
        from launcher.fleet import account

        try:
            return account.pull(
                settings, state_dir, now=now, log=log, forced=forced, ahead=ahead, env=env
            )
        except UsageError:
            raise
        except WrapError as e:
            # Counted as a local refresh's failures are, so that keepalive tells of a pull
            # that keeps failing (a store gone, a record refused) as it does of those.
            from launcher import stores
            from launcher.refresh import outcome

            source = stores.for_settings(settings, os.environ if env is None else env)
            outcome.record_failure(state_dir, source, now(), e)
            raise
    env = os.environ if env is None else env
    if settings.refresh_via == "cli":
        from launcher.refresh import via_cli

        return via_cli.refresh_via_cli(settings, state_dir=state_dir, env=env, now=now, log=log)
    from launcher.refresh import flight

    return flight.fly(
        settings,
        state_dir,
        now=now,
        log=log,
        forced=forced,
        resend=resend,
        ahead=ahead,
        env=env,
        client_factory=client_factory,
        clock=clock,
        sleep=sleep,
    )
