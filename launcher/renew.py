"""The slow path: lock, re-read, refresh, write back, remember.

Only imported when a token is due (or a refresh is forced), so httpx stays off the hot path.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from typing import TYPE_CHECKING

import httpx

from launcher import credentials, http, lock, policy, state, store
from launcher import refresh as grant
from launcher.errors import RefreshError, WrapError, WriteError
from launcher.vendor_locks import vendor_lock

if TYPE_CHECKING:
    from collections.abc import Callable

    from launcher.config import Settings
    from launcher.credentials import Credentials
    from launcher.log import Log
    from launcher.profiles import Profile

# RFC 6749 leaves expires_in optional; without it, assume an hour rather than "never expires".
DEFAULT_EXPIRES_IN = 3600.0


def renew(
    settings: Settings,
    state_dir: str,
    *,
    now: Callable[[], float],
    log: Log,
    forced: bool = False,
    client_factory: Callable[[str], httpx.Client] = http.client_for,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> Credentials:
    """Make the token at settings.credentials fresh, or raise a WrapError saying why not.

    Single flight: every wrap process for the same file serializes on the lock beside it, and
    one that finds the file already refreshed (or a refresh that just failed) sends nothing.
    """
    path = settings.credentials
    profile = settings.profile
    if "{" not in settings.token_url:
        grant.check_url(settings.token_url)  # a configuration error: before any lock or request
    started = now()
    if not forced:
        _check_suspended(state.load(state_dir, path), path, profile.login_hint)

    def waiting() -> None:
        log.info(f"waiting for another process to finish refreshing {path}")

    with lock.locked(
        path,
        timeout=settings.lock_timeout,
        fallback=os.path.join(state_dir, "locks", key(state_dir, path) + ".lock"),
        on_wait=waiting,
        clock=clock,
        sleep=sleep,
    ):
        remembered = state.load(state_dir, path)
        original = store.read_bytes(path, profile.login_hint)
        doc, creds = credentials.parse(profile, original, path)
        profile = profile.for_doc(doc)
        if not forced:
            threshold = policy.effective_threshold(settings.threshold, remembered.lifetime)
            if policy.token_state(creds.expires_at, now(), threshold) == policy.FRESH:
                log.debug(f"{path} was refreshed by another process meanwhile")
                return creds
            _check_suspended(remembered, path, profile.login_hint)
            if remembered.last_failed is not None and remembered.last_failed > started:
                raise RefreshError(
                    f"another launch just tried and failed: {remembered.last_error}", sent=False
                )
        if not creds.refresh_token:
            raise RefreshError(
                f"the file has no refresh token; {profile.login_hint}", rejected=True, sent=False
            )
        with vendor_lock(
            profile.vendor_lock,
            path,
            timeout=settings.lock_timeout,
            record=os.path.join(state_dir, "locks", key(state_dir, path) + ".vendor"),
            clock=clock,
            sleep=sleep,
        ):
            writer = Writer(settings, profile, state_dir, doc, original, creds.refresh_token)
            try:
                endpoint = endpoint_for(settings, profile, doc)
                with client_factory(endpoint.url) as client:
                    response = grant.refresh(
                        client,
                        endpoint,
                        creds.refresh_token,
                        budget=settings.refresh_timeout,
                        on_refresh_token=writer.save_refresh_token,
                        clock=clock,
                        sleep=sleep,
                    )
                refreshed_at = now()
                lifetime = _lifetime(response, refreshed_at)
                writer.write(
                    response, refreshed_at=refreshed_at, expires_at=refreshed_at + lifetime
                )
            except RefreshError as e:
                other = _changed_elsewhere(settings, writer, e)
                if other is not None:
                    return other
                if e.rejected:
                    e = RefreshError(
                        f"the refresh token was rejected ({e}); {profile.login_hint}",
                        rejected=True,
                    )
                _record_failure(state_dir, path, now(), e)
                raise e from None
            except WrapError as e:
                _record_failure(state_dir, path, now(), e)
                raise
            # Still under the lock: the next process in line must see the lifetime with the token.
            record_success(state_dir, path, refreshed_at, lifetime, log)
    assert writer.creds is not None
    return writer.creds


class Writer:
    """Writes the document back, keeping what it did not change, and the newest refresh token."""

    def __init__(
        self,
        settings: Settings,
        profile: Profile,
        state_dir: str,
        doc: dict[str, object],
        original: bytes,
        sent: str,
    ) -> None:
        self.settings = settings
        self.profile = profile
        self.state_dir = state_dir
        self.doc = doc
        self.original = original
        self.sent = sent
        self.saved_refresh_token: str | None = None
        self.creds: Credentials | None = None

    def save_refresh_token(self, token: str) -> None:
        # Called the moment a response carries a refresh token, before anything else can fail:
        # a rotated token thrown away would make the next refresh replay a dead one.
        if token == self.sent:
            return
        self._commit(credentials.updated(self.profile, self.doc, refresh_token=token))
        self.saved_refresh_token = token

    def write(
        self, response: grant.TokenResponse, *, refreshed_at: float, expires_at: float
    ) -> None:
        profile = self.profile
        extra: dict[str, object] = {}
        if response.id_token and profile.id_token_field:
            extra[profile.id_token_field] = response.id_token
        for answer_field, file_field in profile.copy_fields.items():
            # Only what the answer carries: an omitted value keeps the file's (Qwen's resource_url).
            if response.body.get(answer_field) is not None:
                extra[file_field] = response.body[answer_field]
        new = credentials.updated(
            profile,
            self.doc,
            access_token=response.access_token,
            refresh_token=response.refresh_token,
            expires_at=expires_at,
            refreshed_at=refreshed_at,
            extra=extra,
        )
        self._commit(new)
        self.creds = credentials.Credentials(
            response.access_token,
            response.refresh_token or self.saved_refresh_token or self.sent,
            expires_at,
        )

    def _commit(self, doc: dict[str, object]) -> None:
        path = self.settings.credentials
        data = credentials.dumps_like(doc, self.original)
        try:
            store.atomic_write(path, data, backup_dir=_backup_dir(self.state_dir, path))
        except WriteError as e:
            try:
                kept = store.save_recovery(os.path.join(self.state_dir, "recovery"), path, data)
            except OSError as e2:
                raise WriteError(
                    f"{e}, and the new token could not be saved elsewhere either ({e2.strerror})"
                ) from e
            raise WriteError(f"{e}; the new token was saved to {kept}: copy it over {path}") from e
        self.doc = doc


def endpoint_for(settings: Settings, profile: Profile, doc: dict[str, object]) -> grant.Endpoint:
    """The profile's endpoint for this file: a variant's URL unless one was set explicitly,
    {field} placeholders filled from the file, and the client registration file if any."""
    base = settings.profile
    url = profile.token_url if settings.token_url == base.token_url else settings.token_url
    client_id = profile.client_id if settings.client_id == base.client_id else settings.client_id
    client_secret = profile.client_secret
    path = settings.credentials
    url = _fill(url, doc, path, "token URL")
    if profile.client_file:
        client_id, client_secret = _client_registration(profile, doc, path)
    grant.check_url(url)
    return grant.Endpoint(
        url,
        client_id,
        client_secret=client_secret,
        body=profile.body,
        client_auth=profile.client_auth,
        request=profile.request,
        response=profile.response,
        extra_body=profile.extra_body,
    )


def _fill(template: str, doc: dict[str, object], path: str, what: str) -> str:
    import string

    out = []
    for literal, field, _, _ in string.Formatter().parse(template):
        out.append(literal)
        if field is None:
            continue
        value = doc.get(field)
        if not isinstance(value, str) or not value:
            raise RefreshError(
                f"the {what} needs '{field}' from {path}, which has none", sent=False
            )
        out.append(value)
    return "".join(out)


def _client_registration(
    profile: Profile, doc: dict[str, object], path: str
) -> tuple[str | None, str | None]:
    assert profile.client_file is not None
    name = _fill(profile.client_file, doc, path, "client registration file")
    reg_path = os.path.join(os.path.dirname(os.path.realpath(path)), name)
    try:
        with open(reg_path, "rb") as f:
            reg = json.loads(f.read())
    except (OSError, ValueError) as e:
        raise RefreshError(
            f"cannot read the client registration {reg_path}: {profile.login_hint}", sent=False
        ) from e
    cid, secret = (
        (reg.get("clientId"), reg.get("clientSecret")) if isinstance(reg, dict) else (None, None)
    )
    if not isinstance(cid, str) or not isinstance(secret, str):
        raise RefreshError(
            f"{reg_path} has no clientId/clientSecret: {profile.login_hint}", sent=False
        )
    return cid, secret


def _lifetime(response: grant.TokenResponse, now: float) -> float:
    if response.expires_in:
        return response.expires_in
    claims = credentials.jwt_claims(response.access_token)
    exp = claims.get("exp") if claims else None
    if isinstance(exp, int | float) and not isinstance(exp, bool) and exp > now:
        return float(exp) - now
    return DEFAULT_EXPIRES_IN


def key(state_dir: str, path: str) -> str:
    return os.path.basename(state.state_path(state_dir, path))[: -len(".json")]


def _backup_dir(state_dir: str, path: str) -> str:
    return os.path.join(state_dir, "backups", key(state_dir, path))


def _check_suspended(remembered: state.CredState, path: str, hint: str) -> None:
    if remembered.suspended_at_version is None:
        return
    if remembered.suspended_at_version != store.fingerprint(path):
        return  # the file changed since (someone logged in): try again
    raise RefreshError(
        "automatic refresh is suspended: the server rejected this refresh token before; "
        f"{hint}, or run 'wrap --refresh-token' to try again",
        rejected=True,
        sent=False,
    )


def _changed_elsewhere(
    settings: Settings, writer: Writer, error: RefreshError
) -> Credentials | None:
    """After a request that may have rotated the token, look at the file before giving up.

    Another program (the CLI itself) may have refreshed it meanwhile; we never send the same
    refresh token again blindly.
    """
    if not error.sent:
        return None
    try:
        data = store.read_bytes(settings.credentials, writer.profile.login_hint)
        _, creds = credentials.parse(settings.profile, data, settings.credentials)
    except WrapError:
        return None
    if creds.refresh_token in (writer.sent, writer.saved_refresh_token):
        return None
    return creds


def _record_failure(state_dir: str, path: str, when: float, error: WrapError) -> None:
    remembered = state.load(state_dir, path)
    remembered.consecutive_failures += 1
    remembered.last_error = str(error)
    remembered.last_failed = when
    if isinstance(error, RefreshError) and error.rejected:
        remembered.suspended_at_version = store.fingerprint(path)
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
    try:
        state.save(state_dir, remembered)
    except OSError as e:
        log.debug(f"could not save refresh state for {path}: {e.strerror}")
