"""`wrap status` and `wrap refresh NAME|--all`: every account on the machine at a glance."""

from __future__ import annotations

import calendar
import os
import time
from typing import TYPE_CHECKING, Any

from launcher import accounts, config, custom, exitcodes, policy, redact, report, state
from launcher.credentials import INVALID, MISSING
from launcher.errors import UsageError, WrapError
from launcher.vendors import installed

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from launcher.config import Settings
    from launcher.log import Log
    from launcher.profiles import Profile

MARKERS = {
    policy.FRESH: ("✓", "32"),
    policy.EXPIRING: ("!", "33"),
    policy.EXPIRED: ("✗", "31"),
    MISSING: ("?", "35"),
    INVALID: ("?", "35"),
}


class Entry:
    __slots__ = ("account", "report", "settings")

    def __init__(self, account: accounts.Account, settings: Settings, obj: dict[str, Any]):
        self.account = account
        self.settings = settings
        self.report = obj


def collect(
    flags: Mapping[str, Any],
    env: Mapping[str, str],
    now: float,
    refresh_timeout: float = config.DEFAULT_REFRESH_TIMEOUT,
) -> list[Entry]:
    """A report for every account wrap knows of, in profile order."""
    loaded = config.load_config(env)
    known = config.known_profiles(loaded)
    aliases = custom.aliases(loaded[1], env)
    state_dir = config.state_dir(env)
    listed = state.listing(state_dir)
    launched = config.launched_settings(flags, env, loaded=loaded, known=known)
    launched_real = None if launched is None else os.path.realpath(launched.credentials)
    names, bound = _named_accounts(flags, env, loaded, known, launched, aliases)
    # No setting but the file depends on the account: each profile's are resolved once (and
    # once more for the launched account, which alone takes the endpoint overrides); a named
    # account's once each (its directory and fleet record are its own).
    resolved: dict[tuple[str, bool, str | None], Settings] = {}
    # The installed CLI's version, once per profile, read beside the program (never run).
    versions: dict[tuple[str, ...], str | None] = {}
    entries = []
    for account in accounts.discover(known, env, aliases, _store_choices(loaded[1]), names):
        is_launched = accounts.is_launched(account, launched, launched_real)
        named = account.alias if account.real in names.get(account.profile.name, {}) else None
        key = (account.profile.name, is_launched, named)
        base = resolved.get(key)
        if base is None:
            settings = resolved[key] = config.resolve(
                {**flags, "profile": account.profile.name},
                env,
                loaded=loaded,
                known=known,
                credentials_path=account.path,
                refresh_timeout=refresh_timeout,
                launched=is_launched,
            )
        else:
            settings = base.for_file(account.path)

        def name(doc: dict[str, Any] | None, account: accounts.Account = account) -> str:
            return accounts.display_name(account, doc, env)

        # The real path found while listing is the state's key, unless the path had a ~ left.
        if settings.credentials == account.path:
            remembered = state.load(state_dir, account.real, resolved=True, listed=listed)
        else:
            remembered = state.load(state_dir, settings.credentials, listed=listed)
        obj, _ = report.describe_with(settings, remembered, now, name, env)
        programs = settings.profile.programs
        if programs not in versions:
            versions[programs] = installed.program_version(programs, env)
        obj["cli_version"] = versions[programs]
        if named is not None and bound.get(account.profile.name) == named:
            obj["bound"] = True
        entries.append(Entry(account, settings, obj))
    return entries


def _named_accounts(
    flags: Mapping[str, Any],
    env: Mapping[str, str],
    loaded: tuple[str, dict[str, Any]],
    known: Mapping[str, Profile],
    launched: Settings | None,
    aliases: dict[str, str],
) -> tuple[dict[str, dict[str, str]], dict[str, str]]:
    """({profile: {real path: file}} of the named accounts, listed even without a file; their
    names go into ALIASES), and {profile: the account a launch here uses}. A bad binding is a
    usage error here, where the gate only warns."""
    if not any(
        isinstance(s, dict) and ("accounts" in s or "dirs" in s)
        for s in (loaded[1].get("profiles") or {}).values()
    ):
        return {}, {}
    from launcher import accounts_dirs

    name = None if launched is None else launched.profile.name
    accounts_dirs.check(loaded, known, env, name)
    files: dict[str, dict[str, str]] = {}
    for n in accounts_dirs.named(loaded, known, env):
        real = os.path.realpath(n.file)
        aliases[real] = n.name
        files.setdefault(n.profile.name, {})[real] = n.file
    return files, accounts_dirs.bound_names(flags, env, loaded, known, name)


