"""wrap's state directory is trusted only when it is the user's own and no one else may write in
it: otherwise a planted config cache, record or kept token would be taken at its word (another
user's `token_url` would receive the refresh token), so the whole state is left unused for the
run, in one line that says how to fix it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from conftest import BIN, ROOT, claude_doc, one_line
from token_server import TokenServer

from launcher import state
from launcher.digest import sha256_hex

# The one who plants. The victim is the user running the suite (root in CI): another
# unprivileged user could not run this venv's console scripts (its Python lives under /root).
NOBODY = 65534
needs_root = pytest.mark.skipif(
    os.geteuid() != 0, reason="needs root: to act as other users (CI runs as root)"
)


def _config(token_url: str) -> str:
    return f'[profiles.claude]\ntoken_url = "{token_url}"\n'


def _plant_cache(state_home: Path, config_path: Path, token_url: str) -> Path:
    """The parsed-config cache entry wrap would take for CONFIG_PATH, naming TOKEN_URL."""
    import tomllib

    data = config_path.read_bytes()
    table = tomllib.loads(_config(token_url))
    entry = state_home / "wrap" / "config" / (state.key(str(config_path)) + ".json")
    entry.parent.mkdir(parents=True, exist_ok=True)
    entry.write_text(json.dumps({"sha256": sha256_hex(data), "table": table}))
    return entry


class Victim:
    """A HOME of its own (owned by UID when given) with an expiring Claude token and a config
    naming the real token server."""

    def __init__(self, root: Path, server: TokenServer) -> None:
        self.root = root
        (root / ".claude").mkdir(parents=True)
        self.creds = root / ".claude" / ".credentials.json"
        self.creds.write_text(json.dumps(claude_doc(time.time() + 3600)))
        self.creds.chmod(0o600)
        self.config = root / "config" / "wrap" / "config.toml"
        self.config.parent.mkdir(parents=True)
        self.config.write_text(_config(server.url))
        (root / "bin").mkdir()
        fake = root / "bin" / "claude"
        fake.write_text(
            f"#!{sys.executable}\n" + (ROOT / "tests" / "bin" / "fake_claude.py").read_text()
        )
        fake.chmod(0o755)
        (root / "tmp").mkdir()

    def wrap_claude(self, state_home: Path) -> subprocess.CompletedProcess[str]:
        env = {
            "HOME": str(self.root),
            "PATH": f"{self.root / 'bin'}{os.pathsep}{BIN}{os.pathsep}/usr/bin:/bin",
            "LANG": "C.UTF-8",
            "FAKE_REPORT": str(self.root / "report.jsonl"),
            "XDG_CONFIG_HOME": str(self.root / "config"),
            "XDG_STATE_HOME": str(state_home),
            "TMPDIR": str(self.root / "tmp"),  # where the run's stand-in state goes
        }
        return subprocess.run(
            [str(BIN / "wrap-claude"), "--version"],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            stdin=subprocess.DEVNULL,
            cwd=self.root,
        )

    def launched(self) -> bool:
        return (self.root / "report.jsonl").exists()


def _as(uid: int, *argv: str) -> None:
    subprocess.run(argv, check=True, user=uid, group=uid, extra_groups=[], cwd="/")


@needs_root
def test_a_state_directory_planted_by_another_user_is_not_read(shared_dir: Path) -> None:
    # The victim's XDG_STATE_HOME is somewhere another user got to first (under /tmp): nobody
    # made wrap's state directory there and planted the cache of the victim's (readable)
    # config, naming nobody's token endpoint. The victim's launch must not send it anything.
    with TokenServer() as real, TokenServer() as evil:
        real.seed("old-refresh")
        evil.seed("old-refresh")
        victim = Victim(shared_dir / "victim", real)
        state_home = shared_dir / "state"
        _as(NOBODY, "mkdir", "-m", "755", str(state_home))
        staging = Path(tempfile.mkdtemp(dir=shared_dir))
        entry = _plant_cache(staging, victim.config, evil.url)
        for p in [staging, *staging.rglob("*")]:
            os.chown(p, NOBODY, NOBODY)
        _as(NOBODY, "cp", "-a", str(staging / "wrap"), str(state_home / "wrap"))
        r = victim.wrap_claude(state_home)
        assert r.returncode == 0, r.stderr
        line = one_line(r.stderr)
        assert f"the state directory {state_home / 'wrap'} belongs to another user" in line
        assert f"(uid {NOBODY})" in line
        assert "uses none of its state for this run" in line
        assert "set XDG_STATE_HOME" in line
        assert evil.refresh_requests == 0
        assert real.refresh_requests == 1
        assert victim.launched()
        assert json.loads((state_home / "wrap" / "config" / entry.name).read_text())
        stored = json.loads(victim.creds.read_text())["claudeAiOauth"]
        assert stored["refreshToken"] == "test-refresh-1"


@needs_root
def test_a_planted_parent_of_the_state_directory_is_not_trusted(shared_dir: Path) -> None:
    # nobody owns XDG_STATE_HOME itself: it could swap the victim's own wrap/ for its own.
    with TokenServer() as real, TokenServer() as evil:
        real.seed("old-refresh")
        victim = Victim(shared_dir / "victim", real)
        state_home = shared_dir / "state"
        _as(NOBODY, "mkdir", "-m", "777", str(state_home))
        (state_home / "wrap").mkdir(mode=0o700)
        r = victim.wrap_claude(state_home)
        assert r.returncode == 0, r.stderr
        line = one_line(r.stderr)
        assert f"the state directory {state_home} belongs to another user (uid {NOBODY})" in line
        assert evil.refresh_requests == 0
        assert real.refresh_requests == 1


@pytest.mark.parametrize("mode", [0o777, 0o770, 0o722, 0o1777], ids=oct)
def test_a_state_directory_others_may_write_is_not_read(tmp_path: Path, mode: int) -> None:
    # The victim's own directory, but group or world may write in it: anyone could have
    # planted the cache entry there.
    with TokenServer() as real, TokenServer() as evil:
        real.seed("old-refresh")
        victim = Victim(tmp_path / "victim", real)
        state_home = tmp_path / "state"
        _plant_cache(state_home, victim.config, evil.url)
        (state_home / "wrap").chmod(mode)
        r = victim.wrap_claude(state_home)
        assert r.returncode == 0, r.stderr
        line = one_line(r.stderr)
        assert f"the state directory {state_home / 'wrap'} may be written by others" in line
        assert f"(mode {mode:03o})" in line
        assert f"chmod 700 {state_home / 'wrap'}" in line
        assert evil.refresh_requests == 0
        assert real.refresh_requests == 1


def test_a_private_state_directory_is_used_silently(tmp_path: Path) -> None:
    # The same planted entry in a directory that is the user's and private is wrap's own cache.
    with TokenServer() as real, TokenServer() as other:
        other.seed("old-refresh")
        victim = Victim(tmp_path / "victim", real)
        state_home = tmp_path / "state"
        _plant_cache(state_home, victim.config, other.url)
        (state_home / "wrap").chmod(0o700)
        (state_home).chmod(0o755)
        r = victim.wrap_claude(state_home)
        assert r.returncode == 0, r.stderr
        assert r.stderr == ""
        assert other.refresh_requests == 1


def test_a_sticky_world_writable_parent_is_fine(tmp_path: Path) -> None:
    # XDG_STATE_HOME=/tmp-like: anyone may create entries, no one may replace another's.
    with TokenServer() as real:
        real.seed("old-refresh")
        victim = Victim(tmp_path / "victim", real)
        state_home = tmp_path / "sticky"
        state_home.mkdir()
        state_home.chmod(0o1777)
        r = victim.wrap_claude(state_home)
        assert r.returncode == 0, r.stderr
        assert r.stderr == ""
        assert real.refresh_requests == 1
        assert (state_home / "wrap").is_dir()


def test_a_kept_setup_token_in_an_untrusted_state_is_not_handed_to_claude(tmp_path: Path) -> None:
    with TokenServer() as real:
        victim = Victim(tmp_path / "victim", real)
        victim.creds.write_text(json.dumps(claude_doc(time.time() + 30 * 86400)))
        victim.config.write_text('[profiles.claude]\nsetup_token = "env"\n')
        state_home = tmp_path / "state"
        kept = Path(state.env_token_path(str(state_home / "wrap"), str(victim.creds)))
        kept.parent.mkdir(parents=True)
        kept.write_text(json.dumps({"token": "planted-setup-token", "expires_at": 4e9}))
        kept.chmod(0o600)
        (state_home / "wrap").chmod(0o777)
        r = victim.wrap_claude(state_home)
        assert r.returncode == 0, r.stderr
        assert "may be written by others" in one_line(r.stderr)
        [launch] = [json.loads(x) for x in (victim.root / "report.jsonl").read_text().splitlines()]
        assert launch["env_token_digest"] is None


@needs_root
def test_a_file_of_another_user_in_a_private_state_directory_is_not_read(tmp_path: Path) -> None:
    # The directory is the user's and private, but an entry in it is not theirs (left from
    # when it was shared, or put there by root for someone else): it is not wrap's own.
    with TokenServer() as real, TokenServer() as evil:
        real.seed("old-refresh")
        victim = Victim(tmp_path / "victim", real)
        state_home = tmp_path / "state"
        entry = _plant_cache(state_home, victim.config, evil.url)
        os.chown(entry, NOBODY, NOBODY)
        (state_home / "wrap").chmod(0o700)
        r = victim.wrap_claude(state_home)
        assert r.returncode == 0, r.stderr
        assert evil.refresh_requests == 0
        assert real.refresh_requests == 1


def _own_files(state_dir: Path) -> list[tuple[Path, object]]:
    """wrap's own small files outside credentials/ (a fleet account's kept refresh token,
    keepalive's notices), each written as wrap writes it, with what reading it back gives."""
    from launcher.fleet import account
    from launcher.keepalive import record

    kept = Path(account.save_pending(str(state_dir), "team", "kept-refresh", "parent", 1.0))
    record.save(str(state_dir), record.NOTICES, {"known": {}, "told": {}})
    return [
        (kept, lambda: account.load_pending(str(state_dir), "team")),
        (Path(record.folder(str(state_dir))) / record.NOTICES,
         lambda: record.load(str(state_dir), record.NOTICES)),
    ]  # fmt: skip


def test_wraps_own_files_are_not_read_through_a_link(tmp_path: Path) -> None:
    state_dir = tmp_path / "state"
    for path, load in _own_files(state_dir):
        assert load(), path  # read as written
        elsewhere = tmp_path / path.name
        path.rename(elsewhere)
        path.symlink_to(elsewhere)
        assert not load(), path


@needs_root
def test_wraps_own_files_of_another_user_are_not_read(tmp_path: Path) -> None:
    state_dir = tmp_path / "state"
    for path, load in _own_files(state_dir):
        assert load(), path
        os.chown(path, NOBODY, NOBODY)
        assert not load(), path
