"""This machine's side of the fleet: its credentials file (an access-only copy), its locks, the
rotated token it keeps when the store would not take one, and the OAuth grant it sends as the
holder. What refresh/route.py calls for an account with `fleet` set, and what `wrap fleet` runs.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from typing import TYPE_CHECKING, Any

from launcher import config, credentials, policy, redact, state, store, stores, vendors
from launcher.errors import CredentialsError, UsageError, WrapError
from launcher.fleet import FleetError, protocol
from launcher.fleet import settings as fleet_settings
from launcher.fleet.records import (
    Record,
    access_only,
    copy_onto,
    fingerprint,
    mapping,
)
from launcher.refresh import checkpoint

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from launcher.config import Settings
    from launcher.credentials import Credentials
    from launcher.fleet import Backend
    from launcher.fleet.settings import FleetSettings
    from launcher.log import Log
    from launcher.profiles import Profile
    from launcher.stores import Store

# One request to the store waits at most this long (the deadline bounds the whole pull).
REQUEST_TIMEOUT = 5.0


def fleet_settings_for(env: Mapping[str, str]) -> FleetSettings:
    path, table = config.load_config(env)
    return fleet_settings.parse(table, env, path)


def open_store(fs: FleetSettings, *, timeout: float = REQUEST_TIMEOUT) -> Backend:
    if fs.backend == "etcd":
        from launcher.fleet.etcd import EtcdBackend

        return EtcdBackend(fs, timeout=timeout)
    if fs.backend == "redis":
        from launcher.fleet.redis import RedisBackend

        return RedisBackend(fs, timeout=timeout)
    from launcher.fleet.openbao import OpenBaoBackend

    return OpenBaoBackend(fs, timeout=timeout)


def context(
    fs: FleetSettings,
    backend: Backend,
    state_dir: str,
    *,
    log: Log,
    now: Callable[[], float],
    env: Mapping[str, str],
) -> protocol.Context:
    def keep_pending(name: str, token: str, parent: str) -> str:
        return save_pending(state_dir, name, token, parent, now())

    return protocol.Context(
        backend,
        machine=fs.machine,
        now=now,
        clock=time.monotonic,
        sleep=time.sleep,
        log=log,
        keep_pending=keep_pending,
        checkpoint=checkpoint.at,  # the refresh's one seam (launcher/refresh/checkpoint.py)
    )


def pull(
    settings: Settings,
    state_dir: str,
    *,
    now: Callable[[], float],
    log: Log,
    forced: bool = False,
    ahead: float = 0.0,
    env: Mapping[str, str] | None = None,
) -> Credentials:
    """A fresh access token from the fleet record into this machine's file, without a refresh
    token; the store's holder refreshes when due. A fresh local token means no network.
    AHEAD: also pull a token that becomes due within that many seconds (keepalive's pass)."""
    env = os.environ if env is None else env
    name = fleet_settings.check_name(settings.fleet or "", "fleet in the config")
    deadline = time.monotonic() + settings.refresh_timeout
    fs = fleet_settings_for(env)  # a configuration error shows even when nothing is due
    # This machine's copy is read and written through the account's store (a file: config
    # refuses fleet with store = keychain/keyring), like every other write-back.
    source = stores.for_settings(settings, env)
    with local_locks(settings, state_dir, env) as locks:
        local = _read_local(settings, source)
        remembered = state.load(state_dir, settings.credentials)
        if local is not None and not forced:
            threshold = policy.effective_threshold(settings.threshold, remembered.lifetime)
            if policy.token_state(local[2].expires_at, now() + ahead, threshold) == policy.FRESH:
                return local[2]  # another wrap on this machine pulled meanwhile
        backend = open_store(fs)
        try:
            ctx = context(fs, backend, state_dir, log=log, now=now, env=env)
            rec = protocol.pull(
                ctx,
                name,
                _OAuth(settings),
                threshold=settings.threshold,
                forced=forced,
                ahead=ahead,
                deadline=deadline,
                ttl=protocol.lock_ttl(settings.refresh_timeout),
            )
        finally:
            backend.close()
        with locks.write():
            return write_copy(settings, state_dir, rec, _read_local(settings, source), log, source)


def write_copy(
    settings: Settings,
    state_dir: str,
    rec: Record,
    local: tuple[bytes, dict[str, Any], Credentials] | None,
    log: Log,
    source: Store,
) -> Credentials:
    """The record's access token into this machine's file, every other local field kept."""
    profile = settings.profile
    path = settings.credentials
    theirs = local[2].refresh_token if local is not None else None
    own = (
        bool(theirs) and theirs != rec.refresh_token and fingerprint(theirs or "") not in rec.chain
    )
    if local is not None and own:
        # A login of this machine's own that was never pushed: its refresh token is still
        # good, so it is kept whole (backups rotate) before the record's copy replaces it.
        try:
            kept = store.save_recovery(
                os.path.join(state_dir, "fleet", "displaced"), path, local[0]
            )
        except OSError as e:
            raise WrapError(
                f"{path} holds a login of its own that could not be kept elsewhere "
                f"({e.strerror}), so the fleet record's copy did not replace it"
            ) from e
        log.warn(
            f"{path} held another login than the fleet record {settings.fleet}; it now holds "
            f"the record's, and that login is kept in {kept}: copy it back and run "
            "'wrap fleet push --force' to make it the record instead"
        )
    doc = copy_onto(profile, local[1] if local is not None else None, rec)
    like = local[0] if local is not None else b""
    source.write(
        credentials.dumps_like(doc, like),
        backup_dir=os.path.join(state_dir, "backups", state.key(path)),
    )
    remembered = state.load(state_dir, path)
    # The lifetime rule needs the token's lifetime here too, or an 8-hour token would look
    # due on every launch and every launch would ask the store.
    remembered.lifetime = rec.lifetime
    remembered.last_refreshed = credentials.number(
        (mapping(rec.data.get("last_refresh")) or {}).get("at")
    )
    # A pull that worked ends a run of failed ones (keepalive counts them for its notice).
    remembered.consecutive_failures = 0
    remembered.last_error = None
    with contextlib.suppress(OSError):
        state.save(state_dir, remembered)
    _, creds = credentials.parse(profile, json.dumps(doc).encode(), path)
    return creds


def push(
    settings: Settings,
    state_dir: str,
    *,
    force: bool,
    now: Callable[[], float],
    log: Log,
    env: Mapping[str, str],
    timeout: float,
) -> str:
    """Make this machine's login the record, then strip its refresh token from the file.
    A rotated token this machine kept (the store was away) goes back first."""
    name = fleet_settings.check_name(settings.fleet or "", "fleet in the config")
    profile = settings.profile
    fs = fleet_settings_for(env)
    deadline = time.monotonic() + timeout
    source = stores.for_settings(settings, env)
    with local_locks(settings, state_dir, env) as locks:
        local = _read_local(settings, source)
        pending = load_pending(state_dir, name)
        backend = open_store(fs)
        try:
            ctx = context(fs, backend, state_dir, log=log, now=now, env=env)
            if pending is not None:
                token, parent = pending["refresh_token"], pending.get("parent")
                doc = local[1] if local is not None else _record_doc(ctx, name)
            elif local is not None and local[2].refresh_token:
                token, parent, doc = local[2].refresh_token, None, local[1]
            else:
                raise CredentialsError(
                    f"{settings.credentials} holds no refresh token to push: log in on this "
                    f"machine first ({profile.login_hint})",
                    credentials.MISSING,
                )
            remembered = state.load(state_dir, settings.credentials)
            rec = Record.new(
                profile.for_doc(doc),
                doc,
                token,
                lifetime=remembered.lifetime,
                machine=fs.machine,
                at=now(),
            )
            outcome = protocol.push(
                ctx,
                name,
                rec,
                force=force,
                deadline=deadline,
                ttl=protocol.lock_ttl(timeout),
                parent=parent if isinstance(parent, str) else None,
            )
        finally:
            backend.close()
        local = _read_local(settings, source)
        if local is not None:
            stripped = access_only(profile, local[1])
            if stripped != local[1] and local[2].refresh_token in (token, None):
                with locks.write():
                    source.write(
                        credentials.dumps_like(stripped, local[0]),
                        backup_dir=os.path.join(
                            state_dir, "backups", state.key(settings.credentials)
                        ),
                    )
        if pending is not None:
            clear_pending(state_dir, name)
    return outcome


def _record_doc(ctx: protocol.Context, name: str) -> dict[str, Any]:
    _, rec = protocol.read(ctx, name)
    if rec is None:
        raise FleetError(f"the fleet store has no record {name} to put the kept token into")
    return rec.doc


def status(env: Mapping[str, str], *, now: Callable[[], float], log: Log) -> list[dict[str, Any]]:
    fs = fleet_settings_for(env)
    threshold = config.resolve({}, env).threshold
    backend = open_store(fs)
    try:
        ctx = context(fs, backend, config.state_dir(env), log=log, now=now, env=env)
        return protocol.describe(ctx, threshold=threshold)
    finally:
        backend.close()


def local_locks(
    settings: Settings, state_dir: str, env: Mapping[str, str]
) -> contextlib.AbstractContextManager[vendors.Locks]:
    """wrap's lock on the file and every lock the vendor's CLI honours, as renew takes them:
    one wrap on this machine talks to the store, the others then find the file fresh."""
    from launcher.refresh.locks import refresh_locks

    return refresh_locks(settings, state_dir, env)


def _read_local(
    settings: Settings, source: Store
) -> tuple[bytes, dict[str, Any], Credentials] | None:
    """The file, or None when there is none (a CI runner); a file that cannot be parsed is
    never written over."""
    try:
        return store.read_parsed(settings.profile, settings.credentials, time.sleep, source)
    except CredentialsError as e:
        if e.state == credentials.MISSING and not os.path.exists(settings.credentials):
            return None
        if e.state == credentials.MISSING:
            # A file without an access token (a blanked login): the record's copy replaces it.
            return None
        raise


class _OAuth:
    """The refresh grant as the profile's CLI sends it, from the record's document."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def _profile(self, record: Record) -> Profile:
        return self.settings.profile.for_doc(record.doc)

    def send(
        self, record: Record, token: str, on_refresh_token: Callable[[str], None], budget: float
    ) -> Any:
        from launcher.refresh import grant, http
        from launcher.refresh.endpoint import endpoint_for

        endpoint = endpoint_for(self.settings, self._profile(record), record.doc)
        redact.add(token)  # the record's token, sent from here: kept out of every message
        with http.client_for(endpoint.url) as client:
            return grant.refresh(
                client, endpoint, token, budget=budget, on_refresh_token=on_refresh_token
            )

    def apply(self, record: Record, answer: Any, at: float) -> float:
        from launcher.refresh.answer import answer_extra, lifetime_of

        profile = self._profile(record)
        lifetime = lifetime_of(answer, at)
        doc = credentials.updated(
            profile,
            record.doc,
            access_token=answer.access_token,
            expires_at=at + lifetime,
            refreshed_at=at,
            extra=answer_extra(profile, answer, at),
        )
        record.set_doc(profile, doc)
        return lifetime


# --- a rotated token the store would not take, kept here (0600) until `wrap fleet push` ---


def _pending_path(state_dir: str, name: str) -> str:
    return os.path.join(state_dir, "fleet", f"{name}.pending.json")


def save_pending(state_dir: str, name: str, token: str, parent: str, at: float) -> str:
    path = _pending_path(state_dir, name)
    data = json.dumps({"refresh_token": token, "parent": parent, "at": at}).encode()
    try:
        store.write_private(path, data)
    except OSError as e:
        raise WrapError(f"cannot keep the rotated refresh token in {path}: {e.strerror}") from e
    return path


def load_pending(state_dir: str, name: str) -> dict[str, Any] | None:
    try:
        # A kept refresh token is wrap's own: never through a link, never another user's.
        data = json.loads(store.read_private(_pending_path(state_dir, name)))
    except (OSError, ValueError):
        return None
    if isinstance(data, dict) and isinstance(data.get("refresh_token"), str):
        return data
    return None


def clear_pending(state_dir: str, name: str) -> None:
    with contextlib.suppress(OSError):
        os.unlink(_pending_path(state_dir, name))


def resolve_accounts(
    flags: Mapping[str, Any], env: Mapping[str, str], name: str | None, everything: bool
) -> list[Settings]:
    """NAME: a profile or a fleet record name; none: the default profile; --all: every
    profile with `fleet` set."""
    if name is not None and everything:
        raise UsageError("give NAME or --all, not both")
    loaded = config.load_config(env)
    known = config.known_profiles(loaded)
    if name is None and not everything:
        chosen = [config.resolve(flags, env, loaded=loaded, known=known)]
    else:
        # The endpoint overrides (--token-url, WRAP_TOKEN_URL, ...) are the launched profile's.
        launched = config.launched_settings(flags, env, loaded=loaded, known=known)
        every = [
            config.resolve(
                {**flags, "profile": p},
                env,
                loaded=loaded,
                known=known,
                launched=launched is not None and launched.profile.name == p,
            )
            for p in known
        ]
        every += _named_with_records(flags, env, loaded, known)
        chosen = [
            s
            for s in every
            if s.fleet
            and (everything or name in (s.profile.name, s.fleet, s.bound and s.bound.name))
        ]
        # An account named twice (a profile's binding and its own entry) is one account.
        chosen = list(
            {(s.profile.name, os.path.realpath(s.credentials)): s for s in chosen}.values()
        )
        if not chosen and name is None:
            raise UsageError(
                f'no account has `fleet` set: add fleet = "NAME" to a [profiles.NAME] table '
                f"in {loaded[0]}"
            )
        if not chosen and name is not None:
            raise UsageError(
                f'no account named {name!r} has `fleet` set: add fleet = "{name}" to its '
                f"[profiles.NAME] table in {loaded[0]}"
            )
    for s in chosen:
        if not s.fleet:
            raise UsageError(
                f'the {s.profile.name} account has no `fleet` record: set fleet = "NAME" in '
                f"[profiles.{s.profile.name}] of {loaded[0]}"
            )
    return chosen


def _named_with_records(
    flags: Mapping[str, Any],
    env: Mapping[str, str],
    loaded: tuple[str, dict[str, Any]],
    known: Mapping[str, Profile],
) -> list[Settings]:
    """The named accounts ([profiles.NAME.accounts]) with a fleet record of their own."""
    from launcher import accounts_dirs

    return [
        config.resolve(
            {**flags, "profile": n.profile.name, "credentials": None},
            env,
            loaded=loaded,
            known=known,
            credentials_path=n.file,
            launched=False,
        )
        for n in accounts_dirs.named(loaded, known, env)
        if n.fleet
    ]
