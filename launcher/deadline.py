"""The warning at launch that a login itself ends soon (no refresh extends it).

Imported by the gate only when the deadline, already parsed from the file it read, falls within
login_warning: a launch far from it pays one comparison and never touches wrap's state.
Standard library only.
"""

from __future__ import annotations

import contextlib
import time

from launcher import accounts, config, report, state

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Mapping
    from typing import Any

    from launcher.config import Settings

DAY = 86400.0


def warn_once_a_day(
    settings: Settings,
    doc: dict[str, Any],
    ends: float,
    *,
    env: Mapping[str, str],
    now: float,
    say: Callable[[str], None],
) -> bool:
    """Say when the login ends and how to renew it, unless it was said in the last 24 hours
    for this file; True when it was said now."""
    state_dir = config.state_dir(env)
    remembered = state.load(state_dir, settings.credentials)
    last = remembered.login_warned
    if last is not None and 0 <= now - last < DAY:
        return False
    say(message(settings, doc, ends, env=env, now=now))
    remembered.login_warned = now
    # Unsaved, the worst case is the same line again at the next launch.
    with contextlib.suppress(OSError):
        state.save(state_dir, remembered)
    return True


def message(
    settings: Settings, doc: dict[str, Any], ends: float, *, env: Mapping[str, str], now: float
) -> str:
    profile = settings.profile
    account = accounts.Account(profile, settings.credentials, None)
    name = accounts.display_name(account, doc, env)
    who = profile.name if name == profile.name else f"{profile.name} ({name})"
    command = report.login_command(profile.name, settings.credentials, profile.default_path(env))
    when = local_time(ends)
    if ends <= now:
        return (
            f"the {who} login ended {when} ({report.human_duration(now - ends)} ago): "
            f"log in again with {command}"
        )
    return (
        f"the {who} login ends {when} (in {report.human_duration(ends - now)}): "
        f"renew it with {command}"
    )


def local_time(ts: float) -> str:
    return time.strftime("%a %Y-%m-%d %H:%M %Z", time.localtime(ts))
