"""The single flight: lock, re-read, decide, send, write back, remember.

Only imported when a token is due (or a refresh is forced), so httpx stays off the hot path.
"""

from __future__ import annotations

import contextlib
import os
import time

from launcher import credentials, lock, policy, redact, state, store, stores, urls, vendors
from launcher.errors import RefreshError, WrapError
from launcher.refresh.answer import lifetime_of
from launcher.refresh.locks import vendor_locks, wrap_lock
from launcher.refresh.outcome import (
    blocked_error,
    check_suspended,
    clear_recovery,
    cooldown,
    human,
    record_failure,
    record_success,
    unreachable_cooldown,
    unreachable_error,
)
from launcher.refresh.writeback import Adopted, Writer

TYPE_CHECKING = False  # typing itself costs ~2 ms of import, paid by every launch that waits
if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Mapping

    import httpx

    from launcher.config import Settings
    from launcher.credentials import Credentials
    from launcher.log import Log
    from launcher.progress import Delayed
    from launcher.stores import Store


def fly(
    settings: Settings,
    state_dir: str,
    *,
    now: Callable[[], float],
    log: Log,
    forced: bool = False,
    resend: bool = False,
    ahead: float = 0.0,
    env: Mapping[str, str],
    client_factory: Callable[[str], httpx.Client] | None = None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> Credentials:
    """The refresh wrap itself sends for an account of this machine (route.renew chose it).

    FORCED: even a fresh token, past cooldowns and suspensions. RESEND: even a refresh token
    that got no answer before (it may have rotated): only `--refresh-token` asks for that."""
    profile = settings.profile
    if "{" not in settings.token_url:
        # A configuration error: before any lock, request or import of the HTTP client.
        urls.check_url(settings.token_url)
    started = now()
    from launcher.progress import Delayed, host_of

    # On a terminal, a refresh that takes more than about a second says what it is doing.
    progress = Delayed(
        log, f"refreshing the {profile.name} token at {host_of(settings.token_url)}..."
    )
    begun = clock()
    with progress:
        creds = _fly(settings, state_dir, log, forced, resend, ahead, env, client_factory, clock,
                     sleep, now, started, progress)  # fmt: skip
    if progress.shown:
        log.info(f"refreshed the {profile.name} token ({clock() - begun:.1f} s)")
    return creds


def _fly(
    settings: Settings,
    state_dir: str,
    log: Log,
    forced: bool,
    resend: bool,
    ahead: float,
    env: Mapping[str, str],
    client_factory: Callable[[str], httpx.Client] | None,
    clock: Callable[[], float],
    sleep: Callable[[float], None],
    now: Callable[[], float],
    started: float,
    progress: Delayed,
) -> Credentials:
    path = settings.credentials
    profile = settings.profile
    # Where the document lives (a file, the Keychain, the keyring); locks and state stay keyed
    # by the account's file path whatever the store.
    source = stores.for_settings(settings, env)
    if not forced:
        check_suspended(state.load(state_dir, path), source, profile.login_hint)

    def waiting() -> None:
        progress.cancel()  # this line says what the launch waits for
        log.info(f"waiting for another process to finish refreshing {path}")

    watch = None if forced else _Watch(settings, state_dir, source, lambda: now() + ahead, sleep)
    waits = clock()
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
        ours = clock() - waits
        theirs = clock()
        with vendor_locks(settings, state_dir, env, clock=clock, sleep=sleep) as locks:
            log.debug(
                f"lock wait: {ours:.3f} s for wrap's lock, {clock() - theirs:.3f} s for "
                f"{profile.vendor_lock or 'no'} vendor locks"
            )
            run = _Run(settings, state_dir, locks, source, now=now, log=log, sleep=sleep)
            return run.under_locks(
                forced=forced,
                resend=resend,
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
        resend: bool = False,
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
            check_suspended(remembered, source, profile.login_hint)
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
        if not forced and remembered.unreachable(
            now(), self.settings.token_url, source.fingerprint()
        ):
            raise unreachable_error(remembered, self.settings.token_url)
        if not resend and remembered.unanswered == state.token_digest(sent):
            raise RefreshError(
                "an earlier refresh with this refresh token got no answer, and the server may "
                "have rotated it: wrap will not send it again blindly; run "
                f"'wrap --refresh-token' to try it anyway, or {profile.login_hint}",
                sent=False,
                held_back=True,
            )
        writer.sent = sent
        # Only now, holding every lock and having decided to send, does this process pay for
        # the HTTP client (about 125 ms of import): the processes waiting behind it never do.
        from launcher.refresh import checkpoint, grant, http
        from launcher.refresh.deferral import signals_deferred

        checkpoint.at("before_send")
        from launcher.refresh.endpoint import endpoint_for

        # A SIGTERM, SIGHUP or SIGINT while the request is out, or while its answer is written
        # and its outcome recorded, takes effect after that: stopping in the middle could lose
        # the rotated token, or forget that a sent token got no answer.
        timing = _Timing(self.log, clock, self.sleep)
        with signals_deferred():
            try:
                endpoint = endpoint_for(self.settings, profile, doc)
                with (
                    timing.request(endpoint.url),
                    (client_factory or http.client_for)(endpoint.url) as client,
                ):
                    response = grant.refresh(
                        client,
                        endpoint,
                        sent,
                        budget=self.settings.refresh_timeout,
                        on_refresh_token=writer.save_refresh_token,
                        clock=clock,
                        sleep=timing.sleep,
                    )
                checkpoint.at("after_send")
                refreshed_at = now()
                lifetime = lifetime_of(response, refreshed_at)
                with timing.step("write-back"):
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
                record_failure(
                    state_dir,
                    source,
                    now(),
                    e,
                    unanswered=sent if unanswered else None,
                    url=self.settings.token_url,
                )
                e.held_back = e.held_back or unanswered
                if e.unreachable:
                    wait = human(unreachable_cooldown(state_dir, path))
                    e = RefreshError(
                        f"{e}; wrap tries it again in {wait} ('wrap --refresh-token' tries now)",
                        sent=False,
                        # Tried and failed (keepalive counts it toward its notice); the next
                        # launches, inside the cooldown, are the ones that do not try.
                        held_back=True,
                        unreachable=True,
                    )
                if e.firewall:
                    e = RefreshError(
                        f"{e}; wrap will not ask it again for "
                        f"{human(cooldown(state_dir, path))}: {profile.programs[0]} "
                        "refreshes its token itself when it must (or run "
                        "'wrap --refresh-token' to try now)",
                        firewall=True,
                        sent=False,
                    )
                raise e from None
            except WrapError as e:
                record_failure(state_dir, source, now(), e)
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
            # A file wrap wrote (store.save_recovery): never through a link, never another's.
            data = store.read_private(kept)
            doc, creds = credentials.parse(writer.profile, data, kept)
        except (OSError, WrapError):
            return None
        try:
            writer.commit_recovered(doc)
        except WrapError as e:
            self.log.warn(
                f"the refreshed credentials are still only in {kept} ({e}): copy it over "
                f"{self.source.where}"
            )
        else:
            clear_recovery(self.state_dir, self.path)
        return doc, creds


class _Timing:
    """Where a refresh's time went, for -v: one line each for the request (with its retries
    and the waits between them) and the write-back."""

    def __init__(self, log: Log, clock: Callable[[], float], sleep: Callable[[float], None]):
        self.log = log
        self.clock = clock
        self._sleep = sleep
        self.retries = 0
        self.waited = 0.0

    def sleep(self, seconds: float) -> None:
        self.retries += 1
        self.waited += seconds
        self._sleep(seconds)

    @contextlib.contextmanager
    def request(self, url: str) -> Iterator[None]:
        begun = self.clock()
        try:
            yield
        finally:
            attempts = self.retries + 1
            self.log.debug(
                f"request: {self.clock() - begun:.3f} s to {url}, {attempts} "
                f"attempt{'s' if attempts > 1 else ''}"
            )
            if self.retries:
                self.log.debug(
                    f"retries: {self.retries}, {self.waited:.3f} s of waiting between them"
                )

    @contextlib.contextmanager
    def step(self, name: str) -> Iterator[None]:
        begun = self.clock()
        try:
            yield
        finally:
            self.log.debug(f"{name}: {self.clock() - begun:.3f} s")


def _ambiguous(error: RefreshError) -> bool:
    """Sent, and no answer that says what became of the token: a timeout or a dropped
    connection after sending, or a 5xx that a gateway may send after the backend rotated."""
    if not error.sent or error.rejected:
        return False
    status = getattr(error, "status", None)
    # A 503 says the request was not processed (it is retried for that reason).
    return status is None or (status >= 500 and status != 503)


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
