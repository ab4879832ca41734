"""Several machines on one account through a real fleet store (etcd, Redis, OpenBao).

Each machine is its own HOME with its own config; they share the store and the rotating token
server, which revokes the whole family when a refresh token is sent twice (server.reused).
"""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import BIN, ROOT, Home, claude_doc
from fleet_servers import KINDS, Proxy, StoreServer
from token_server import TokenServer

HOUR = 3600


@pytest.fixture(scope="session", params=KINDS)
def store(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[StoreServer]:
    server = StoreServer(request.param, tmp_path_factory.mktemp(request.param))
    yield server
    server.stop()


class Machine(Home):
    def __init__(self, root: Path, fleet: Fleet, name: str) -> None:
        root.mkdir()
        super().__init__(root)
        self.name = name
        self.fleet = fleet
        cfg = root / "config" / "wrap"
        cfg.mkdir(parents=True)
        (cfg / "config.toml").write_text(
            "[fleet]\n"
            f'url = "{fleet.url}"\n'
            f'prefix = "{fleet.prefix}"\n'
            f'machine = "{name}"\n'
            "clock_skew = 0.5\n"
            "[profiles.claude]\n"
            'fleet = "work"\n'
            f'token_url = "{fleet.tokens.url}"\n'
        )

    def env(self, **extra: str) -> dict[str, str]:
        env = super().env(WRAP_REFRESH_TIMEOUT="8s", **self.fleet.store.env)
        env.update(extra)
        return env

    def launch(self, *, stop_at: str | None = None, **extra: str) -> subprocess.Popen[str]:
        """wrap-claude -p hi; stop_at: its holder stops itself there (bin/stop_at.py)."""
        argv = [str(BIN / "wrap-claude")]
        if stop_at is not None:
            argv = [sys.executable, str(ROOT / "tests" / "bin" / "stop_at.py"), stop_at]
        return subprocess.Popen(
            [*argv, "-p", "hi"],
            env=self.env(**extra),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def access(self) -> str | None:
        if not self.creds.exists():
            return None
        return self.read()["claudeAiOauth"].get("accessToken")  # type: ignore[no-any-return]

    def has_refresh_token(self) -> bool:
        return "refreshToken" in self.read()["claudeAiOauth"]


class Fleet:
    def __init__(self, store: StoreServer, tokens: TokenServer, root: Path) -> None:
        self.store = store
        self.tokens = tokens
        self.root = root
        self.proxy = Proxy(store.port)
        self.url = store.url_for(self.proxy.port)
        self.prefix = f"t{uuid.uuid4().hex[:10]}"

    def machine(self, name: str, *, copy: bool = True) -> Machine:
        """A machine that pulled before: an access-only copy, now due (COPY False: no file)."""
        m = Machine(self.root / name, self, name)
        if copy:
            m.write_claude(time.time() + 60, refresh=None)
        return m

    def logged_in(self, name: str = "laptop", *, refresh: str = "old-refresh") -> Machine:
        """A machine with a login whose access token is due (expires within the threshold)."""
        m = self.machine(name, copy=False)
        m.write_claude(time.time() + 60, refresh=refresh)
        return m

    def status(self, machine: Machine) -> list[dict[str, Any]]:
        r = machine.wrap("fleet", "status", "--json")
        assert r.returncode == 0, r.stderr
        return json.loads(r.stdout)  # type: ignore[no-any-return]


@pytest.fixture
def fleet(store: StoreServer, server: TokenServer, tmp_path: Path) -> Iterator[Fleet]:
    f = Fleet(store, server, tmp_path)
    yield f
    f.proxy.close()


def pushed(fleet: Fleet) -> Machine:
    laptop = fleet.logged_in()
    r = laptop.wrap("fleet", "push")
    assert r.returncode == 0, r.stderr
    assert not laptop.has_refresh_token()
    return laptop


def wait_stopped(proc: subprocess.Popen[str], timeout: float = 20) -> None:
    """Until the process stopped itself at its stop point (tests/bin/stop_at.py)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        fields = Path(f"/proc/{proc.pid}/stat").read_text().rpartition(")")[2].split()
        if fields[0] == "T":
            return
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.02)
    raise AssertionError("the holder never reached its stop point")


def test_many_launches_on_many_machines_make_one_request(fleet: Fleet) -> None:
    pushed(fleet)
    machines = [fleet.machine(f"m{i}") for i in range(4)]
    procs = [m.launch() for m in machines for _ in range(5)]
    outs = [p.communicate(timeout=60) for p in procs]
    assert all(p.returncode == 0 for p in procs), outs
    assert fleet.tokens.refresh_requests == 1
    assert fleet.tokens.reused == 0
    assert {m.access() for m in machines} == {"test-access-1"}
    for m in machines:
        assert not m.has_refresh_token()
        assert stat.S_IMODE(m.creds.stat().st_mode) == 0o600
        # The shape Claude keeps: scopes and subscription survive, the refresh token does not.
        oauth = m.read()["claudeAiOauth"]
        assert oauth["subscriptionType"] == "max"
        assert "user:inference" in oauth["scopes"]
        assert len(m.reports()) == 5
    assert all("old-refresh" not in o + e and "test-refresh" not in o + e for o, e in outs)
    (entry,) = fleet.status(machines[0])
    assert entry["state"] == "fresh"
    assert entry["last_refreshed_by"] in {"m0", "m1", "m2", "m3"}
    assert "test-refresh" not in json.dumps(entry)


def test_a_fresh_local_token_means_no_network(fleet: Fleet) -> None:
    pushed(fleet)
    desk = fleet.machine("desk")
    assert desk.wrap("fleet", "pull").returncode == 0
    fleet.proxy.cut()
    r = desk.wrap_claude("-p", "hi")
    assert r.returncode == 0
    assert r.stderr == ""
    assert fleet.tokens.refresh_requests == 1


def test_a_ci_runner_pulls_with_no_file_at_all(fleet: Fleet) -> None:
    pushed(fleet)
    ci = fleet.machine("ci", copy=False)
    r = ci.wrap("fleet", "pull")
    assert r.returncode == 0, r.stderr
    assert ci.access() == "test-access-1"
    assert not ci.has_refresh_token()
    assert ci.read()["claudeAiOauth"]["subscriptionType"] == "max"  # the login's whole shape
    assert set(ci.read()) == {"claudeAiOauth"}  # the login only: never the pushed mcpOAuth
    assert ci.wrap("--check-only").returncode == 0


def test_a_holder_killed_before_sending_is_not_replayed(fleet: Fleet) -> None:
    pushed(fleet)
    holder = fleet.machine("holder").launch(stop_at="before_send", WRAP_REFRESH_TIMEOUT="1s")
    wait_stopped(holder)
    holder.kill()
    holder.communicate()
    time.sleep(3.5)  # its lock runs out (its refresh timeout + 2 s)
    late = fleet.machine("late")
    r = late.wrap_claude("-p", "hi", env=late.env(WRAP_REFRESH_TIMEOUT="1s"))
    assert r.returncode == 0  # launched with what it had
    assert "may have been lost" in r.stderr
    assert "wrap fleet push work" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    assert fleet.tokens.refresh_requests == 0
    (entry,) = fleet.status(late)
    assert entry["state"] == "stalled"
    assert entry["refreshing"]["machine"] == "holder"
    # The mend: log in on one machine, push (no --force needed over a stalled record).
    fleet.tokens.seed("new-login")
    again = fleet.logged_in("again", refresh="new-login")
    assert again.wrap("fleet", "push").returncode == 0
    r = late.wrap_claude("-p", "hi")
    assert r.returncode == 0
    assert r.stderr == ""
    assert late.access() == "test-access-1"
    assert fleet.tokens.reused == 0


def test_a_holder_killed_while_its_request_is_out_is_not_replayed(fleet: Fleet) -> None:
    pushed(fleet)
    fleet.tokens.delay = 3  # the server takes the request, rotates, but the holder dies first
    got = []
    fleet.tokens.on_request = lambda: got.append(1)
    holder = fleet.machine("holder").launch(WRAP_REFRESH_TIMEOUT="2s")
    deadline = time.monotonic() + 20
    while not got and time.monotonic() < deadline:
        time.sleep(0.02)
    holder.kill()
    holder.communicate()
    fleet.tokens.delay = 0
    others = [fleet.machine(f"m{i}") for i in range(3)]
    time.sleep(2 + 2 + 1.5)  # the holder's lock outlived its deadline; now it has run out
    procs = [m.launch(WRAP_REFRESH_TIMEOUT="1s") for m in others for _ in range(3)]
    outs = [p.communicate(timeout=60) for p in procs]
    assert all(p.returncode == 0 for p in procs)
    assert all("may have been lost" in e for _, e in outs), outs[0][1]
    assert fleet.tokens.refresh_requests == 1  # nobody sent the spent token again
    assert fleet.tokens.reused == 0


def test_a_holder_killed_after_the_answer_left_the_rotated_token_in_the_store(
    fleet: Fleet,
) -> None:
    pushed(fleet)
    holder = fleet.machine("holder").launch(stop_at="after_send", WRAP_REFRESH_TIMEOUT="1s")
    wait_stopped(holder)
    holder.kill()
    holder.communicate()
    late = fleet.machine("late")
    r = late.wrap_claude("-p", "hi")  # waits for the dead holder's lock to run out
    assert r.returncode == 0
    assert "could not" not in r.stderr, r.stderr
    assert late.access() == "test-access-2"
    assert fleet.tokens.refresh_requests == 2
    assert fleet.tokens.reused == 0


def test_a_paused_holders_late_write_is_refused(fleet: Fleet) -> None:
    pushed(fleet)
    paused = fleet.machine("paused")
    holder = paused.launch(stop_at="locked", WRAP_REFRESH_TIMEOUT="1s")
    wait_stopped(holder)
    time.sleep(3.5)  # its lock runs out while it is stopped
    other = fleet.machine("other")
    r = other.wrap_claude("-p", "hi")
    assert r.returncode == 0
    assert r.stderr == "", r.stderr
    os.kill(holder.pid, signal.SIGCONT)
    _out, err = holder.communicate(timeout=30)
    assert holder.returncode == 0, err
    # Its mark was refused (the record moved on, the lock is not its own): it sent nothing and
    # took the other machine's token.
    assert fleet.tokens.refresh_requests == 1
    assert paused.access() == other.access() == "test-access-1"
    assert fleet.tokens.reused == 0


def test_a_rejection_is_seen_by_every_machine(fleet: Fleet) -> None:
    pushed(fleet)
    fleet.tokens.faults = ["invalid_grant"]
    machines = [fleet.machine(f"m{i}") for i in range(3)]
    results = [m.wrap_claude("-p", "hi") for m in machines for _ in range(2)]
    assert all(r.returncode == 0 for r in results)
    assert all("rejected" in r.stderr and "wrap fleet push work" in r.stderr for r in results)
    assert fleet.tokens.refresh_requests == 1  # nobody asks again
    (entry,) = fleet.status(machines[0])
    assert entry["state"] == "rejected"
    assert entry["rejected"]["machine"] in {"m0", "m1", "m2"}
    r = machines[1].wrap("fleet", "pull")
    assert r.returncode == 5
    assert "rejected" in r.stderr
    assert machines[1].wrap("refresh").returncode == 5
    assert fleet.tokens.refresh_requests == 1


def test_push_refuses_another_login_unless_forced(fleet: Fleet) -> None:
    pushed(fleet)
    desk = fleet.logged_in("desk", refresh="desk-refresh")
    before = desk.creds.read_bytes()
    r = desk.wrap("fleet", "push")
    assert r.returncode == 7
    assert "--force" in r.stderr
    assert desk.creds.read_bytes() == before  # this machine's login is untouched
    r = desk.wrap("fleet", "push", "--force")
    assert r.returncode == 0, r.stderr
    assert not desk.has_refresh_token()
    fleet.tokens.seed("desk-refresh")
    ci = fleet.machine("ci")
    assert ci.wrap("fleet", "pull").returncode == 0
    assert fleet.tokens.refresh_requests == 1
    assert fleet.tokens.reused == 0


def test_the_store_going_away_fails_open(fleet: Fleet) -> None:
    pushed(fleet)
    desk = fleet.machine("desk")
    fleet.proxy.cut()
    started = time.monotonic()
    r = desk.wrap_claude("-p", "hi", env=desk.env(WRAP_REFRESH_TIMEOUT="2s"))
    assert r.returncode == 0
    assert len(desk.reports()) == 1
    assert "cannot reach the fleet store" in r.stderr
    assert len(r.stderr.splitlines()) == 1
    assert time.monotonic() - started < 10
    assert desk.wrap("fleet", "pull").returncode == 6
    assert desk.wrap("fleet", "status").returncode == 6
    assert fleet.tokens.refresh_requests == 0


def test_a_rotated_token_the_store_would_not_take_is_kept_and_pushed_back(fleet: Fleet) -> None:
    pushed(fleet)
    fleet.tokens.on_request = fleet.proxy.cut  # the store goes away while the request is out
    desk = fleet.machine("desk")
    r = desk.wrap_claude("-p", "hi", env=desk.env(WRAP_REFRESH_TIMEOUT="2s"))
    assert r.returncode == 0
    assert "could not be stored in the fleet store" in r.stderr
    assert "wrap fleet push" in r.stderr
    kept = desk.root / "state" / "wrap" / "fleet" / "work.pending.json"
    assert stat.S_IMODE(kept.stat().st_mode) == 0o600
    assert "test-refresh" not in r.stderr
    fleet.tokens.on_request = None
    fleet.proxy.restore()
    r = desk.wrap("fleet", "push")  # the kept token continues the record's chain: no --force
    assert r.returncode == 0, r.stderr
    assert not kept.exists()
    other = fleet.machine("other")
    assert other.wrap("refresh").returncode == 0
    assert fleet.tokens.refresh_requests == 2
    assert fleet.tokens.reused == 0


def test_refresh_and_refresh_token_go_through_the_store(fleet: Fleet) -> None:
    pushed(fleet)
    desk = fleet.machine("desk")
    r = desk.wrap("refresh")
    assert r.returncode == 0, r.stderr
    r = desk.wrap("--refresh-token")
    assert r.returncode == 0, r.stderr
    assert fleet.tokens.refresh_requests == 2
    assert fleet.tokens.reused == 0
    assert desk.access() == "test-access-2"
    assert not desk.has_refresh_token()


def test_pull_all_sends_another_account_to_its_own_url_not_the_override(fleet: Fleet) -> None:
    # WRAP_TOKEN_URL is the launched profile's (claude): Gemini's record, refreshed under its
    # lease by `fleet pull --all`, goes to Gemini's own endpoint only.
    laptop = fleet.logged_in()
    gemini = laptop.root / ".gemini" / "oauth_creds.json"
    gemini.parent.mkdir()
    gemini.write_text(
        json.dumps(
            {
                "access_token": "gemini-access",
                "refresh_token": "gemini-refresh-token",
                "expiry_date": int((time.time() + 60) * 1000),
            }
        )
    )
    gemini.chmod(0o600)
    with TokenServer() as google, TokenServer() as override:
        config = laptop.root / "config" / "wrap" / "config.toml"
        config.write_text(
            config.read_text() + f'[profiles.gemini]\nfleet = "gem"\ntoken_url = "{google.url}"\n'
        )
        for name in ("claude", "gemini"):
            r = laptop.wrap("fleet", "push", name)
            assert r.returncode == 0, r.stderr
        r = laptop.wrap("fleet", "pull", "--all", env=laptop.env(WRAP_TOKEN_URL=override.url))
        assert r.returncode == 0, r.stdout + r.stderr
        assert google.used == {"gemini-refresh-token"}
        assert override.used == {"old-refresh"}


# The policies the README recommends, checked on a real OpenBao.
FLEET_POLICY = """
path "secret/data/{prefix}/*"     {{ capabilities = ["create", "read", "update"] }}
path "secret/metadata/{prefix}/*" {{ capabilities = ["list"] }}
"""
CI_POLICY = """
path "secret/data/{prefix}/work"        {{ capabilities = ["read", "update"] }}
path "secret/data/{prefix}/.locks/work" {{ capabilities = ["create", "read", "update"] }}
"""


def _token_with(store: StoreServer, name: str, policy: str) -> str:
    import httpx

    base = f"http://127.0.0.1:{store.port}/v1"
    root = {"X-Vault-Token": store.env["WRAP_FLEET_TOKEN"]}
    r = httpx.put(f"{base}/sys/policies/acl/{name}", json={"policy": policy}, headers=root)
    assert r.status_code in (200, 204), r.text
    r = httpx.post(f"{base}/auth/token/create", json={"policies": [name]}, headers=root)
    return str(r.json()["auth"]["client_token"])


@pytest.mark.parametrize("store", ["openbao"], indirect=True)
def test_the_recommended_openbao_policies_are_enough(fleet: Fleet) -> None:
    machine_token = _token_with(
        fleet.store, f"wrap-{fleet.prefix}", FLEET_POLICY.format(prefix=fleet.prefix)
    )
    ci_token = _token_with(fleet.store, f"ci-{fleet.prefix}", CI_POLICY.format(prefix=fleet.prefix))
    laptop = fleet.logged_in()
    assert (
        laptop.wrap("fleet", "push", env=laptop.env(WRAP_FLEET_TOKEN=machine_token)).returncode == 0
    )
    r = laptop.wrap("fleet", "status", env=laptop.env(WRAP_FLEET_TOKEN=machine_token))
    assert r.returncode == 0, r.stderr
    ci = fleet.machine("ci", copy=False)
    r = ci.wrap("fleet", "pull", env=ci.env(WRAP_FLEET_TOKEN=ci_token))
    assert r.returncode == 0, r.stderr
    assert ci.access() == "test-access-1"
    # The CI token reaches that one record only: anything else is refused, exit 6.
    r = ci.wrap("fleet", "status", env=ci.env(WRAP_FLEET_TOKEN=ci_token))
    assert r.returncode == 6
    assert "refused wrap" in r.stderr
    assert ci_token not in r.stderr


def _push_and_pull(fleet: Fleet, creds: dict[str, str]) -> Machine:
    """Push from one machine, launch on another, look at the status: all with CREDS only."""
    laptop = fleet.logged_in()
    r = laptop.wrap("fleet", "push", env=laptop.env(**creds))
    assert r.returncode == 0, r.stderr
    desk = fleet.machine("desk")
    r = desk.wrap_claude("-p", "hi", env=desk.env(**creds))
    assert r.stderr == ""
    assert desk.access() == "test-access-1"
    assert desk.wrap("fleet", "status", env=desk.env(**creds)).returncode == 0
    return desk


def _etcd(port: int, path: str, body: dict[str, Any], token: str | None = None) -> None:
    import httpx

    headers = {"Authorization": token} if token else {}
    r = httpx.post(f"http://127.0.0.1:{port}{path}", json=body, headers=headers)
    assert r.status_code == 200, (path, r.text)


def test_etcd_with_the_readmes_user_and_role(tmp_path: Path, server: TokenServer) -> None:
    """The README's etcd recipe, through the JSON API: a role on the prefix, auth enabled."""
    import base64

    store = StoreServer("etcd", tmp_path / "etcd-auth")
    try:
        b64 = lambda s: base64.b64encode(s.encode()).decode()  # noqa: E731
        fleet = Fleet(store, server, tmp_path)
        port = store.port
        for path, body in [
            ("/v3/auth/user/add", {"name": "root", "password": "rootpw"}),
            ("/v3/auth/role/add", {"name": "root"}),
            ("/v3/auth/user/grant", {"user": "root", "role": "root"}),
            ("/v3/auth/role/add", {"name": "wrap"}),
            (
                "/v3/auth/role/grant",
                {
                    "name": "wrap",
                    "perm": {
                        "permType": "READWRITE",
                        "key": b64(f"{fleet.prefix}/"),
                        "range_end": b64(f"{fleet.prefix}0"),
                    },
                },
            ),
            ("/v3/auth/user/add", {"name": "wrap", "password": "wrap-pw"}),
            ("/v3/auth/user/grant", {"user": "wrap", "role": "wrap"}),
            ("/v3/auth/enable", {}),
        ]:
            _etcd(port, path, body)
        desk = _push_and_pull(fleet, {"WRAP_FLEET_USER": "wrap", "WRAP_FLEET_PASSWORD": "wrap-pw"})
        wrong = desk.wrap("fleet", "status", env=desk.env(WRAP_FLEET_PASSWORD="nope"))
        assert wrong.returncode == 6
        assert "refused" in wrong.stderr
        assert "nope" not in wrong.stderr
        assert server.reused == 0
    finally:
        store.stop()


@pytest.mark.parametrize("store", ["redis"], indirect=True)
def test_redis_with_the_readmes_acl_user(fleet: Fleet) -> None:
    import socket

    user = f"wrap-{fleet.prefix}"
    command = [
        "ACL", "SETUSER", user, "on", ">acl-pw", f"~{fleet.prefix}/*",
        "+get", "+set", "+del", "+pexpire", "+scan", "+eval", "+evalsha", "+script",
    ]  # fmt: skip
    wire = f"*{len(command)}\r\n" + "".join(f"${len(c)}\r\n{c}\r\n" for c in command)
    with socket.create_connection(("127.0.0.1", fleet.store.port)) as s:
        s.sendall(wire.encode())
        assert s.recv(64).startswith(b"+OK")
    creds = {"WRAP_FLEET_USER": user, "WRAP_FLEET_PASSWORD": "acl-pw"}
    desk = _push_and_pull(fleet, creds)
    # A fresh copy needs no store; a forced refresh does, and the wrong password is refused.
    wrong = desk.wrap("refresh", env=desk.env(**{**creds, "WRAP_FLEET_PASSWORD": "nope"}))
    assert wrong.returncode == 6
    assert "refused" in wrong.stderr


def test_keepalive_pulls_through_the_store(fleet: Fleet) -> None:
    pushed(fleet)
    desk = fleet.machine("desk")
    r = desk.wrap("keepalive")
    assert r.returncode == 0, r.stderr
    assert desk.access() == "test-access-1"
    assert not desk.has_refresh_token()
    assert fleet.tokens.refresh_requests == 1


def test_a_machines_own_login_is_kept_whole_when_the_record_replaces_it(fleet: Fleet) -> None:
    pushed(fleet)
    own = fleet.logged_in("own", refresh="own-refresh")
    before = own.creds.read_bytes()
    r = own.wrap_claude("-p", "hi")
    assert r.returncode == 0
    assert "held another login" in r.stderr
    kept = Path(r.stderr.split(" is kept in ")[1].split(":")[0])
    assert kept.read_bytes() == before
    assert stat.S_IMODE(kept.stat().st_mode) == 0o600
    assert own.access() == "test-access-1"
    assert not own.has_refresh_token()


def test_a_rejection_quoting_the_token_shows_it_on_no_machine(fleet: Fleet) -> None:
    # The server quotes the refresh token it refuses; the record keeps the error for every
    # machine to show, so it must be kept redacted by the one that knew the token.
    pushed(fleet)
    desk, ci = fleet.machine("desk"), fleet.machine("ci")
    fleet.tokens.faults = ["echo_token"]
    r = desk.wrap("refresh")
    assert r.returncode == 5
    assert "<redacted> is not valid" in r.stdout + r.stderr
    later = ci.wrap("refresh")
    shown = ci.wrap("fleet", "status", "--json")
    assert fleet.tokens.refresh_requests == 1
    for out in (r, later, shown):
        assert "old-refresh" not in out.stdout + out.stderr
    assert "<redacted> is not valid" in later.stdout + later.stderr


def test_fleet_status_cleans_what_other_machines_wrote(fleet: Fleet) -> None:
    # A machine's name (any machine's config) and a server's words reach every machine's
    # terminal: OSC 52 (a clipboard write) and a title change must not.
    pushed(fleet)
    hostile = Machine(
        fleet.root / "hostile", fleet, "desk\\u001b]52;c;ZXZpbA==\\u0007\\u001b]0;t\\u0007"
    )
    hostile.write_claude(time.time() + 60, refresh=None)
    r = hostile.wrap("refresh")
    assert r.returncode == 0, r.stderr
    fleet.tokens.faults = ["echo_token"]
    assert hostile.wrap("refresh").returncode == 5
    shown = fleet.machine("ci").wrap("fleet", "status")
    assert shown.returncode == 0, shown.stderr
    assert "rejected on desk" in shown.stdout
    assert "(desk)" in shown.stdout
    for bad in ("\x1b", "\x07"):
        assert bad not in shown.stdout


def test_failed_pulls_are_counted_and_a_pull_that_works_ends_the_count(fleet: Fleet) -> None:
    pushed(fleet)
    desk = fleet.machine("desk")

    def failures() -> int:
        [obj] = json.loads(desk.wrap("status", "--json").stdout)
        return obj["consecutive_failures"]  # type: ignore[no-any-return]

    fleet.proxy.cut()
    for _ in range(2):
        assert desk.wrap("refresh", env=desk.env(WRAP_REFRESH_TIMEOUT="2s")).returncode == 6
    assert failures() == 2
    fleet.proxy.restore()
    assert desk.wrap("refresh").returncode == 0
    assert failures() == 0


def test_a_record_holds_the_accounts_own_login_and_no_other_chain(fleet: Fleet) -> None:
    """Claude 2.1.337 keeps other token chains in the same document (chatHistoryOauth with its
    own client id, mcpOAuth): each machine's Claude refreshes its own, so none reaches the
    store, and the pushing machine's file keeps them byte for byte."""
    laptop = fleet.machine("laptop", copy=False)
    doc = claude_doc(time.time() + 60)
    doc["chatHistoryOauth"] = {
        "accessToken": "chat-access",
        "refreshToken": "chat-refresh",
        "expiresAt": 1_900_000_000_000,
        "clientId": "00000000-0000-4000-8000-00000000c4a9",
    }
    doc["mcpOAuth"]["example-server|abc123"]["refreshToken"] = "mcp-refresh"
    doc["trustedDeviceByAccount"] = {"acct-1": {"deviceId": "d-1"}}
    doc["removedHybridSignIn"] = True
    laptop.write(doc)
    r = laptop.wrap("fleet", "push")
    assert r.returncode == 0, r.stderr
    after = laptop.creds.read_text()
    for key in ("chatHistoryOauth", "mcpOAuth", "trustedDeviceByAccount", "removedHybridSignIn"):
        assert json.loads(after)[key] == doc[key]
    ci = fleet.machine("ci", copy=False)
    assert ci.wrap("fleet", "pull").returncode == 0
    pulled = ci.creds.read_text()
    assert set(json.loads(pulled)) == {"claudeAiOauth"}
    for token in ("chat-refresh", "chat-access", "mcp-refresh", "old-refresh"):
        assert token not in pulled
