"""A PATH or WRAP_CLAUDE_BIN that leads back to wrap is caught: one line, then the real program
(or 127 when there is none), never an endless loop. And a login's setup command is found the way
the program is, past a wrap-claude installed as `claude`."""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from pathlib import Path

import pexpect
from conftest import BIN, DAY, ROOT, Home, digest
from token_server import TokenServer

SETUP_TOKEN = "sk-ant-oat01-FAKEfakeFAKEfake_token-0123456789"


def _dir(home: Home, name: str) -> Path:
    d = home.root / name
    d.mkdir()
    return d


def _script(path: Path, text: str) -> Path:
    path.write_text(text)
    path.chmod(0o755)
    return path


# A shim that gives up after 20 rounds, so that a regression fails fast instead of looping on.
BOUND = '[ "${SHIM_ROUNDS:-0}" -gt 20 ] && exit 99; export SHIM_ROUNDS=$((${SHIM_ROUNDS:-0}+1))\n'


def _path(*dirs: Path) -> str:
    return ":".join([*map(str, dirs), str(BIN), "/usr/bin:/bin"])


def test_wrap_claude_bin_pointing_at_wrap_claude_runs_the_real_claude(home: Home) -> None:
    home.write_claude(time.time() + 30 * DAY)
    env = home.env(WRAP_CLAUDE_BIN=str(BIN / "wrap-claude"))
    proc = subprocess.Popen(
        [str(BIN / "wrap-claude"), "-p", "x"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
    )
    try:
        out, err = proc.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        raise AssertionError("wrap-claude kept exec'ing itself") from None
    assert proc.returncode == 0, err
    assert out == "fake claude ran\n"
    [line] = err.splitlines()
    assert "leads back to wrap itself" in line
    [report] = home.reports()
    assert report["argv"] == ["-p", "x"]
    assert report["pid"] == proc.pid  # exec all the way: no process left behind


def test_no_real_claude_behind_the_loop_is_127_with_a_clear_message(home: Home) -> None:
    home.write_claude(time.time() + 30 * DAY)
    empty = _dir(home, "empty")
    env = home.env(WRAP_CLAUDE_BIN=str(BIN / "wrap-claude"), PATH=_path(empty))
    r = home.wrap_claude(env=env)
    assert r.returncode == 127
    assert "claude was not found on PATH" in r.stderr
    assert not home.reports()


def test_a_claude_script_that_execs_wrap_claude_is_passed_over(home: Home) -> None:
    home.write_claude(time.time() + 30 * DAY)
    shim = _dir(home, "shim")
    _script(shim / "claude", f'#!/bin/sh\n{BOUND}exec "{BIN / "wrap-claude"}" "$@"\n')
    r = home.wrap_claude("hello", env=home.env(PATH=_path(shim, home.bin)))
    assert r.returncode == 0, r.stderr
    assert "leads back to wrap itself" in r.stderr
    [report] = home.reports()
    assert report["argv"] == ["hello"]


def test_a_script_that_runs_wrap_claude_as_a_child_ends_too(home: Home) -> None:
    # No exec: each round is a new process, the child of the last. The chain is cut after a
    # few rounds, and the real claude runs once.
    home.write_claude(time.time() + 30 * DAY)
    shim = _dir(home, "shim")
    _script(shim / "claude", f'#!/bin/sh\n{BOUND}"{BIN / "wrap-claude"}" "$@"\n')
    r = home.wrap_claude("hello", env=home.env(PATH=_path(shim, home.bin)))
    assert r.returncode == 0, r.stderr
    assert "leads back to wrap itself" in r.stderr
    assert len(home.reports()) == 1


def test_claude_starting_wrap_claude_again_is_not_a_loop(home: Home) -> None:
    # The real program running the launcher again (Claude Code's shell tool running claude)
    # is gated as usual: no message, the real claude runs.
    home.write_claude(time.time() + 30 * DAY)
    real = _dir(home, "real")
    nested = home.root / "nested.out"
    _script(
        real / "claude",
        f"#!{sys.executable}\n"
        "import os, subprocess, sys\n"
        "if not os.environ.get('NESTED'):\n"
        "    os.environ['NESTED'] = '1'\n"
        f"    r = subprocess.run([{str(BIN / 'wrap-claude')!r}, 'inner'], capture_output=True)\n"
        f"    open({str(nested)!r}, 'wb').write(r.stderr)\n"
        + "".join(f"{line}\n" for line in _fake_claude_body()),
    )
    r = home.wrap_claude("outer", env=home.env(PATH=_path(real)))
    assert r.returncode == 0, r.stderr
    assert r.stderr == ""
    assert nested.read_bytes() == b""
    assert [rep["argv"] for rep in home.reports()] == [["inner"], ["outer"]]


def _fake_claude_body() -> list[str]:
    text = (ROOT / "tests" / "bin" / "fake_claude.py").read_text()
    return text.splitlines()


def test_setup_token_env_goes_to_claude_only(home: Home) -> None:
    home.write_claude(time.time() + 30 * DAY)
    cfg = home.root / "config" / "wrap"
    cfg.mkdir(parents=True)
    (cfg / "config.toml").write_text('setup_token = "env"\n')
    tokens = home.root / "state" / "wrap" / "tokens"
    from launcher import login, state

    login.save_env_token(
        str(home.root / "state" / "wrap"), str(home.creds), SETUP_TOKEN, time.time() + DAY
    )
    assert any(tokens.iterdir())
    other = home.wrap("printenv", state.ENV_TOKEN)
    assert other.returncode == 1  # printenv: not set
    assert SETUP_TOKEN not in other.stdout
    assert home.wrap_claude().returncode == 0
    assert home.wrap("claude").returncode == 0
    assert [r["env_token_digest"] for r in home.reports()] == [digest(SETUP_TOKEN)] * 2


def test_relogin_runs_the_real_setup_command_past_wrap_claude_installed_as_claude(
    home: Home,
) -> None:
    home.write_claude(time.time() - 60)
    cfg = home.root / "config" / "wrap"
    cfg.mkdir(parents=True)
    (cfg / "config.toml").write_text('[profiles.claude]\nlogin = "setup-token"\n')
    first = _dir(home, "first")
    shutil.copy(BIN / "wrap-claude", first / "claude")  # wrap-claude installed as `claude`
    vendor = _dir(home, "vendor")
    setup = ROOT / "tests" / "bin" / "fake_setup_token.py"
    _script(vendor / "claude", f'#!/bin/sh\nexec "{sys.executable}" "{setup}"\n')
    # Were `claude setup-token` wrap-claude, its gate would find the refresh token rejected
    # and wait, on a terminal, for the login lock this very login holds.
    with TokenServer() as server:
        server.faults = ["invalid_grant"] * 3
        env = home.env(PATH=_path(first, vendor), WRAP_TOKEN_URL=server.url)
        child = pexpect.spawn(
            str(BIN / "wrap"),
            ["login"],
            env=env,
            dimensions=(30, 100),
            timeout=30,
            encoding="utf-8",
        )
        child.expect("Paste code here")
        child.sendline("good-code")
        child.expect(pexpect.EOF)
        child.close()
        assert server.refresh_requests == 0
    assert child.exitstatus == 0
    assert home.read()["claudeAiOauth"]["accessToken"] == SETUP_TOKEN
