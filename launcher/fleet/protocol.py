"""The single-refresher protocol over any Backend: one machine refreshes, every other copies.

The cardinal rule across machines: the decision to refresh and the refresh token sent come from
a read of the record made while holding the store's lock; just before sending, the holder
records (compare-and-swap) that it is refreshing, with a fingerprint of the token; a rotated
refresh token goes into the store the moment it arrives. A mark left by a holder whose lock
ended means the token may be spent: nobody sends it again, and a push mends the record.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import threading
import uuid
from typing import TYPE_CHECKING, Any, Protocol

from launcher.errors import RefreshError, WrapError
from launcher.fleet import FleetConflict, FleetError, FleetRefused, Lease, Stored
from launcher.fleet.records import CHAIN_KEPT, Record, fingerprint, mapping
from launcher.refresh.deferral import signals_deferred

if TYPE_CHECKING:
    from collections.abc import Callable

    from launcher.fleet import Backend
    from launcher.log import Log

POLL = 0.15
WAIT_NOTICE_AFTER = 2.0
# Lock TTL beyond the refresh deadline: the lock outlives any request its holder may send.
TTL_MARGIN = 2.0
MIN_TTL = 2.0  # etcd's minimum lease


class Refresher(Protocol):
    """The OAuth side, injected: protocol.py never learns a vendor's name or httpx."""

    def send(
        self, record: Record, token: str, on_refresh_token: Callable[[str], None], budget: float
    ) -> Any:
        """Run the refresh grant (RefreshError when it fails); the answer, for apply()."""
        ...

    def apply(self, record: Record, answer: Any, at: float) -> float:
        """Put the answer into the record's document; the token lifetime it gave."""
        ...


class Context:
    """Every side effect the protocol uses, so that tests can drive it."""

    __slots__ = ("checkpoint", "clock", "keep_pending", "log", "machine", "now", "sleep", "store")

    def __init__(
        self,
        store: Backend,
        *,
        machine: str,
        now: Callable[[], float],
        clock: Callable[[], float],
        sleep: Callable[[float], None],
        log: Log,
        keep_pending: Callable[[str, str, str], str],
        checkpoint: Callable[[str], None] = lambda point: None,
    ) -> None:
        self.store = store
        self.machine = machine
        self.now = now
        self.clock = clock
        self.sleep = sleep
        self.log = log
        # (record name, rotated refresh token, fingerprint of the one it replaced) -> where it
        # was kept on this machine (0600), when the store would not take it.
        self.keep_pending = keep_pending
        # Named points of the protocol (tests stop or kill a process there).
        self.checkpoint = checkpoint


def lock_ttl(deadline_seconds: float) -> float:
    return max(MIN_TTL, deadline_seconds + TTL_MARGIN)


def read(ctx: Context, name: str) -> tuple[Stored, Record | None]:
    stored = ctx.store.read(name)
    if stored.value is None:
        return stored, None
    return stored, Record.loads(stored.value, f"{name!r} in {ctx.store.where}")


