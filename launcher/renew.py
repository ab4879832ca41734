"""The slow path: lock, re-read, refresh, write back, remember.

Only imported when a token is due (or a refresh is forced), so httpx stays off the hot path.
"""

from __future__ import annotations

import contextlib
import json
import os
import time

from launcher import (
    credentials,
    lock,
    policy,
    redact,
    state,
    store,
    stores,
    urls,
    validate,
    vendors,
)
from launcher.errors import CredentialsError, RefreshError, UsageError, WrapError, WriteError

TYPE_CHECKING = False  # typing itself costs ~2 ms of import, paid by every launch that waits
if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Mapping

    import httpx

    from launcher import refresh as grant
    from launcher.config import Settings
    from launcher.credentials import Credentials
    from launcher.log import Log
    from launcher.profiles import Profile
    from launcher.stores import Store

# RFC 6749 leaves expires_in optional; without it, assume an hour rather than "never expires".
DEFAULT_EXPIRES_IN = 3600.0


def renew(
    settings: Settings,
    state_dir: str,
    *,
    now: Callable[[], float],
    log: Log,
    forced: bool = False,
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
    one pass ahead), still deciding from the read under the locks.
    """
    if settings.fleet:
        # An account shared by machines refreshes only through its fleet store.
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
            source = stores.for_settings(settings, os.environ if env is None else env)
            _record_failure(state_dir, source, now(), e)
            raise
    path = settings.credentials
    profile = settings.profile
    env = os.environ if env is None else env
    if settings.refresh_via == "cli":
        from launcher import delegate

        return delegate.refresh_via_cli(settings, env=env, now=now, log=log)
    if "{" not in settings.token_url:
        # A configuration error: before any lock, request or import of the HTTP client.
        urls.check_url(settings.token_url)
    started = now()
    # Where the document lives (a file, the Keychain, the keyring); locks and state stay keyed
    # by the account's file path whatever the store.
    source = stores.for_settings(settings, env)
    if not forced:
        _check_suspended(state.load(state_dir, path), source, profile.login_hint)

    def waiting() -> None:
        log.info(f"waiting for another process to finish refreshing {path}")

    watch = None if forced else _Watch(settings, state_dir, source, lambda: now() + ahead, sleep)
    with contextlib.ExitStack() as held:
        try:
            waited = held.enter_context(
                wrap_lock(
                    settings,
                    state_dir,
                    on_wait=waiting,
                    settled=watch.settled if watch else None,
                    clock=clock,
                    sleep=sleep,
                )
            )
        except lock.Unneeded:
            assert watch is not None
            assert watch.creds is not None
            log.debug(f"{path} was refreshed by another process meanwhile")
            return watch.creds
        if waited and not forced:
            # The wrap that held the lock most likely refreshed the token, in writes the watch
            # may not have polled yet: seeing that needs no vendor lock (the hot path reads
            # without any). A decision to send is still made only in under_locks, from a read
            # under every lock.
            fresh = _refreshed_meanwhile(settings, state_dir, source, now() + ahead, sleep)
            if fresh is not None:
                log.debug(f"{path} was refreshed by another process meanwhile")
                return fresh
        with vendor_locks(settings, state_dir, env, clock=clock, sleep=sleep) as locks:
            run = _Run(settings, state_dir, locks, source, now=now, log=log, sleep=sleep)
            return run.under_locks(
                forced=forced,
                started=started,
                client_factory=client_factory,
                clock=clock,
                ahead=ahead,
            )


class _Watch:
    """While another process holds wrap's lock: whether the token it was refreshing is on disk.

    The hot path launches on a fresh token read without any lock, and so may a launch that
    waits: the whole crowd behind one refresh leaves as soon as it lands, instead of passing
    through the lock one by one. Between polls only the credentials file and the state file
    are stat()ed; they are read again when either changed (the refresher writes the token,
    then the lifetime that makes it fresh under the lifetime rule).
    """

    def __init__(
        self,
        settings: Settings,
        state_dir: str,
        source: Store,
        when: Callable[[], float],
        sleep: Callable[[float], None],
    ) -> None:
        self.settings = settings
        self.state_dir = state_dir
        self.source = source
        self.when = when
        self.sleep = sleep
        self.paths = (settings.credentials, state.state_path(state_dir, settings.credentials))
        self.seen: tuple[tuple[int, int, int] | None, ...] | None = None
        self.creds: Credentials | None = None

    def settled(self) -> bool:
        now = tuple(_stat(p) for p in self.paths)
        if now == self.seen:
            return False
        self.seen = now
        self.creds = _refreshed_meanwhile(
            self.settings, self.state_dir, self.source, self.when(), self.sleep
        )
        return self.creds is not None


def _stat(path: str) -> tuple[int, int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_ino, st.st_size, st.st_mtime_ns


def _refreshed_meanwhile(
    settings: Settings,
    state_dir: str,
    source: Store,
    when: float,
    sleep: Callable[[float], None],
) -> Credentials | None:
    """The token, when the file holds one that is fresh at WHEN and nothing waits to be
    recovered into it; None sends the caller on to the vendor's locks and the full read."""
    remembered = state.load(state_dir, settings.credentials)
    if remembered.pending_recovery is not None:
        return None
    try:
        _, _, creds = store.read_parsed(settings.profile, settings.credentials, sleep, source)
    except WrapError:
        return None
    threshold = policy.effective_threshold(settings.threshold, remembered.lifetime)
    if policy.token_state(creds.expires_at, when, threshold) != policy.FRESH:
        return None
    redact.add(creds.access_token, creds.refresh_token)
    return creds


