"""Built-in profiles as data: where each CLI keeps its token, in which shape, and how to refresh it.

Imported on the hot path: standard library only, plain classes.
"""

from __future__ import annotations

import os

TYPE_CHECKING = False  # typing itself costs ~4 ms of import on the launch path
if TYPE_CHECKING:
    from collections.abc import Mapping


class Profile:
    """Everything wrap needs to know about one CLI's credentials file."""

    __slots__ = (
        "access_field",
        "body",
        "client_id",
        "client_secret",
        "config_dir_env",
        "default_dir",
        "expiry_field",
        "expiry_unit",
        "extra_body",
        "file_name",
        "login_hint",
        "name",
        "programs",
        "refresh_field",
        "setup_command",
        "token_url",
        "vendor_lock",
    )

    def __init__(
        self,
        name: str,
        *,
        programs: tuple[str, ...],
        default_dir: str,
        file_name: str,
        access_field: str,
        refresh_field: str,
        expiry_field: str,
        expiry_unit: str,
        token_url: str,
        client_id: str | None,
        client_secret: str | None = None,
        body: str = "json",
        extra_body: Mapping[str, str] | None = None,
        config_dir_env: str | None = None,
        setup_command: tuple[str, ...] | None = None,
        login_hint: str = "",
        vendor_lock: str | None = None,
    ) -> None:
        self.name = name
        self.programs = programs
        self.default_dir = default_dir
        self.file_name = file_name
        self.config_dir_env = config_dir_env
        self.access_field = access_field
        self.refresh_field = refresh_field
        self.expiry_field = expiry_field
        self.expiry_unit = expiry_unit
        self.token_url = token_url
        self.client_id = client_id
        self.client_secret = client_secret
        self.body = body
        self.extra_body = dict(extra_body or {})
        self.setup_command = setup_command
        # Name of the vendor's own refresh lock (see launcher/vendor_locks.py), if it has one.
        self.vendor_lock = vendor_lock
        self.login_hint = login_hint or f"log in again with '{programs[0]}'"

    def default_path(self, env: Mapping[str, str]) -> str:
        """The credentials file this profile uses when nothing overrides it."""
        if self.config_dir_env and env.get(self.config_dir_env):
            base = env[self.config_dir_env]
        else:
            base = os.path.join(home_dir(env), self.default_dir)
        return os.path.join(os.path.expanduser(base), self.file_name)


def home_dir(env: Mapping[str, str]) -> str:
    # HOME from the given environment first, so tests and sudo-less setups can point it anywhere.
    return env.get("HOME") or os.path.expanduser("~")


CLAUDE = Profile(
    "claude",
    programs=("claude",),
    default_dir=".claude",
    file_name=".credentials.json",
    config_dir_env="CLAUDE_CONFIG_DIR",
    access_field="claudeAiOauth.accessToken",
    refresh_field="claudeAiOauth.refreshToken",
    expiry_field="claudeAiOauth.expiresAt",
    expiry_unit="ms",
    token_url="https://platform.claude.com/v1/oauth/token",
    client_id="9d1c250a-e61b-44d9-88ed-5944d1962f5e",
    body="json",
    setup_command=("claude", "setup-token"),
    login_hint="log in again: run 'claude' and type /login, or 'claude setup-token'",
    vendor_lock="claude",
)

BUILTIN: dict[str, Profile] = {p.name: p for p in (CLAUDE,)}


def by_program(program: str) -> Profile | None:
    """The built-in profile whose program matches PROGRAM's basename, if any."""
    base = os.path.basename(program)
    for profile in BUILTIN.values():
        if base in profile.programs:
            return profile
    return None