def pull(
    ctx: Context,
    name: str,
    refresher: Refresher,
    *,
    threshold: int,
    forced: bool,
    deadline: float,
    ttl: float,
    ahead: float = 0.0,
) -> Record:
    """A record whose access token is fresh, refreshed under the store's lock when it is due.

    DEADLINE is on ctx.clock; THRESHOLD as the gate's (the record's lifetime rule applies);
    AHEAD: fresh means fresh that many seconds from now (keepalive looks one pass ahead)."""
    first, rec = _required(ctx, name)
    if not forced and rec.fresh(ctx.now() + ahead, threshold):
        return rec

    def done(stored: Stored, rec: Record) -> bool:
        if forced:
            # Another machine refreshed while we waited: that is the refresh asked for.
            return (
                stored.version != first.version
                and rec.refreshing is None
                and rec.data.get("last_refresh") is not None
                and rec.usable(ctx.now())
            )
        return rec.fresh(ctx.now() + ahead, threshold)

    waited_since = ctx.clock()
    noticed = False
    while True:
        stored, rec = _required(ctx, name)
        if done(stored, rec):
            return rec
        _refuse_rejected(rec, name)
        lease = ctx.store.try_lock(name, _owner(ctx), ttl)
        if lease is None:
            if ctx.clock() >= deadline:
                owner = ctx.store.lock_owner(name)
                mark = rec.refreshing
                if mark is not None and mark.get("lock") != (owner_info(owner) or {}).get("id"):
                    # The lock is another's than the marker's: that refresh is the one lost.
                    raise FleetRefused(_stalled_message(name, mark))
                holder = _machine_of(owner)
                raise FleetError(
                    f"{holder} has held the fleet lock on {name} past this launch's refresh "
                    "timeout; using what this machine has"
                )
            if not noticed and ctx.clock() - waited_since >= WAIT_NOTICE_AFTER:
                holder = _machine_of(ctx.store.lock_owner(name))
                ctx.log.info(f"waiting for {holder} to finish refreshing {name}")
                noticed = True
            ctx.sleep(POLL * (0.5 + random.random()))  # noqa: S311 - jitter, not a secret
            continue
        try:
            outcome = _Holder(ctx, name, lease, refresher, deadline).run(done)
        finally:
            try:
                ctx.store.unlock(lease)
            except FleetError as e:
                ctx.log.debug(f"could not release the fleet lock on {name} ({e}); it expires")
        if isinstance(outcome, Record):
            return outcome
        # A stall: our lock is released; the marker may still be alive (paused), and may yet write.
        if isinstance(outcome, _Stalled) and not _changes(
            ctx, name, outcome.stored, deadline, outcome.mark, ttl
        ):
            raise FleetRefused(_stalled_message(name, outcome.mark))


class _Stalled:
    __slots__ = ("mark", "stored")

    def __init__(self, stored: Stored, mark: dict[str, Any]) -> None:
        self.stored = stored
        self.mark = mark


