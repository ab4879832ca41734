"""Letting the vendor's CLI refresh its own token (refresh_via = "cli").

Some CLIs refresh on a command that costs no model call (Claude Code 2.1.330: `claude auth
status --json`, within 5 minutes of expiry). The CLI then takes its own locks and writes its
own file; wrap runs the command, reads the file again and says what happened. wrap itself sends
no refresh token on this path.
"""

from __future__ import annotations

import subprocess
import time
from typing import TYPE_CHECKING

from launcher import store, stores
from launcher.errors import ExecError, RefreshError
from launcher.execute import find_program

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from launcher.config import Settings
    from launcher.credentials import Credentials
    from launcher.log import Log


def refresh_via_cli(
    settings: Settings,
    *,
    env: Mapping[str, str],
    now: Callable[[], float],
    log: Log,
    run: Callable[..., subprocess.CompletedProcess[bytes]] = subprocess.run,
) -> Credentials:
    profile = settings.profile
    path = settings.credentials
    # The CLI writes wherever it keeps the login (launcher/stores/): read it back from there.
    source = stores.for_settings(settings, env)
    _, _, before = store.read_parsed(profile, path, time.sleep, source)
    if profile.cli_refresh is None:
        raise RefreshError(
            f'refresh_via = "cli", but wrap knows no command of {profile.programs[0]} that '
            f"refreshes without a model call; {profile.programs[0]} refreshes when it runs",
            sent=False,
        )
    command, window = profile.cli_refresh
    if before.expires_at is not None and before.expires_at - now() > window:
        log.info(
            f"{command[0]} refreshes its token only within {int(window)} s of expiry, and "
            f"{path} has longer: nothing to do yet (refresh_via = cli)"
        )
        return before
    try:
        program = find_program(command[0], env, fix=f"install {command[0]}")
    except ExecError as e:
        raise RefreshError(str(e), sent=False) from e
    try:
        done = run(
            [program, *command[1:]],
            env=dict(env),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=settings.refresh_timeout,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as e:
        raise RefreshError(f"'{' '.join(command)}' did not finish: {e}", sent=False) from e
    _, _, after = store.read_parsed(profile, path, time.sleep, source)
    if after.expires_at != before.expires_at or after.access_token != before.access_token:
        log.debug(f"'{' '.join(command)}' refreshed {path}")
        return after
    raise RefreshError(
        f"'{' '.join(command)}' (exit {done.returncode}) left the token in {path} as it was",
        sent=False,
    )
