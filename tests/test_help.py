"""Help, usage and errors as a new user meets them, through the installed `wrap`."""

from __future__ import annotations

import pytest
from conftest import Home


def _one_error_line(stderr: str) -> str:
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    line = lines[0]
    assert line.startswith("wrap: "), line
    assert "Usage:" not in stderr
    assert "Error:" not in stderr
    assert "Traceback" not in stderr
    return line


def test_top_help_lists_every_command_but_not_internal_ones(home: Home) -> None:
    r = home.wrap("--help")
    assert r.returncode == 0
    commands = r.stdout.split("Commands:")[1]
    for name in ("status", "refresh", "login", "keepalive", "fleet", "doctor", "forget"):
        assert f"  {name} " in commands
    # `run` is what `wrap PROGRAM` means and the daemon does not exist: neither is listed.
    assert "  run " not in commands
    assert "daemon" not in r.stdout
    assert "wrap fleet push|pull|status" in r.stdout
    assert "6 fleet store" in r.stdout.replace("\n", " ").replace("  ", " ")
    assert "7 fleet" in r.stdout
    assert "130" in r.stdout


def test_wrap_run_help_is_help_not_a_program(home: Home) -> None:
    r = home.wrap("run", "--help")
    assert r.returncode == 0, r.stderr
    assert "wrap run [OPTIONS] PROGRAM" in r.stdout


def test_dashdash_help_is_still_a_program(home: Home) -> None:
    r = home.wrap("--", "--help")
    assert r.returncode == 127
    assert "--help was not found on PATH" in r.stderr


@pytest.mark.parametrize("args", [(), ("--json",), ("-q",)])
def test_bare_wrap_prints_short_usage_not_the_whole_help(home: Home, args: tuple[str]) -> None:
    r = home.wrap(*args)
    assert r.returncode == 2
    assert r.stderr.startswith("wrap: no program given")
    assert len(r.stderr.splitlines()) <= 3
    assert "usage: wrap [OPTIONS] [--] PROGRAM" in r.stderr
    assert "--credentials" not in r.stderr  # the option list is --help's
    assert r.stdout == ""


def test_a_near_subcommand_is_suggested(home: Home) -> None:
    r = home.wrap("stauts")
    assert r.returncode == 127
    assert "did you mean 'wrap status'?" in _one_error_line(r.stderr)
    far = home.wrap("zzqx")
    assert "did you mean" not in far.stderr


def test_an_unknown_fleet_or_keepalive_command_is_a_usage_error_with_a_suggestion(
    home: Home,
) -> None:
    r = home.wrap("fleet", "stauts")
    assert r.returncode == 2
    assert "did you mean 'status'?" in _one_error_line(r.stderr)
    r = home.wrap("keepalive", "instal")
    assert r.returncode == 2
    assert "did you mean 'install'?" in _one_error_line(r.stderr)


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (("status", "--bogus"), "no such option '--bogus'; see 'wrap status --help'"),
        (("--threshold",), "option '--threshold' requires an argument; see 'wrap --help'"),
        (("refresh", "a", "b"), "see 'wrap refresh --help'"),
    ],
)
def test_click_errors_read_like_every_other_error(
    home: Home, args: tuple[str, ...], says: str
) -> None:
    r = home.wrap(*args)
    assert r.returncode == 2
    assert says in _one_error_line(r.stderr)


def test_login_with_an_unknown_name_is_a_usage_error_naming_the_choices(home: Home) -> None:
    r = home.wrap("login", "nosuch")
    assert r.returncode == 2
    line = _one_error_line(r.stderr)
    assert "no profile or account named 'nosuch'" in line
    assert "claude, codex, gemini" in line
    assert not home.creds.exists()
    near = home.wrap("login", "claud")
    assert "did you mean 'claude'?" in _one_error_line(near.stderr)


def test_keyboard_interrupt_in_a_command_is_130(home: Home) -> None:
    # A real SIGINT mid-command: the report command is made to wait on a read of stdin.
    code = (
        "import sys, signal, os\n"
        "from launcher import cli, status\n"
        "def wait(*a, **k):\n"
        "    os.kill(os.getpid(), signal.SIGINT)\n"
        "    signal.pause()\n"
        "status.collect = wait\n"
        "sys.exit(cli.main(['refresh', '--all']))\n"
    )
    r = home.python(code)
    assert r.returncode == 130, r.stderr
    assert "interrupted" in _one_error_line(r.stderr)


def _complete(home: Home, shell: str, words: str, cword: int | str) -> list[str]:
    # bash and zsh pass the index of the word completed, fish the word itself.
    env = home.env(_WRAP_COMPLETE=f"{shell}_complete", COMP_WORDS=words, COMP_CWORD=str(cword))
    r = home.wrap(env=env)
    assert r.returncode == 0, r.stderr
    return r.stdout.splitlines()


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_completion_scripts_are_generated_for_each_documented_shell(home: Home, shell: str) -> None:
    r = home.wrap(env=home.env(_WRAP_COMPLETE=f"{shell}_source"))
    assert r.returncode == 0, r.stderr
    assert "_WRAP_COMPLETE" in r.stdout


def test_completion_offers_profiles_accounts_and_paths(home: Home) -> None:
    import time

    home.write_claude(time.time() + 30 * 86400)
    (home.root / ".claude.json").write_text('{"oauthAccount": {"emailAddress": "me@example.com"}}')
    assert "plain,gemini" in _complete(home, "bash", "wrap --profile ge", 2)
    accounts = _complete(home, "bash", "wrap refresh ", 2)
    assert "plain,me@example.com" in accounts
    assert "plain,codex" in accounts
    assert _complete(home, "bash", "wrap forget ~/.cl", 2) == ["file,~/.cl"]
    assert _complete(home, "bash", "wrap --credentials /tm", 2) == ["file,/tm"]
    assert _complete(home, "bash", "wrap login q", 2) == ["plain,qwen"]
    commands = _complete(home, "bash", "wrap ", 1)
    assert "plain,doctor" in commands
    assert "plain,run" not in commands
    # zsh and fish read the same answers in their own formats.
    assert any("gemini" in line for line in _complete(home, "zsh", "wrap --profile ge", 2))
    assert any("gemini" in line for line in _complete(home, "fish", "wrap --profile ge", "ge"))