class _Holder:
    """Everything done while holding the lock: re-read, decide, mark, send, write back."""

    def __init__(
        self, ctx: Context, name: str, lease: Lease, refresher: Refresher, deadline: float
    ) -> None:
        self.ctx = ctx
        self.name = name
        self.lease = lease
        self.refresher = refresher
        self.deadline = deadline
        self.stored: Stored | None = None
        self.rec: Record | None = None
        self.rotated: str | None = None

    def run(self, done: Callable[[Stored, Record], bool]) -> Record | _Stalled | None:
        ctx, name = self.ctx, self.name
        stored, rec = _required(ctx, name)
        ctx.checkpoint("locked")
        if done(stored, rec):
            return rec
        _refuse_rejected(rec, name)
        if rec.refreshing is not None:
            return _Stalled(stored, rec.refreshing)  # we hold the lock: the marker's ended

        token = rec.refresh_token
        if token is None:
            raise FleetRefused(
                f"the fleet record {name} holds no refresh token: log in on one machine and run "
                f"'wrap fleet push {name}' there"
            )
        marked = rec.copy()
        lock_id = (owner_info(self.lease.owner) or {}).get("id")
        marked.mark(since=ctx.now(), machine=ctx.machine, token=token, lock=lock_id)
        # The mark needs the lock: only a holder may announce a refresh.
        after = ctx.store.write(name, marked.dumps(), stored, self.lease)
        if after is None:
            return None  # changed meanwhile, or our lock ended: read again
        self.stored, self.rec = after, marked
        keeper = _Keeper(ctx.store, self.lease)
        keeper.start()
        try:
            ctx.checkpoint("before_send")
            if not keeper.ours():
                # Paused past our lease: whoever holds the lock now saw our mark and waits.
                # Nothing was sent, so the mark can go (only if nobody changed the record).
                self.rec.unmark()
                self._put(locked=False)
                return None
            # A signal while the request is out waits until its answer is in the store (or
            # kept on this machine): the rotated token must not die with the process.
            with signals_deferred():
                return self._send(token)
        finally:
            keeper.stop()

    def _send(self, token: str) -> Record:
        ctx = self.ctx
        assert self.rec is not None
        # A lock taken just at the deadline still gets one short try: the launch waits at most
        # this much longer, and the record is ours to mend either way.
        budget = max(1.0, self.deadline - ctx.clock())
        try:
            answer = self.refresher.send(self.rec, token, self._rotated, budget)
            ctx.checkpoint("after_send")
            at = ctx.now()
            lifetime = self.refresher.apply(self.rec, answer, at)
        except RefreshError as e:
            raise self._failed(e, token) from None
        except WrapError:
            if self.rotated is None:
                self.rec.unmark()
                self._put(locked=True)
            raise
        self.rec.refreshed(at=at, machine=ctx.machine, lifetime=lifetime)
        if self._put(locked=True) is None:
            ctx.log.warn(
                f"the new access token of {self.name} could not be written to the fleet store; "
                "this machine uses it, the others will refresh again"
            )
        return self.rec

    def _rotated(self, new: str) -> None:
        """The moment the answer carries a new refresh token: into the store before anything
        else can fail; kept on this machine when the store will not take it."""
        assert self.rec is not None
        if new == self.rec.refresh_token:
            return
        parent = fingerprint(self.rec.refresh_token or "")
        self.rotated = new
        self.rec.set_refresh_token(new)
        self.rec.unmark()  # the new token is unspent: the next due machine may send it
        if self._put(locked=True, at_least=5.0) is None:
            kept = self.ctx.keep_pending(self.name, new, parent)
            self.ctx.log.warn(
                f"the rotated refresh token of {self.name} could not be stored in the fleet "
                f"store {self.ctx.store.where}; it is kept in {kept}: run 'wrap fleet push "
                f"{self.name}' here once the store is back"
            )

    def _failed(self, e: RefreshError, token: str) -> RefreshError:
        ctx, name = self.ctx, self.name
        assert self.rec is not None
        if e.rejected and self.rotated is None:
            self.rec.reject(at=ctx.now(), machine=ctx.machine, error=str(e))
            recorded = self._put(locked=True) is not None
            where = "recorded in the store: no machine asks again" if recorded else "not recorded"
            return FleetRefused(
                f"the server rejected the refresh token of {name} ({e}); {where}: log in on one "
                f"machine and run 'wrap fleet push {name}' there"
            )
        if self.rotated is not None or not e.sent:
            if self.rotated is None:
                self.rec.unmark()  # nothing reached the server: the token is still good
                self._put(locked=True)
            return e
        # Sent, no answer that says what became of the token: the mark stays (it may be spent).
        mark = self.rec.refreshing
        if mark is not None:
            mark["unanswered"] = ctx.now()
            self._put(locked=True)
        return RefreshError(
            f"{e}; the server may have rotated the refresh token of {name}, so no machine sends "
            f"it again: if logins fail, log in on one machine and run 'wrap fleet push {name}'",
            sent=True,
        )

    def _put(self, *, locked: bool, at_least: float = 0.0) -> Stored | None:
        """Compare-and-swap self.rec over the version we wrote last, retrying an unreachable
        store within the deadline (AT_LEAST seconds in any case: a rotated token is at stake).

        Refused with the lock because our lease ended while the record is still the one we
        wrote: nobody acted on it since (a successor that finds our mark only waits), so
        writing it without the lock is what everyone waits for."""
        ctx = self.ctx
        assert self.rec is not None
        assert self.stored is not None
        end = max(self.deadline, ctx.clock() + at_least)
        while True:
            try:
                after = ctx.store.write(
                    self.name, self.rec.dumps(), self.stored, self.lease if locked else None
                )
                if after is None and locked:
                    current = ctx.store.read(self.name)
                    if current.version == self.stored.version:
                        after = ctx.store.write(self.name, self.rec.dumps(), self.stored, None)
            except FleetError as e:
                if ctx.clock() >= end:
                    ctx.log.debug(f"gave up writing {self.name} to the fleet store: {e}")
                    return None
                ctx.sleep(POLL * 2)
                continue
            if after is not None:
                self.stored = after
            return after


