"""The faults scripts/mutants puts into the code, one at a time: each is (file, original text,
mutated text, why it matters, the tests that should notice). The original must occur exactly
once in its file (tests/test_mutant_list.py checks it on every run, and scripts/mutants lists
every entry that no longer applies before it starts), so the list keeps up with the code.
Every defect found adds an entry here, with the test that catches it."""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple


class Mutant(NamedTuple):
    path: str
    original: str
    mutated: str
    why: str
    tests: tuple[str, ...]


GATE = ("tests/test_gate.py", "tests/test_gate_terminal.py", "tests/test_exec.py")
LOGIN = ("tests/test_login_setup.py", "tests/test_gate_terminal.py", "tests/test_files.py")
RENEW = ("tests/test_gate.py", "tests/test_faults.py", "tests/test_replay.py")
REFRESH = ("tests/test_refresh.py", "tests/test_faults.py")
CREDS = ("tests/test_credentials.py", "tests/test_profiles.py", "tests/test_files.py")
STORE = ("tests/test_files.py", "tests/test_gate.py", "tests/test_ownership.py")
LOCK = ("tests/test_lock.py", "tests/test_concurrency.py")
VENDORS = ("tests/test_vendor_locks.py", "tests/test_faults.py")
MASK = ("tests/test_masking.py", "tests/test_login_setup.py", "tests/test_login_vendor.py")
BROWSER = ("tests/test_login_browser.py", "tests/test_listener.py")
COEXIST = ("tests/test_coexist.py",)
RULES = ("tests/test_refresh_rules.py",)
FLEET_LOGIN = ("tests/test_fleet_login.py",)
CLIENTS = ("tests/test_fleet_clients.py", "tests/test_http.py")

M = Mutant