def expiring(entry: Entry) -> bool:
    """Whether `status --expiring` keeps it: its token, or its login, is due or over."""
    return report.exit_code(entry.report, entry.settings.threshold) in (
        exitcodes.EXPIRING,
        exitcodes.EXPIRED,
    )


def _store_choices(table: Mapping[str, Any]) -> dict[str, str]:
    """Each profile's `store` from the config, for finding accounts whose file may be gone."""
    sections = table.get("profiles")
    if not isinstance(sections, dict):
        return {}
    return {
        name: section["store"]
        for name, section in sections.items()
        if isinstance(section, dict) and isinstance(section.get("store"), str)
    }


def expiring_exit_code(entries: list[Entry]) -> int:
    codes = {report.exit_code(e.report, e.settings.threshold) for e in entries}
    if exitcodes.EXPIRED in codes:
        return exitcodes.EXPIRED
    if exitcodes.EXPIRING in codes:
        return exitcodes.EXPIRING
    return exitcodes.FRESH


def render(
    entries: list[Entry],
    *,
    as_json: bool,
    expiring: bool,
    tty: bool,
    color: bool,
    width: int | None = None,
    env: Mapping[str, str] | None = None,
) -> str:
    """What `wrap status` prints. JSON is indented for a person at a terminal and one line for
    a program (the same objects, keys in the same order): indenting is Python's slow encoder,
    most of the time status spent at 10,000 accounts, for whitespace no parser reads.
    WIDTH: the terminal's columns the table must fit (None: every column, whole)."""
    if as_json:
        objs = [e.report for e in entries]
        return report.dumps(objs, tty=tty)
    if entries:
        return table(entries, color=color, width=width, env=os.environ if env is None else env)
    return "no expiring accounts" if expiring else "no credential files found"


HEADER = (
    "ACCOUNT",
    "PROFILE",
    "STATE",
    "EXPIRES",
    "LEFT",
    "LOGIN ENDS",
    "LAST REFRESH",
    "FAILURES",
    "WHERE",
)
STATE_COLUMN = 2
# What goes first when the table is wider than the terminal: what `status --json`, `--wide`
# or `wrap doctor` still say, before what tells the accounts apart and whether they need you.
DROP_ORDER = ("FAILURES", "LAST REFRESH", "EXPIRES", "PROFILE", "LOGIN ENDS")
# Then these shrink, WHERE from its start (the file name matters most), ACCOUNT from its end.
SHRINK = {"WHERE": 12, "ACCOUNT": 12}
# The state a person reads: a fresh token under a login that ends within the threshold (which
# --check-only and status --expiring report too) is not a green "fresh".
LOGIN_MARKERS = {policy.EXPIRING: "login ending", policy.EXPIRED: "login ended"}


def _state_cell(e: Entry) -> tuple[str, str]:
    """(the text, the marker's state)."""
    r = e.report
    state = r["state"]
    if state == policy.FRESH:
        login = report.login_state(r, e.settings.threshold)
        if login in LOGIN_MARKERS:
            return LOGIN_MARKERS[login], login
    return state, state


def table(
    entries: list[Entry],
    *,
    color: bool,
    width: int | None = None,
    env: Mapping[str, str] | None = None,
) -> str:
    """An aligned table for people: expiry in local time, time left in words, paths with ~;
    within WIDTH columns when given, dropping and then shrinking columns (DROP_ORDER, SHRINK)."""
    env = os.environ if env is None else env
    rows = []
    marks = []
    # The same instant is often shown many times (accounts refreshed together, the "-" of
    # those never refreshed): each is turned into local time once.
    seen: dict[str | None, str] = {}

    def local(iso: str | None) -> str:
        text = seen.get(iso)
        if text is None:
            text = seen[iso] = _local(iso)
        return text

    for e in entries:
        r = e.report
        left = r["expires_in_seconds"]
        state, mark = _state_cell(e)
        marks.append(mark)
        rows.append(
            [
                (r["account"] or os.path.basename(r["path"]))
                # The account a launch in this directory uses ([profiles.NAME.dirs]).
                + (" (here)" if r.get("bound") else ""),
                r["profile"],
                state,
                local(r["expires_at"]),
                "-" if left is None else (report.human_duration(left) if left > 0 else "expired"),
                _login_ends(r, local),
                local(r["last_refreshed"]),
                str(r["consecutive_failures"]),
                # A path, or keychain:<service>, keyring:<service>/<account>.
                report.tilde(r["where"], env),
            ]
        )
    rows = [redact.cells(row) for row in rows]
    columns = list(range(len(HEADER)))

    def widths() -> dict[int, int]:
        extra = {STATE_COLUMN: 2}  # the marker and its space
        return {
            i: max(len(HEADER[i]), *(len(row[i]) + extra.get(i, 0) for row in rows))
            for i in columns
        }

    def total(w: dict[int, int]) -> int:
        return sum(w.values()) + 2 * (len(w) - 1)

    w = widths()
    if width is not None:
        for name in DROP_ORDER:
            if total(w) <= width:
                break
            columns.remove(HEADER.index(name))
            w = widths()
        for name, least in SHRINK.items():
            over = total(w) - width
            i = HEADER.index(name)
            if over > 0:
                w[i] = max(least, w[i] - over)
        for row in rows:
            for name in SHRINK:
                i = HEADER.index(name)
                row[i] = _shorten(row[i], w[i], keep_end=name == "WHERE")
    lines = ["  ".join(HEADER[i].ljust(w[i]) for i in columns).rstrip()]
    for row, mark in zip(rows, marks, strict=True):
        cells = []
        for i in columns:
            if i == STATE_COLUMN:
                sign, code = MARKERS[mark]
                text = f"{sign} {row[i]}".ljust(w[i])
                cells.append(f"\x1b[{code}m{text}\x1b[0m" if color else text)
            else:
                cells.append(row[i].ljust(w[i]))
        lines.append("  ".join(cells).rstrip())
    return "\n".join(lines)


