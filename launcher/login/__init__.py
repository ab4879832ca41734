"""Interactive re-authentication, for when no refresh can help: the vendor's setup command
under a pty, or a browser login with PKCE. Never without a terminal."""

from __future__ import annotations

import os
import time
import webbrowser
from typing import TYPE_CHECKING

import httpx

from launcher import config, credentials, lock, redact, state, store, stores, vendors
from launcher.errors import CredentialsError, LoginError, UsageError
from launcher.execute import find_program
from launcher.refresh import grant
from launcher.refresh.locks import key
from launcher.refresh.outcome import record_success
from launcher.refresh.writeback import Writer

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence

    from launcher.config import Settings
    from launcher.log import Log
    from launcher.profiles import Profile

SETUP_TOKEN_LIFETIME = 365 * 86400.0
# login_method as the config's `login` key spells it.
_LOGIN_WORDS = {"setup": "setup-token"}


def login(
    settings: Settings,
    *,
    env: Mapping[str, str],
    log: Log,
    interactive: bool,
    now: Callable[[], float] = time.time,
    open_browser: Callable[[str], bool] = webbrowser.open,
    read_line: Callable[[float], str | None] | None = None,
    client_factory: Callable[[], httpx.Client] = httpx.Client,
    stdin_fd: int = 0,
    stdout_fd: int = 1,
    args: Sequence[str] = (),
) -> None:
    """Log in again and store the result; one interactive login per file at a time.

    ARGS go to the vendor's login command (`wrap login claude -- --email a@b`)."""
    path = settings.credentials
    profile = settings.profile
    if not interactive:
        raise UsageError(f"logging in needs a terminal; {profile.login_hint}")
    if profile.login_method is None:
        raise LoginError(f"wrap cannot log in to {profile.name} itself: {profile.login_hint}")
    if args and profile.login_method != "cli":
        raise UsageError(
            f"options after -- go to the vendor's login command; {profile.name} logs in "
            f"with login = {_LOGIN_WORDS.get(profile.login_method, profile.login_method)!r}"
        )
    state_dir = config.state_dir(env)
    # The login goes where the account lives (launcher/stores/): its file, Keychain or keyring.
    source = stores.for_settings(settings, env)
    before = source.fingerprint()

    def waiting() -> None:
        log.info(f"waiting for the login in progress elsewhere for {path} to finish")

    with lock.locked(
        f"{path}.login",
        timeout=settings.login_timeout + 60,
        fallback=os.path.join(state_dir, "locks", key(state_dir, path) + ".login.lock"),
        on_wait=waiting,
    ):
        if before != source.fingerprint() and _usable(settings, source, now()):
            log.info(f"{path} was logged in by another launch meanwhile")
            return
        target = _Target(settings, state_dir, log, now, source, *_current(settings, source))
        if profile.login_method == "cli":
            from launcher.login import vendor_cli

            vendor_cli.login(
                settings,
                env=env,
                log=log,
                now=now(),
                state_dir=state_dir,
                source=source,
                args=args,
                headless=paste_mode(settings, env),
                stdin_fd=stdin_fd,
                stdout_fd=stdout_fd,
            )
        elif profile.login_method == "setup":
            _setup(target, env, stdin_fd, stdout_fd)
        else:
            _browser(target, env, open_browser, read_line, client_factory)


class _Target:
    """The file being logged in to, as it was when the login lock was taken."""

    def __init__(
        self,
        settings: Settings,
        state_dir: str,
        log: Log,
        now: Callable[[], float],
        source: stores.Store,
        doc: dict[str, object],
        original: bytes,
    ) -> None:
        self.settings = settings
        self.state_dir = state_dir
        self.log = log
        self.now = now
        self.source = source
        self.doc = doc
        self.original = original

    def save(self, profile: Profile, response: grant.TokenResponse, lifetime: float) -> None:
        """Write the new tokens (every other field kept) and remember the refresh."""
        t = self.now()
        writer = Writer(
            self.settings,
            profile,
            self.state_dir,
            self.doc,
            self.original,
            "",
            vendors.Locks(),
            adopt=False,
            source=self.source,
        )
        writer.write(response, refreshed_at=t, expires_at=t + lifetime)
        record_success(self.state_dir, self.settings.credentials, t, lifetime, self.log)


def _usable(settings: Settings, source: stores.Store, t: float) -> bool:
    try:
        data = source.read()
        _, creds = credentials.parse(settings.profile, data, source.where)
    except CredentialsError:
        return False
    return creds.expires_at is None or creds.expires_at > t