MUTANTS: list[Mutant] = [
    # -- policy: when a token is due
    M(
        "launcher/gate.py",
        "        return int(lifetime // 2)",
        "        return int(lifetime)",
        "the lifetime rule: a short-lived token refreshes at half-life, not at every launch",
        ("tests/test_policy.py", "tests/test_gate.py"),
    ),
    M(
        "launcher/gate.py",
        "    if left <= 0:\n        return EXPIRED",
        "    if left < -60:\n        return EXPIRED",
        "a token past its expiry is expired (strict refuses it), not expiring",
        ("tests/test_policy.py", "tests/test_gate.py"),
    ),
    M(
        "launcher/gate.py",
        "    if left <= threshold:",
        "    if left <= threshold / 2:",
        "the threshold: a token within it is refreshed",
        ("tests/test_policy.py", "tests/test_gate.py"),
    ),
    M(
        "launcher/gate.py",
        "    if expires_at is None:\n        return FRESH",
        "    if expires_at is None:\n        return EXPIRED",
        "a file without an expiry is left alone, not refreshed at every launch",
        ("tests/test_policy.py", "tests/test_credentials.py"),
    ),
    # -- gate: launch, refresh, log in
    M(
        "launcher/gate.py",
        "interactive=os.isatty(0) and os.isatty(1),",
        "interactive=os.isatty(0) or os.isatty(1),",
        "no login unless both stdin and stdout are a terminal (claude -p | jq)",
        GATE,
    ),
    M(
        "launcher/gate.py",
        "    if env.get(state.ENV_TOKEN):\n        return\n",
        "",
        "a CLAUDE_CODE_OAUTH_TOKEN the user exported is never overridden by a kept one",
        GATE,
    ),
    M(
        "launcher/gate.py",
        "isinstance(expires_at, int | float) and expires_at > t:",
        "isinstance(expires_at, int | float):",
        "an expired kept setup token is never handed to the program",
        GATE,
    ),
    M(
        "launcher/gate.py",
        'if getattr(e, "rejected", False) and _login(',
        "if _login(",
        "only a rejection leads to a login: a 500 on a terminal does not",
        GATE,
    ),
    M(
        "launcher/gate.py",
        "    if not interactive or settings.profile.login_method is None:",
        "    if settings.profile.login_method is None:",
        "the gate logs in on a terminal only",
        ("tests/test_login_setup.py", "tests/test_gate_terminal.py"),
    ),
    M(
        "launcher/gate.py",
        "    if current == policy.FRESH:\n        return None\n    if settings.refresh_via",
        "    if settings.refresh_via",
        "the lifetime rule is applied before a refresh (not just the raw threshold)",
        GATE,
    ),
    M(
        "launcher/gate.py",
        '(--strict){retry}")\n            return exitcodes.REFRESH_FAILED',
        '(--strict){retry}")\n            return None',
        "--strict launches nothing with an expired token whose refresh failed",
        GATE,
    ),
    M(
        "launcher/gate.py",
        "            return exitcodes.NO_CREDENTIALS",
        "            return None",
        "--strict launches nothing with an unusable credentials file",
        ("tests/test_credentials.py",),
    ),
    M(
        "launcher/gate.py",
        "    if current == policy.EXPIRED:",
        "    if current != policy.FRESH:",
        "--strict still launches with a token that is only expiring",
        GATE,
    ),
    # -- refresh/: lock, decide, send, write back, remember
    M(
        "launcher/refresh/answer.py",
        "DEFAULT_EXPIRES_IN = 3600.0",
        "DEFAULT_EXPIRES_IN = 365 * 86400.0",
        "an answer without expires_in lives an hour, not a year",
        (*RENEW, "tests/test_gate_terminal.py"),
    ),
    M(
        "launcher/refresh/answer.py",
        "    if response.expires_in:\n        return response.expires_in",
        "    if response.expires_in:\n        return 365 * 86400.0",
        "the expiry written is the one the server gave",
        RENEW,
    ),
    M(
        "launcher/refresh/outcome.py",
        "    if remembered.suspended_at_version != source.fingerprint():\n"
        "        return  # the file changed since (someone logged in): try again\n",
        "",
        "a suspension lifts once the file changes (someone logged in)",
        RENEW,
    ),
    M(
        "launcher/refresh/outcome.py",
        "        remembered.suspended_at_version = source.fingerprint()",
        "        remembered.suspended_at_version = None",
        "a rejected refresh token is not sent again at every launch",
        RENEW,
    ),
    M(
        "launcher/refresh/flight.py",
        "if remembered.last_failed is not None and remembered.last_failed > started:",
        "if False:",
        "launches that waited for a failing refresh do not all ask the server again",
        LOCK,
    ),
    M(
        "launcher/refresh/flight.py",
        'f"the file has no refresh token; {profile.login_hint}", rejected=True, sent=False',
        'f"the file has no refresh token; {profile.login_hint}", rejected=False, sent=False',
        "a file without a refresh token leads to the promised login on a terminal",
        ("tests/test_gate_terminal.py",),
    ),
    M(
        "launcher/refresh/flight.py",
        "if not resend and remembered.unanswered == state.token_digest(sent):",
        "if False:",
        "a refresh token that may have been rotated unseen is not replayed",
        RENEW,
    ),
    M(
        "launcher/refresh/flight.py",
        "    return status is None or (status >= 500 and status != 503)",
        "    return status is None",
        "a 502/504 (the backend may have rotated) counts as unanswered: no blind replay",
        RENEW,
    ),
    M(
        "launcher/refresh/flight.py",
        "    if creds.refresh_token in (writer.sent, writer.saved_refresh_token):\n"
        "        return None",
        "    if False:\n        return None",
        "after a failure, the file counts as refreshed elsewhere only if its token changed",
        RENEW,
    ),
    M(
        "launcher/refresh/writeback.py",
        "                if current is not None and current != self.original:",
        "                if False:",
        "what another program wrote meanwhile is merged into, not overwritten",
        COEXIST,
    ),
    M(
        "launcher/refresh/writeback.py",
        "if self.adopt and theirs and theirs not in (self.sent, self.saved_refresh_token):",
        "if False:",
        "another login put into the file meanwhile is adopted, not overwritten",
        COEXIST,
    ),
    M(
        "launcher/refresh/answer.py",
        "        if profile.required_scope and profile.required_scope not in granted:",
        "        if False:",
        "an answer without the scope the CLI needs is not stored as a refresh",
        ("tests/test_coexist.py", "tests/test_gate.py"),
    ),
    M(
        "launcher/refresh/outcome.py",
        "    remembered.last_error = redact.text(str(error))",
        "    remembered.last_error = str(error)",
        "no token value a server echoed is kept in the state file",
        ("tests/test_secrets.py",),
    ),
    M(
        "launcher/refresh/flight.py",
        "        redact.add(creds.access_token, creds.refresh_token)\n",
        "",
        "the file's own tokens are redacted from every message",
        ("tests/test_secrets.py",),
    ),
    M(
        "launcher/refresh/outcome.py",
        "    remembered.lifetime = lifetime",
        "    remembered.lifetime = None",
        "the lifetime learnt from a refresh is remembered for the lifetime rule",
        RENEW,
    ),
    M(
        "launcher/refresh/locks.py",
        "    with locks.refresh():",
        "    with contextlib.nullcontext():",
        "the vendor CLI's own refresh lock is held during the request",
        VENDORS,
    ),
    M(
        "launcher/refresh/flight.py",
        "    if not error.sent or error.rejected:\n        return False",
        "    if error.rejected:\n        return False",
        "a request never sent (connection refused) does not block the next launch's refresh",
        RENEW,
    ),
    # -- refresh/deferral, grant, via_cli, http: the rules every path shares (issue 24)
    M(
        "launcher/refresh/deferral.py",
        "    previous = {s: signal.signal(s, note) for s in SIGNALS}",
        "    previous = {s: signal.getsignal(s) for s in SIGNALS}",
        "a signal while the request is out waits until the answer is saved, on every profile",
        RULES,
    ),
    M(
        "launcher/refresh/deferral.py",
        "        if held:\n            _deliver(held[0], previous[held[0]])",
        "        if held:\n            pass",
        "a signal held during the request still stops the process afterwards",
        RULES,
    ),
    M(
        "launcher/refresh/grant.py",
        "            if delivered:\n",
        "            if False:\n",
        "an answer that delivered a new refresh token ends the retries with the old one",
        RULES,
    ),
    M(
        "launcher/refresh/via_cli.py",
        "    except subprocess.TimeoutExpired:\n",
        "    except subprocess.TimeoutExpired:\n        child.kill()\n",
        "a vendor CLI past the refresh timeout is left to finish, never killed",
        RULES,
    ),
    M(
        "launcher/refresh/via_cli.py",
        "record_failure(state_dir, source, now(), error, unanswered=before.refresh_token)",
        "record_failure(state_dir, source, now(), error)",
        "after a CLI timeout the file's refresh token may have rotated: wrap does not send it",
        RULES,
    ),
    M(
        "launcher/refresh/http.py",
        "trust_env=not loopback,",
        "trust_env=True,",
        "no client (token endpoint, fleet store, fleet grant) reaches loopback through a proxy",
        CLIENTS,
    ),
    M(
        "launcher/refresh/answer.py",
        "    extra.update(credentials.deadline_changes(profile, response.body, at))",
        "    extra.update({})",
        "the fleet holder writes a new login deadline in the profile's own field and unit",
        FLEET_LOGIN,
    ),
    M(
        "launcher/fleet/records.py",
        "        doc = access_only(profile, own_login(profile, doc))",
        "        doc = access_only(profile, doc)",
        "the fleet record holds the profile's own login, never mcpOAuth or other chains",
        FLEET_LOGIN,
    ),
    # -- refresh: one grant, its errors, its retries
    M(
        "launcher/refresh/grant.py",
        'frozenset({"invalid_grant", "invalid_client", "unauthorized_client"})',
        'frozenset({"invalid_grant", "unauthorized_client"})',
        "invalid_client is a rejection, like invalid_grant",
        REFRESH,
    ),
    M(
        "launcher/refresh/grant.py",
        'frozenset({"invalid_grant", "invalid_client", "unauthorized_client"})',
        'frozenset({"invalid_grant", "invalid_client"})',
        "unauthorized_client is a rejection, like invalid_grant",
        REFRESH,
    ),
    M(
        "launcher/refresh/grant.py",
        "RETRY_STATUSES = frozenset({408, 429, 503})",
        "RETRY_STATUSES = frozenset({408, 429, 502, 503, 504})",
        "a 502/504 may follow a rotation: never retried (a replay)",
        REFRESH,
    ),
    M(
        "launcher/refresh/grant.py",
        "RETRY_STATUSES = frozenset({408, 429, 503})",
        "RETRY_STATUSES = frozenset({408, 429, 500, 503})",
        "a 500 may follow a rotation: never retried (a replay)",
        REFRESH,
    ),
    M(
        "launcher/refresh/grant.py",
        "RETRY_STATUSES = frozenset({408, 429, 503})",
        "RETRY_STATUSES = frozenset({429, 503})",
        "a 408 says nothing was processed: retried",
        REFRESH,
    ),
    M(
        "launcher/refresh/grant.py",
        "MAX_ATTEMPTS = 4",
        "MAX_ATTEMPTS = 5",
        "the attempts are bounded at four",
        REFRESH + LOCK,
    ),
    M(
        "launcher/refresh/grant.py",
        "MAX_ATTEMPTS = 4",
        "MAX_ATTEMPTS = 3",
        "four attempts, not fewer",
        REFRESH + LOCK,
    ),
    M(
        "launcher/urls.py",
        '    if host.lower() == "localhost":',
        '    if host.lower().startswith("localhost"):',
        "http://localhost.example.com is not loopback: no token in the clear to it",
        REFRESH,
    ),
    M(
        "launcher/urls.py",
        '    if parts.scheme == "http" and is_loopback(host):',
        '    if parts.scheme == "http":',
        "http:// only to a loopback host",
        REFRESH,
    ),
    M(
        "launcher/urls.py",
        '    if parts.scheme == "https" and host:',
        '    if parts.scheme == "https":',
        "an https URL without a host is refused",
        REFRESH,
    ),
    M(
        "launcher/refresh/grant.py",
        '        if self.client_auth == "basic":\n            out.pop("client_id", None)',
        '        if self.client_auth == "basic":\n            pass',
        "no client_id in the body under Basic auth",
        REFRESH,
    ),
    M(
        "launcher/refresh/grant.py",
        "    if isinstance(new_refresh, str) and new_refresh:\n"
        "        on_refresh_token(new_refresh)",
        "    if isinstance(new_refresh, str) and new_refresh:\n        pass",
        "a rotated refresh token reaches the disk even when the rest of the answer is unusable",
        (*REFRESH, "tests/test_gate.py"),
    ),
    M(
        "launcher/refresh/grant.py",
        "delay = BACKOFF_BASE * (2 ** (attempt - 1)) * (0.5 + jitter() / 2)",
        "delay = BACKOFF_BASE",
        "the backoff grows between retries",
        REFRESH,
    ),
    M(
        "launcher/refresh/grant.py",
        "            if e.retry_after is not None:\n                delay = e.retry_after",
        "            if False:\n                delay = 0.0",
        "Retry-After is honoured",
        REFRESH,
    ),
    M(
        "launcher/refresh/grant.py",
        "            if clock() + delay >= deadline:",
        "            if False:",
        "no retry past the refresh timeout",
        REFRESH,
    ),
    M(
        "launcher/refresh/http.py",
        'the request was sent",\n                sent=True,',
        'the request was sent",\n                sent=False,',
        "a timeout after sending may have rotated the token: it counts as sent",
        (*REFRESH, "tests/test_replay.py"),
    ),
    M(
        "launcher/refresh/grant.py",
        'f"cannot connect to {url}: {_describe(e)}", retryable=True, sent=False',
        'f"cannot connect to {url}: {_describe(e)}", retryable=False, sent=False',
        "a refused connection (nothing sent) is retried",
        REFRESH,
    ),
    # -- credentials: reading and writing each file's shape
    M(
        "launcher/credentials.py",
        "out = json.dumps(doc, ensure_ascii=False, **style)",
        "out = json.dumps(doc, ensure_ascii=True, **style)",
        "non-ASCII text is written as it was, not as \\u escapes",
        CREDS,
    ),
    M(
        "launcher/credentials.py",
        '    zone = "+00:00" if sample.endswith("+00:00") else "Z"',
        '    zone = "Z"',
        "an ISO date keeps its +00:00 suffix",
        CREDS,
    ),
    M(
        "launcher/credentials.py",
        '    if access is None or access == "":',
        "    if access is None:",
        "an empty access token is a missing one",
        CREDS,
    ),
    M(
        "launcher/credentials.py",
        "    if isinstance(raw, bool) or not isinstance(raw, int | float):",
        "    if not isinstance(raw, int | float):",
        "true is not a timestamp",
        CREDS,
    ),
    M(
        "launcher/credentials.py",
        "    if not _finite(seconds) or seconds < 0 or seconds > _LATEST_EXPIRY:",
        "    if seconds < 0 or seconds > _LATEST_EXPIRY:",
        "NaN is not an expiry",
        CREDS,
    ),
    M(
        "launcher/credentials.py",
        'return _in_range(raw / 1000 if unit == "ms" else float(raw), raw,',
        "return _in_range(float(raw), raw,",
        "milliseconds are read as milliseconds",
        CREDS,
    ),
    M(
        "launcher/credentials.py",
        '    if text.endswith("\\n") or not text:\n        out += "\\n"',
        '    if False:\n        out += "\\n"',
        "the final newline is kept as the file had it",
        (*CREDS, "tests/test_login_setup.py"),
    ),
    M(
        "launcher/credentials.py",
        "    if refresh_token is not None:\n"
        "        _set(new, profile.refresh_field, refresh_token)",
        "    if refresh_token is not None:\n        pass",
        "a rotated refresh token is written (else the next refresh replays a dead one)",
        (*CREDS, "tests/test_gate.py"),
    ),
    # -- store: the file on disk
    M(
        "launcher/store.py",
        "        try:  # noqa: SIM105 - contextlib is not worth its import here\n"
        "            os.unlink(tmp)",
        "        try:  # noqa: SIM105 - contextlib is not worth its import here\n            pass",
        "a failed write leaves no temporary file holding the new token",
        STORE,
    ),
    M(
        "launcher/store.py",
        "            f.flush()\n            os.fsync(f.fileno())",
        "            f.flush()",
        "the new content is fsynced before it takes the name",
        STORE,
    ),
    M(
        "launcher/store.py",
        "        raise\n    _fsync_dir(directory)",
        "        raise",
        "the directory is fsynced after the rename",
        STORE,
    ),
    M(
        "launcher/store.py",
        "            os.fchmod(f.fileno(), mode)",
        "            os.fchmod(f.fileno(), 0o644)",
        "the file keeps its private mode",
        STORE,
    ),
    M(
        "launcher/store.py",
        "        mode &= ~0o077",
        "        pass",
        "a file readable by others is written 0600",
        STORE,
    ),
    M(
        "launcher/store.py",
        "    for stale in old[:-keep] if keep > 0 else old:",
        "    for stale in []:",
        "backups are pruned to the last few (each holds a token)",
        (*STORE, "tests/test_crash.py::test_backups_are_private_and_bounded"),
    ),
    M(
        "launcher/store.py",
        "IN_PLACE_REREADS = 3",
        "IN_PLACE_REREADS = 0",
        "a file caught halfway through codex's in-place rewrite is read again",
        ("tests/test_profiles.py", "tests/test_coexist.py"),
    ),
    # -- lock: single flight
    M(
        "launcher/lock.py",
        "fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)",
        "fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)",
        "the refresh lock excludes other processes",
        LOCK,
    ),
    M(
        "launcher/lock.py",
        "                if waited >= timeout:",
        "                if waited >= timeout * 10:",
        "a waiter gives up at the lock timeout",
        LOCK,
    ),
    M(
        "launcher/lock.py",
        "if not noticed and waited >= WAIT_NOTICE_AFTER and on_wait is not None:",
        "if waited >= WAIT_NOTICE_AFTER and on_wait is not None:",
        "the waiting notice is said once",
        LOCK,
    ),
    M(
        "launcher/lock.py",
        "WAIT_NOTICE_AFTER = 2.0",
        "WAIT_NOTICE_AFTER = 0.0",
        "a short wait says nothing",
        LOCK,
    ),
    M(
        "launcher/lock.py",
        "        os.close(fd)  # closing the descriptor releases the flock",
        "        pass",
        "the lock is released when the refresh is done",
        (*LOCK, "tests/test_gate.py"),
    ),
    # -- vendors: the CLIs' own locks
    M(
        "launcher/vendors/claude.py",
        "REFRESH_STALE_AFTER = 60.0",
        "REFRESH_STALE_AFTER = 10.0",
        "a live Claude 2.1.218's refresh lock (stale after 60 s) is not taken over",
        VENDORS,
    ),
    M(
        "launcher/vendors/claude.py",
        "                    if self.legacy.try_acquire():\n                        break",
        "                    if True:\n                        break",
        "Claude's legacy lock is taken too",
        VENDORS,
    ),
    M(
        "launcher/vendors/claude.py",
        "        while not self.storage.try_acquire():",
        "        while False:",
        "Claude's storage write lock is held around a write",
        VENDORS,
    ),
    M(
        "launcher/vendors/claude.py",
        'for var in ("CLAUDE_SECURESTORAGE_CONFIG_DIR", "CLAUDE_CONFIG_DIR"):',
        'for var in ("CLAUDE_CONFIG_DIR",):',
        "the lock directory follows Claude's own variables",
        VENDORS,
    ),
    M(
        "launcher/vendors/held.py",
        "if wall() - st.st_mtime > self.stale_after or _identity(st) == _read(self.record):",
        "if wall() - st.st_mtime > self.stale_after:",
        "a vendor lock left by a killed wrap is taken over at once",
        VENDORS,
    ),
    M(
        "launcher/vendors/held.py",
        "                return f.read().strip() == self.token",
        "                return True",
        "a qwen lock another holder replaced is not removed",
        VENDORS,
    ),
    M(
        "launcher/vendors/held.py",
        "TOUCH_EVERY = 2.0",
        "TOUCH_EVERY = 3600.0",
        "held locks are touched, so the CLI does not call them stale",
        VENDORS,
    ),
    M(
        "launcher/vendors/qwen.py",
        "STALE_AFTER = 35.0",
        "STALE_AFTER = 10.0",
        "a live Qwen Code 0.24's lock (stale after 35 s) is not taken over",
        VENDORS,
    ),
    # -- setup-token masking and the pty runner
    M(
        "launcher/login/mask.py",
        "            self._out += STARS",
        "            self._out += bytes(self._body)",
        "the held token is shown as its mask, never in clear (flush included)",
        MASK,
    ),
    M(
        "launcher/login/mask.py",
        "        self.unsure = True",
        "        self.unsure = False",
        "a token that may be cut in two is not stored",
        MASK,
    ),
    M(
        "launcher/login/mask.py",
        "                self._wrap = _Wrap(filled=self._filled(before[0]), before=before)",
        "                self._wrap = _Wrap(filled=False, before=before)",
        "a token hard-wrapped at the terminal's width is read whole",
        MASK,
    ),
    M(
        "launcher/login/mask.py",
        "            if self._filled(before[0]):",
        "            if False:",
        "a prefix hard-wrapped at the terminal's width still starts a token",
        MASK,
    ),
    M(
        "launcher/login/mask.py",
        '0123456789_-")',
        '0123456789_")',
        "a '-' inside the token does not end it (its tail would be shown)",
        MASK,
    ),
    M(
        "launcher/login/mask.py",
        "            self._codes.append(seq)",
        "            self._out += seq",
        "the colour codes inside a token follow its mask, in order",
        MASK,
    ),
    M(
        "launcher/login/mask.py",
        "        if len(esc) == 2 and b in _STRINGS:",
        '        if len(esc) == 2 and b == ord("]"):',
        "an escape string's text is text (a token inside it is masked), and ST ends a token",
        MASK,
    ),
    M(
        "launcher/login/setup.py",
        "os.write(stdout_fd, masker.feed(data))",
        "os.write(stdout_fd, data)",
        "the setup command's output reaches the screen through the masker",
        MASK,
    ),
    M(
        "launcher/login/setup.py",
        "    masker.width = _size(stdout_fd)[1]",
        "    masker.width = None",
        "the masker knows the terminal's width",
        MASK,
    ),
    M(
        "launcher/login/setup.py",
        "    if masker.unsure:",
        "    if False:",
        "a login whose token may be cut in two fails clearly",
        MASK,
    ),
    M(
        "launcher/login/setup.py",
        "    if child.signalstatus is not None:",
        "    if False:",
        "an interrupted setup command is reported as interrupted",
        MASK,
    ),
    # -- login
    M(
        "launcher/login/__init__.py",
        'raise LoginError(f"{e}; move it away to log in again") from None',
        'return {}, b""',
        "a login never overwrites a file it cannot parse",
        LOGIN,
    ),
    M(
        "launcher/login/__init__.py",
        "if before != source.fingerprint() and _usable(settings, source, now()):",
        "if _usable(settings, source, now()):",
        "a second login uses the first one's result only if the file changed meanwhile",
        LOGIN,
    ),
    # -- browser login
    M(
        "launcher/login/browser.py",
        'server = http.server.ThreadingHTTPServer(("127.0.0.1", port), handler)',
        'server = http.server.ThreadingHTTPServer(("0.0.0.0", port), handler)',
        "the login listener is reachable from this machine only",
        BROWSER,
    ),
    M(
        "launcher/login/browser.py",
        "                if parts.path != listener.path:\n                    self.send_error(404)",
        "                if False:\n                    self.send_error(404)",
        "only the redirect path ends the login (not /favicon.ico)",
        BROWSER,
    ),
    M(
        "launcher/login/browser.py",
        "        self.state = secrets.token_urlsafe(24)",
        '        self.state = "wrap-login"',
        "the state is random per login",
        BROWSER,
    ),
    M(
        "launcher/login/browser.py",
        "    if not secrets.compare_digest(got_state, state):",
        "    if False:",
        "an answer with another login's state is refused",
        BROWSER,
    ),
    M(
        "launcher/login/browser.py",
        "PAGE.format(title=html.escape(title), text=html.escape(text))",
        "PAGE.format(title=title, text=text)",
        "the server's error text is escaped in the page",
        BROWSER,
    ),
    M(
        "launcher/login/browser.py",
        '"code_challenge_method": "S256",',
        '"code_challenge_method": "plain",',
        "PKCE with S256",
        BROWSER,
    ),
    # -- trust nothing wrap did not write (issue 21)
    M(
        "launcher/gate.py",
        "        if st.st_uid != me and (own or st.st_uid != 0):",
        "        if False:",
        "a state directory (or the one above it) of another user is not trusted",
        ("tests/test_state_trust.py",),
    ),
    M(
        "launcher/gate.py",
        "        others = st.st_mode & 0o022 if own else st.st_mode & 0o002",
        "        others = st.st_mode & 0o002 if own else st.st_mode & 0o002",
        "a state directory its group may write is not trusted",
        ("tests/test_state_trust.py",),
    ),
    M(
        "launcher/gate.py",
        "        if others and not (not own and st.st_mode & _stat.S_ISVTX):",
        "        if others and not st.st_mode & _stat.S_ISVTX:",
        "only the directory above may be sticky and writable by all; the state directory never",
        ("tests/test_state_trust.py",),
    ),
    M(
        "launcher/store.py",
        "        found = untrusted_state(path)",
        "        found = None",
        "the state directory is checked before any of it is read",
        ("tests/test_state_trust.py", "tests/test_ownership.py"),
    ),
    M(
        "launcher/gate.py",
        "        if st.st_uid != os.geteuid():",
        "        if False:",
        "a private file of wrap's that belongs to another user is not read",
        ("tests/test_state_trust.py", "tests/test_ownership.py"),
    ),
    M(
        "launcher/refresh/grant.py",
        "    text = redact.text(text)\n",
        "",
        "server text is redacted before it is cut, or a cut token is no longer recognised",
        ("tests/test_untrusted_text.py", "tests/test_secrets.py"),
    ),
    M(
        "launcher/redact.py",
        "    return _mask_runs(message, known)",
        "    return message",
        "a long run of a known token is masked wherever it was cut",
        ("tests/test_untrusted_text.py",),
    ),
    M(
        "launcher/crash.py",
        '    text = "".join(redact.text(line) + "\\n" for line in text.splitlines())',
        "",
        "a crash report is redacted",
        ("tests/test_untrusted_text.py",),
    ),
    M(
        "launcher/redact.py",
        "    return [text(cell) for cell in row]",
        "    return row",
        "every table cell of wrap status and wrap fleet status is cleaned",
        ("tests/test_untrusted_text.py", "tests/test_fleet.py"),
    ),
    M(
        "launcher/fleet/commands.py",
        '    return "\\n".join(redact.text(line) for line in lines)',
        '    return "\\n".join(lines)',
        "the lines under the fleet table (another machine's words) are cleaned",
        ("tests/test_fleet.py",),
    ),
    M(
        "launcher/fleet/settings.py",
        "    if not value.isprintable():",
        "    if False:",
        "a store secret is one printable line, refused unquoted when it is not",
        ("tests/test_store_trust.py",),
    ),
    M(
        "launcher/fleet/settings.py",
        "    if secret:\n        redact.add(value)",
        "    if False:\n        redact.add(value)",
        "a store secret joins the redacted values",
        ("tests/test_store_trust.py",),
    ),
    M(
        "launcher/fleet/settings.py",
        '        value = store.read_bytes(full, fix, what=f"a {key}").decode("utf-8").strip()',
        '        value = open(full, encoding="utf-8").read().strip()  # noqa: SIM115',
        "token_file/password_file are read as credentials files are (a FIFO does not hang)",
        ("tests/test_store_trust.py",),
    ),
    M(
        "launcher/fleet/settings.py",
        '    if ":" in _userinfo(url):',
        "    if False:",
        "a fleet URL carrying a password is refused before urlsplit can cut it",
        ("tests/test_store_trust.py",),
    ),
    M(
        "launcher/fleet/redis.py",
        '            kwargs["ssl_check_hostname"] = True',
        '            kwargs["ssl_check_hostname"] = False',
        "a rediss:// store's certificate must be for its name",
        ("tests/test_store_trust.py",),
    ),
    M(
        "launcher/keepalive/units.py",
        "        if not value.isprintable():",
        "        if False:",
        "keepalive install carries no value that would inject a directive or split a line",
        ("tests/test_keepalive_units.py",),
    ),
    M(
        "launcher/login/mask.py",
        "        elif (csi and 0x40 <= b <= 0x7E) or (not csi and 0x30 <= b <= 0x7E):",
        "        elif (csi and 0x40 <= b <= 0x7E) or (not csi and len(esc) == 2 and b >= 0x30):",
        "an escape with intermediates (ESC ( B) inside a setup token is skipped",
        MASK,
    ),
    M(
        "launcher/keepalive/notify.py",
        "        with http.client_for(url) as client:",
        "        with http.httpx.Client(follow_redirects=True) as client:",
        "the webhook follows no redirect and takes no proxy for loopback",
        ("tests/test_keepalive.py",),
    ),
    M(
        "launcher/refresh/flight.py",
        "            forced=forced,\n                resend=resend,",
        "            forced=forced,\n                resend=forced,",
        "wrap refresh (forced) does not resend a refresh token that got no answer",
        ("tests/test_replay.py",),
    ),
    M(
        "launcher/refresh/flight.py",
        "                        held_back=True,\n                        unreachable=True,",
        "                        blocked=True,\n                        unreachable=True,",
        "a failed connection counts as a failure for keepalive; only the cooldown holds back",
        ("tests/test_keepalive.py",),
    ),
    M(
        "launcher/forget.py",
        '        if values.get("unanswered") or values.get("pending_recovery"):',
        '        if values.get("pending_recovery"):',
        "forget keeps the memory of a refresh token that got no answer (else the next replays it)",
        ("tests/test_forget.py",),
    ),
]


def stale(root: Path, mutants: list[Mutant] | None = None) -> list[str]:
    """One line for every entry whose original does not occur exactly once in its file."""
    out = []
    for m in MUTANTS if mutants is None else mutants:
        path = root / m.path
        count = path.read_text().count(m.original) if path.is_file() else 0
        if count != 1:
            out.append(f"{m.path}: the original occurs {count} times: {m.why}")
    return out