@contextlib.contextmanager
def refresh_locks(
    settings: Settings,
    state_dir: str,
    env: Mapping[str, str],
    *,
    on_wait: Callable[[], None] | None = None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> Iterator[vendors.Locks]:
    """wrap's lock on the file, then the refresh lock of the vendor's CLI (its write lock is
    the caller's to take around each write). Also what the fleet holds while it pulls."""
    with (
        wrap_lock(settings, state_dir, on_wait=on_wait, clock=clock, sleep=sleep),
        vendor_locks(settings, state_dir, env, clock=clock, sleep=sleep) as locks,
    ):
        yield locks


def wrap_lock(
    settings: Settings,
    state_dir: str,
    *,
    on_wait: Callable[[], None] | None,
    settled: Callable[[], bool] | None = None,
    clock: Callable[[], float],
    sleep: Callable[[float], None],
) -> contextlib.AbstractContextManager[bool]:
    """wrap's own lock on the file (launcher/lock.py): whether another process held it first."""
    path = settings.credentials
    return lock.locked(
        path,
        timeout=settings.lock_timeout,
        fallback=os.path.join(state_dir, "locks", key(state_dir, path) + ".lock"),
        on_wait=on_wait,
        settled=settled,
        clock=clock,
        sleep=sleep,
    )


@contextlib.contextmanager
def vendor_locks(
    settings: Settings,
    state_dir: str,
    env: Mapping[str, str],
    *,
    clock: Callable[[], float],
    sleep: Callable[[float], None],
) -> Iterator[vendors.Locks]:
    """The refresh lock of the vendor's CLI, taken under wrap's own."""
    locks = vendors.locks_for(
        settings.profile.vendor_lock,
        settings.credentials,
        env,
        timeout=settings.lock_timeout,
        record_dir=os.path.join(state_dir, "locks"),
        clock=clock,
        sleep=sleep,
    )
    with locks.refresh():
        yield locks


class _Run:
    """One refresh decided and made under every lock: read, decide, send, write back."""

    def __init__(
        self,
        settings: Settings,
        state_dir: str,
        locks: vendors.Locks,
        source: Store,
        *,
        now: Callable[[], float],
        log: Log,
        sleep: Callable[[float], None],
    ) -> None:
        self.settings = settings
        self.state_dir = state_dir
        self.locks = locks
        self.source = source
        self.now = now
        self.log = log
        self.sleep = sleep
        self.path = settings.credentials

    def under_locks(
        self,
        *,
        forced: bool,
        started: float,
        client_factory: Callable[[str], httpx.Client] | None,
        clock: Callable[[], float],
        ahead: float = 0.0,
    ) -> Credentials:
        path, state_dir, now = self.path, self.state_dir, self.now
        remembered = state.load(state_dir, path)
        source = self.source
        original, doc, creds = store.read_parsed(self.settings.profile, path, self.sleep, source)
        redact.add(creds.access_token, creds.refresh_token)
        profile = self.settings.profile.for_doc(doc)
        writer = Writer(
            self.settings,
            profile,
            state_dir,
            doc,
            original,
            creds.refresh_token,
            self.locks,
            source=source,
        )
        recovered = self._recovered(remembered, writer)
        if recovered is not None:
            doc, creds = recovered
        if not forced:
            threshold = policy.effective_threshold(self.settings.threshold, remembered.lifetime)
            if policy.token_state(creds.expires_at, now() + ahead, threshold) == policy.FRESH:
                self.log.debug(f"{path} was refreshed by another process meanwhile")
                return creds
            _check_suspended(remembered, source, profile.login_hint)
            if remembered.last_failed is not None and remembered.last_failed > started:
                raise RefreshError(
                    f"another launch just tried and failed: {remembered.last_error}", sent=False
                )
        if not creds.refresh_token:
            raise RefreshError(
                f"the file has no refresh token; {profile.login_hint}", rejected=True, sent=False
            )
        sent = creds.refresh_token
        if not forced and remembered.blocked(now(), source.fingerprint()):
            raise blocked_error(remembered, profile)
        if not forced and remembered.unanswered == state.token_digest(sent):
            raise RefreshError(
                "an earlier refresh with this refresh token got no answer, and the server may "
                "have rotated it: wrap will not send it again blindly; run "
                f"'wrap --refresh-token' to try it anyway, or {profile.login_hint}",
                sent=False,
            )
        writer.sent = sent
        # Only now, holding every lock and having decided to send, does this process pay for
        # the HTTP client (about 125 ms of import): the processes waiting behind it never do.
        from launcher import http
        from launcher import refresh as grant

        # A SIGTERM or SIGHUP while the request is out, or while its answer is written and its
        # outcome recorded, takes effect after that: stopping in the middle could lose the
        # rotated token, or forget that a sent token got no answer.
        with vendors.request_in_flight():
            try:
                endpoint = endpoint_for(self.settings, profile, doc)
                with (client_factory or http.client_for)(endpoint.url) as client:
                    response = grant.refresh(
                        client,
                        endpoint,
                        sent,
                        budget=self.settings.refresh_timeout,
                        on_refresh_token=writer.save_refresh_token,
                        clock=clock,
                        sleep=self.sleep,
                    )
                refreshed_at = now()
                lifetime = lifetime_of(response, refreshed_at)
                writer.write(
                    response, refreshed_at=refreshed_at, expires_at=refreshed_at + lifetime
                )
            except Adopted as adopted:
                self.log.debug(f"{path} was replaced by another login meanwhile; using that one")
                return adopted.creds
            except RefreshError as e:
                other = _changed_elsewhere(self.settings, writer, e)
                if other is not None:
                    return other
                if e.rejected:
                    e = RefreshError(
                        f"the refresh token was rejected ({e}); {profile.login_hint}", rejected=True
                    )
                unanswered = _ambiguous(e) and writer.saved_refresh_token is None
                _record_failure(
                    state_dir, source, now(), e, unanswered=sent if unanswered else None
                )
                if e.firewall:
                    e = RefreshError(
                        f"{e}; wrap will not ask it again for "
                        f"{_human(_cooldown(state_dir, path))}: {profile.programs[0]} "
                        "refreshes its token itself when it must (or run "
                        "'wrap --refresh-token' to try now)",
                        firewall=True,
                        sent=False,
                    )
                raise e from None
            except WrapError as e:
                _record_failure(state_dir, source, now(), e)
                raise
            # Still under the lock: the next process in line must see the lifetime with the token.
            record_success(state_dir, path, refreshed_at, lifetime, self.log)
            assert writer.creds is not None
            return writer.creds

    def _recovered(
        self, remembered: state.CredState, writer: Writer
    ) -> tuple[dict[str, object], Credentials] | None:
        """A refreshed document that only reached the recovery file, while the file itself is
        unchanged since: its refresh token is the live one, the file's may be spent."""
        kept = remembered.pending_recovery
        if kept is None or remembered.pending_version != self.source.fingerprint():
            return None
        try:
            data = store.read_bytes(kept, "")
            doc, creds = credentials.parse(writer.profile, data, kept)
        except WrapError:
            return None
        try:
            writer.commit_recovered(doc)
        except WrapError as e:
            self.log.warn(
                f"the refreshed credentials are still only in {kept} ({e}): copy it over "
                f"{self.source.where}"
            )
        else:
            _clear_recovery(self.state_dir, self.path)
        return doc, creds


class Adopted(WrapError):
    """Another program put another login into the file meanwhile: use it, send nothing more."""

    def __init__(self, creds: Credentials) -> None:
        super().__init__("the file holds another login now")
        self.creds = creds


class Writer:
    """Writes the document back, keeping what it did not change, and the newest refresh token.

    Every write happens under the vendor's write lock, after checking that the file is still
    the one read: changes another program made meanwhile are kept (ours are applied onto its
    document), and a document holding another token chain is adopted instead of overwritten.
    """

    def __init__(
        self,
        settings: Settings,
        profile: Profile,
        state_dir: str,
        doc: dict[str, object],
        original: bytes,
        sent: str | None,
        locks: vendors.Locks,
        *,
        adopt: bool = True,
        source: Store | None = None,
    ) -> None:
        self.settings = settings
        # Where the document is read back from and written to (launcher/stores/).
        self.source = source or stores.for_settings(settings, os.environ)
        self.profile = profile
        self.state_dir = state_dir
        self.doc = doc
        self.original = original
        self.sent = sent
        self.locks = locks
        # False for a login: its new chain replaces whatever the file holds by then.
        self.adopt = adopt
        self.saved_refresh_token: str | None = None
        self.creds: Credentials | None = None
        # Every value this refresh set, so that it can be applied onto a newer document too.
        self.changes: dict[str, object] = {}

    def save_refresh_token(self, token: str) -> None:
        # Called the moment a response carries a refresh token, before anything else can fail:
        # a rotated token thrown away would make the next refresh replay a dead one.
        if token == self.sent:
            return
        self.saved_refresh_token = token
        self._commit({"refresh_token": token})

    def write(
        self, response: grant.TokenResponse, *, refreshed_at: float, expires_at: float
    ) -> None:
        extra = answer_fields(self.profile, response)
        # A new login deadline, when the answer gives one (claude's refreshTokenExpiresAt).
        extra.update(credentials.deadline_changes(self.profile, response.body, refreshed_at))
        self._commit(
            {
                "access_token": response.access_token,
                "refresh_token": response.refresh_token,
                "expires_at": expires_at,
                "refreshed_at": refreshed_at,
                "extra": extra,
            }
        )
        self.creds = credentials.Credentials(
            response.access_token,
            response.refresh_token or self.saved_refresh_token or self.sent,
            expires_at,
        )

    def commit_recovered(self, doc: dict[str, object]) -> None:
        """Put a recovered document back into the file (it replaces what the file holds)."""
        with self.locks.write():
            self._write(doc, self.original)
        self.doc = doc

    def _commit(self, changes: dict[str, object]) -> None:
        for name, value in changes.items():
            if value is not None:
                self.changes[name] = value
        new = self._apply(self.doc)
        try:
            with self.locks.write():
                current = _read_quietly(self.source)
                like = self.original
                if current is not None and current != self.original:
                    base = self._newer(current)
                    new, like = self._apply(base), current
                self._write(new, like)
        except (Adopted, WriteError):
            raise
        except Exception as e:  # a rotated token must reach a disk whatever else fails
            raise self._recover(new, f"{type(e).__name__}") from e
        self.doc = new

    def _apply(self, doc: dict[str, object]) -> dict[str, object]:
        ch = self.changes
        extra = ch.get("extra")
        return credentials.updated(
            self.profile,
            doc,
            access_token=_str(ch.get("access_token")),
            refresh_token=_str(ch.get("refresh_token")),
            expires_at=_num(ch.get("expires_at")),
            refreshed_at=_num(ch.get("refreshed_at")),
            extra=extra if isinstance(extra, dict) else None,
        )

    def _newer(self, current: bytes) -> dict[str, object]:
        """The document another program wrote since our read: merge into it, or adopt it."""
        try:
            doc, creds = credentials.parse(self.settings.profile, current, self.source.where)
        except CredentialsError:
            # Not a document we can merge into (a half-done rewrite, a blanked file): our
            # changes go onto the document we read, which still holds every field we knew.
            return self.doc
        theirs = creds.refresh_token
        if self.adopt and theirs and theirs not in (self.sent, self.saved_refresh_token):
            raise Adopted(creds)
        return doc

    def _write(self, doc: dict[str, object], like: bytes) -> None:
        path = self.settings.credentials
        try:
            data = credentials.dumps_like(doc, like)
        except (UnicodeError, ValueError) as e:
            raise self._recover(doc, type(e).__name__) from e
        try:
            self.source.write(data, backup_dir=_backup_dir(self.state_dir, path))
        except WriteError as e:
            raise self._recover(doc, str(e), data) from e
        self.original = data

    def _recover(self, doc: dict[str, object], why: str, data: bytes | None = None) -> WriteError:
        """Keep DOC in a recovery file and remember it, so that the next launch uses its token."""
        path = self.settings.credentials
        if data is None:
            # Whatever made the normal serialization fail, plain ASCII JSON always encodes.
            data = (json.dumps(doc, indent=2, ensure_ascii=True) + "\n").encode("ascii")
        try:
            kept = store.save_recovery(os.path.join(self.state_dir, "recovery"), path, data)
        except OSError as e2:
            return WriteError(
                f"{why}, and the new token could not be saved elsewhere either ({e2.strerror})"
            )
        _remember_recovery(self.state_dir, self.source, kept)
        where = self.source.where
        return WriteError(f"{why}; the new token was saved to {kept}: copy it over {where}")


def answer_fields(profile: Profile, response: grant.TokenResponse) -> dict[str, object]:
    """The file fields a refresh answer sets besides the tokens and the expiry (also used by
    the fleet, which applies them to its record's document)."""
    extra: dict[str, object] = {}
    if response.id_token and profile.id_token_field:
        extra[profile.id_token_field] = response.id_token
    for answer_field, file_field in profile.copy_fields.items():
        # Only what the answer carries: an omitted value keeps the file's (Qwen's resource_url).
        if response.body.get(answer_field) is not None:
            extra[file_field] = response.body[answer_field]
    scope = response.body.get("scope")
    if profile.scope_field and isinstance(scope, str) and scope.strip():
        granted = scope.split()
        if profile.required_scope and profile.required_scope not in granted:
            # The CLI would throw this token away (Claude does): not a refresh at all.
            raise RefreshError(
                f"the server's answer does not grant {profile.required_scope}, so "
                f"{profile.programs[0]} would not use it; {profile.login_hint}"
            )
        extra[profile.scope_field] = granted
    return extra


def _read_quietly(source: Store) -> bytes | None:
    try:
        return source.read()
    except WrapError:
        return None


def _str(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _num(value: object) -> float | None:
    return float(value) if isinstance(value, int | float) else None


def _ambiguous(error: RefreshError) -> bool:
    """Sent, and no answer that says what became of the token: a timeout or a dropped
    connection after sending, or a 5xx that a gateway may send after the backend rotated."""
    if not error.sent or error.rejected:
        return False
    status = getattr(error, "status", None)
    # A 503 says the request was not processed (it is retried for that reason).
    return status is None or (status >= 500 and status != 503)


def endpoint_for(settings: Settings, profile: Profile, doc: dict[str, object]) -> grant.Endpoint:
    """The profile's endpoint for this file: a variant's URL unless one was set explicitly,
    {field} placeholders filled from the file, and the client registration file if any."""
    from launcher import refresh as grant
    from launcher.vendors import request  # platform and string: only once sending is decided

    base = settings.profile
    url = profile.token_url if settings.token_url == base.token_url else settings.token_url
    client_id = profile.client_id if settings.client_id == base.client_id else settings.client_id
    if profile.client_id_field and settings.client_id == base.client_id:
        # A client id the CLI keeps in the file wins over the profile's default.
        kept = credentials.peek(doc, profile.client_id_field)
        if isinstance(kept, str) and kept:
            client_id = kept
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
        headers=request.headers(profile.headers),
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
        validate.template_value(field, value, path, what)
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


def lifetime_of(response: grant.TokenResponse, now: float) -> float:
    if response.expires_in:
        return response.expires_in
    claims = credentials.jwt_claims(response.access_token)
    exp = claims.get("exp") if claims else None
    if isinstance(exp, int | float) and not isinstance(exp, bool) and exp > now:
        return float(exp) - now
    return DEFAULT_EXPIRES_IN


def key(state_dir: str, path: str) -> str:
    return state.key(path)


def _backup_dir(state_dir: str, path: str) -> str:
    return os.path.join(state_dir, "backups", key(state_dir, path))


def _check_suspended(remembered: state.CredState, source: Store, hint: str) -> None:
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
        data = writer.source.read()
        _, creds = credentials.parse(settings.profile, data, writer.source.where)
    except WrapError:
        return None
    if creds.refresh_token in (writer.sent, writer.saved_refresh_token):
        return None
    return creds


def _record_failure(
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


def _cooldown(state_dir: str, path: str) -> float:
    remembered = state.load(state_dir, path)
    if remembered.blocked_until is None or remembered.last_failed is None:
        return COOLDOWNS[0]
    return remembered.blocked_until - remembered.last_failed


def _human(seconds: float) -> str:
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


def _remember_recovery(state_dir: str, source: Store, kept: str) -> None:
    remembered = state.load(state_dir, source.path)
    remembered.pending_recovery = kept
    remembered.pending_version = source.fingerprint()
    with contextlib.suppress(OSError):
        state.save(state_dir, remembered)


def _clear_recovery(state_dir: str, path: str) -> None:
    remembered = state.load(state_dir, path)
    remembered.pending_recovery = None
    remembered.pending_version = None
    with contextlib.suppress(OSError):
        state.save(state_dir, remembered)