def _current(settings: Settings, source: stores.Store) -> tuple[dict[str, object], bytes]:
    """The file's document to update; {} for a file that does not exist yet. A file that
    exists but cannot be parsed is never written: the user must look at it first."""
    path = source.where
    try:
        original = source.read()
    except CredentialsError as e:
        if e.state == credentials.MISSING:
            return {}, b""
        raise
    try:
        doc, _ = credentials.parse(settings.profile, original, path)
    except CredentialsError as e:
        if e.state == credentials.MISSING:  # the document is fine, only the token is missing
            import json

            return json.loads(original), original
        raise LoginError(f"{e}; move it away to log in again") from None
    return doc, original


def _setup(target: _Target, env: Mapping[str, str], stdin_fd: int, stdout_fd: int) -> None:
    from launcher.login import setup

    settings, log = target.settings, target.log
    command = settings.profile.setup_command
    if not command:
        raise UsageError(f"profile {settings.profile.name} has no setup_command")
    # Found the way the program is: with wrap-claude installed as `claude`, the first claude
    # on PATH is wrap itself, which would wait for this very login's lock.
    command = (find_program(command[0], env, fix=settings.profile.login_hint), *command[1:])
    token = setup.run(
        command, env=env, timeout=settings.login_timeout, stdin_fd=stdin_fd, stdout_fd=stdout_fd
    )
    redact.add(token)
    if settings.setup_token == "env":
        expires_at = target.now() + SETUP_TOKEN_LIFETIME
        save_env_token(target.state_dir, settings.credentials, token, expires_at)
        log.info(
            f"logged in; wrap keeps the token and gives it to the program as {state.ENV_TOKEN}"
        )
        return
    response = grant.TokenResponse(token, None, SETUP_TOKEN_LIFETIME)
    target.save(settings.profile, response, SETUP_TOKEN_LIFETIME)
    log.info(f"logged in: {settings.credentials} holds a token valid for a year")


def _browser(
    target: _Target,
    env: Mapping[str, str],
    open_browser: Callable[[str], bool],
    read_line: Callable[[float], str | None] | None,
    client_factory: Callable[[], httpx.Client],
) -> None:
    from launcher.login import browser
    from launcher.refresh.endpoint import endpoint_for

    settings = target.settings
    profile = settings.profile.for_doc(target.doc)
    endpoint = endpoint_for(settings, profile, target.doc)
    if not profile.authorize_url or not endpoint.client_id:
        raise UsageError(
            f"profile {profile.name} needs authorize_url and client_id for a browser login"
        )
    grant.check_url(profile.authorize_url)
    code, redirect_uri, verifier = browser.run(
        authorize_base=profile.authorize_url,
        client_id=endpoint.client_id,
        scopes=profile.scopes,
        extra=profile.authorize_params,
        ports=profile.redirect_ports,
        path=profile.redirect_path,
        timeout=settings.login_timeout,
        paste_mode=paste_mode(settings, env),
        open_browser=open_browser,
        say=target.log.warn,
        read_line=read_line or _read_line,
    )
    redact.add(code, verifier)
    with client_factory() as client:
        response = grant.exchange_code(
            client,
            endpoint,
            code=code,
            redirect_uri=redirect_uri,
            verifier=verifier,
            timeout=settings.refresh_timeout,
        )
    target.save(profile, response, response.expires_in or 3600.0)
    target.log.info(f"logged in: {settings.credentials} updated")


def paste_mode(settings: Settings, env: Mapping[str, str]) -> bool:
    """No browser here: --no-browser, NO_BROWSER (any non-empty value, as Gemini CLI reads
    it), an SSH session, or (on Linux) no display at all."""
    if settings.no_browser or env.get("NO_BROWSER"):
        return True
    if env.get("SSH_CONNECTION") or env.get("SSH_TTY"):
        return True
    import sys

    if sys.platform.startswith("linux") and not env.get("BROWSER"):
        return not (env.get("DISPLAY") or env.get("WAYLAND_DISPLAY"))
    return False


def _read_line(timeout: float) -> str | None:
    import select
    import sys

    ready, _, _ = select.select([sys.stdin], [], [], timeout)
    if not ready:
        return None
    line = sys.stdin.readline()
    return line or None


def save_env_token(state_dir: str, cred_path: str, token: str, expires_at: float) -> None:
    import json

    data = json.dumps({"token": token, "expires_at": expires_at}).encode()
    store.write_private(state.env_token_path(state_dir, cred_path), data)