class _Keeper:
    """Keeps the lease alive while the request is out (every third of its TTL)."""

    def __init__(self, store: Backend, lease: Lease) -> None:
        self.store = store
        self.lease = lease
        self.lost = False
        # One keep at a time: OpenBao's is a read and a check-and-set, which two at once would
        # turn into a refusal that looks like a lost lease.
        self._one = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def ours(self) -> bool:
        """Checked in the open, just before sending: a process that was paused must not send
        once its lease ended (the thread was paused with it)."""
        if self.lost:
            return False
        try:
            with self._one:
                return self.store.keep(self.lease)
        except FleetError:
            return False

    def _loop(self) -> None:
        while not self._stop.wait(self.lease.ttl / 3):
            try:
                with self._one:
                    kept = self.store.keep(self.lease)
                if not kept:
                    self.lost = True
                    return
            except FleetError:
                continue  # a blip; the TTL still outlives the deadline


def _changes(
    ctx: Context, name: str, stored: Stored, deadline: float, mark: dict[str, Any], ttl: float
) -> bool:
    """Wait until the deadline for the record to change (the marker may be alive after all)."""
    since = mark.get("since")
    if isinstance(since, int | float) and ctx.now() - since > 2 * ttl + 60:
        return False  # its holder's own deadline is long past: nobody will write it now
    while ctx.clock() < deadline:
        ctx.sleep(POLL)
        try:
            if ctx.store.read(name).version != stored.version:
                return True
        except FleetError:
            continue
    return False


def _stalled_message(name: str, mark: dict[str, Any]) -> str:
    from launcher import report

    since = mark.get("since")
    when = report.iso(since) if isinstance(since, int | float) else None
    what = "got no answer" if mark.get("unanswered") else "may have been lost"
    return (
        f"a refresh of {name} on {mark.get('machine') or 'another machine'}"
        f"{f' (started {when})' if when else ''} {what}, so its refresh token is not sent "
        f"again: log in on one machine and run 'wrap fleet push {name}' there"
    )


def _required(ctx: Context, name: str) -> tuple[Stored, Record]:
    stored, rec = read(ctx, name)
    if rec is None:
        raise FleetError(
            f"the fleet store {ctx.store.where} has no record {name}: run 'wrap fleet push "
            f"{name}' on the machine that is logged in"
        )
    return stored, rec


def _refuse_rejected(rec: Record, name: str) -> None:
    rejected = rec.rejected
    if rejected is not None:
        raise FleetRefused(
            f"the server rejected the refresh token of {name} (on {rejected.get('machine')}: "
            f"{rejected.get('error')}); no machine asks again until you log in on one machine "
            f"and run 'wrap fleet push {name}' there"
        )


def _owner(ctx: Context) -> str:
    return json.dumps(
        {"machine": ctx.machine, "pid": os.getpid(), "since": ctx.now(), "id": uuid.uuid4().hex}
    )


def owner_info(owner: str | None) -> dict[str, Any] | None:
    if owner is None:
        return None
    try:
        info = json.loads(owner)
    except ValueError:
        return {"machine": None}
    return info if isinstance(info, dict) else {"machine": None}


def _machine_of(owner: str | None) -> str:
    info = owner_info(owner)
    machine = info.get("machine") if info else None
    return f"machine {machine}" if machine else "another machine"