def _shorten(text: str, width: int, *, keep_end: bool) -> str:
    if len(text) <= width:
        return text
    return "…" + text[-(width - 1) :] if keep_end else text[: width - 1] + "…"


def _login_ends(r: dict[str, Any], local: Callable[[str | None], str]) -> str:
    left = r["login_expires_in_seconds"]
    if left is None:
        return "-"
    return local(r["login_expires_at"]) + (" (ended)" if left <= 0 else "")


def _local(iso: str | None) -> str:
    if iso is None:
        return "-"
    # report.iso's own form, read by slicing: strptime cost more than the rest of a row.
    if len(iso) == 20 and iso[4] == iso[7] == "-" and iso[10] == "T" and iso[19] == "Z":
        fields = (iso[0:4], iso[5:7], iso[8:10], iso[11:13], iso[14:16], iso[17:19])
        ts = calendar.timegm(tuple(int(f) for f in fields))
    else:
        ts = calendar.timegm(time.strptime(iso, "%Y-%m-%dT%H:%M:%SZ"))
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(ts))


def select(entries: list[Entry], name: str | None) -> list[Entry]:
    """NAME is a profile name, an account's display name, or a file path."""
    if name is None:
        return entries
    real = os.path.realpath(os.path.expanduser(name))
    chosen = [
        e
        for e in entries
        if name in (e.report["profile"], e.report["account"])
        or os.path.realpath(e.account.path) == real
    ]
    if not chosen:
        names = ", ".join(sorted({str(e.report["account"]) for e in entries})) or "none found"
        raise UsageError(
            f"no account named {name!r}: use a profile, an account ({names}) or a path"
        )
    return chosen


def shared_lock(entry: Entry, env: Mapping[str, str]) -> str | None:
    """The CLI lock ENTRY's refresh shares with other files (launcher/refresh/pool.py)."""
    from launcher import vendors

    return vendors.shared_lock(entry.settings.profile.vendor_lock, entry.settings.credentials, env)


def refresh_all(
    entries: list[Entry],
    *,
    env: Mapping[str, str],
    log: Log,
    echo: Callable[[str], None],
    now: Callable[[], float] = time.time,
    workers: int | None = None,
) -> int:
    """Refresh each entry now, several at once (each under its own locks, as any refresh);
    one line each, in the entries' order; exit 5 if any failed."""
    from launcher.refresh import pool
    from launcher.refresh.route import renew

    state_dir = config.state_dir(env)

    def one(e: Entry) -> tuple[str, int | None]:
        label = f"{e.report['account']} ({e.report['profile']}, {e.report['where']})"
        try:
            creds = renew(e.settings, state_dir, now=now, log=log, forced=True)
        except WrapError as err:
            return f"✗ {label}: {err}", err.exit_code
        when = report.iso(creds.expires_at) or "no expiry"
        return f"✓ {label}: refreshed, expires {when}", None

    codes = set()
    lines = pool.in_order(
        one,
        entries,
        shared=lambda e: shared_lock(e, env),
        workers=pool.WORKERS if workers is None else workers,
    )
    for line, code in lines:
        echo(line)
        if code is not None:
            codes.add(code)
    # A configuration error (a cleartext token URL, say) is the user's to fix: exit 2 first.
    if exitcodes.USAGE in codes:
        return exitcodes.USAGE
    return exitcodes.REFRESH_FAILED if codes else exitcodes.REFRESHED