def push(
    ctx: Context,
    name: str,
    new: Record,
    *,
    force: bool,
    deadline: float,
    ttl: float,
    parent: str | None = None,
) -> str:
    """Make NEW the record under the lock. 'pushed', 'same' (the record already holds this
    token) or 'older' (this token is an older one of the record's chain: nothing to push).

    PARENT: for a rotated token kept on this machine, the fingerprint of the token it replaced
    (it continues the record's chain). FleetConflict when the record holds another, healthy
    login, unless FORCE."""
    token = new.refresh_token
    assert token is not None
    while True:
        lease = ctx.store.try_lock(name, _owner(ctx), ttl)
        if lease is not None:
            break
        if ctx.clock() >= deadline:
            raise FleetError(
                f"{_machine_of(ctx.store.lock_owner(name))} holds the fleet lock on {name}: "
                "try again in a moment"
            )
        ctx.sleep(POLL)
    try:
        stored = ctx.store.read(name)
        cur: Record | None = None
        if stored.value is not None:
            try:
                cur = Record.loads(stored.value, f"{name!r} in {ctx.store.where}")
            except FleetError:
                if not force:
                    raise FleetError(
                        f"the fleet record {name} is unreadable: 'wrap fleet push --force "
                        f"{name}' replaces it"
                    ) from None
        if cur is not None:
            if cur.refresh_token == token:
                return "same"
            if fingerprint(token) in cur.chain and not force:
                return "older"
            mark = cur.refreshing
            continues = parent is not None and (
                parent in cur.chain[-1:] or (mark is not None and mark.get("token") == parent)
            )
            if continues:
                new.data["chain"] = [*cur.chain, fingerprint(token)][-CHAIN_KEPT:]
            # A rejected record, or one whose refresh was lost (a mark while we hold the lock),
            # is the case a push after a fresh login mends.
            healthy = cur.rejected is None and mark is None
            if healthy and not continues and not force:
                pushed = cur.data.get("pushed") or {}
                raise FleetConflict(
                    f"the fleet record {name} holds another login (pushed from "
                    f"{pushed.get('machine') or 'another machine'}): 'wrap fleet pull {name}' "
                    f"uses it; 'wrap fleet push --force {name}' replaces it with this one"
                )
        if ctx.store.write(name, new.dumps(), stored, lease) is None:
            raise FleetError(f"the fleet record {name} changed while pushing: try again")
        return "pushed"
    finally:
        with contextlib.suppress(FleetError):
            ctx.store.unlock(lease)


def describe(ctx: Context, *, threshold: int) -> list[dict[str, Any]]:
    """Every record's state for `wrap fleet status`: never a token value."""
    from launcher import policy

    out = []
    for name in sorted(ctx.store.names()):
        entry: dict[str, Any] = {"name": name}
        try:
            _, rec = read(ctx, name)
        except FleetError as e:
            entry.update(state="unreadable", error=str(e))
            out.append(entry)
            continue
        if rec is None:
            continue
        now = ctx.now()
        holder = owner_info(ctx.store.lock_owner(name))
        mark = rec.refreshing
        if rec.rejected is not None:
            state = "rejected"
        elif mark is not None:
            state = "refreshing" if holder is not None else "stalled"
        else:
            effective = policy.effective_threshold(threshold, rec.lifetime)
            state = policy.token_state(rec.expires_at, now, effective)
        # Any machine (or anyone with the store's password) wrote these: only what has the
        # right type is shown.
        last = mapping(rec.data.get("last_refresh")) or mapping(rec.data.get("pushed")) or {}
        when, text = _when, _text
        entry.update(
            profile=rec.profile_name,
            state=state,
            expires_at=when(rec.expires_at),
            expires_in_seconds=None if rec.expires_at is None else int(rec.expires_at - now),
            login_expires_at=when(rec.data.get("login_expires_at")),
            last_refreshed=when(last.get("at")),
            last_refreshed_by=text(last.get("machine")),
            refreshing=None
            if mark is None
            else {"since": when(mark.get("since")), "machine": text(mark.get("machine"))},
            rejected=None
            if rec.rejected is None
            else {
                "at": when(rec.rejected.get("at")),
                "machine": text(rec.rejected.get("machine")),
                "error": text(rec.rejected.get("error")),
            },
            lock_holder=None
            if holder is None
            else {"machine": text(holder.get("machine")), "since": when(holder.get("since"))},
            has_refresh_token=rec.refresh_token is not None,
        )
        out.append(entry)
    return out


def _when(value: object) -> str | None:
    from launcher import credentials, report

    try:
        return report.iso(credentials.number(value))
    except (OverflowError, OSError, ValueError):  # a year gmtime cannot show
        return None


def _text(value: object) -> str | None:
    return value if isinstance(value, str) else None
