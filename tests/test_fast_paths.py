"""`wrap`'s plain launches and --check-only run without click, and read their arguments exactly
as click does; anything else still goes to click (launcher/main.py)."""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
from conftest import BIN, Home

from launcher import actions, cli, main

# Nothing a fresh launch or a check needs: the CLI framework, the HTTP stack, the slow imports
# of the standard library (typing alone is ~2 ms, OpenSSL's hashlib ~2 ms and 4 MiB).
HEAVY = {
    "click",
    "httpx",
    "httpcore",
    "h11",
    "anyio",
    "certifi",
    "idna",
    "ssl",
    "pexpect",
    "dateutil",
    "platformdirs",
    "keyring",
    "secretstorage",
    "logging",
    "dataclasses",
    "typing",
    "tomllib",
    "pathlib",
    "glob",
    "hashlib",
    "_hashlib",
    "subprocess",
    "urllib",
    "email",
    "math",  # a shared library to load, for one isfinite()
}


# The same arguments through click's reader alone.
CLICK_ONLY = "import sys; from launcher import cli; sys.exit(cli.main())"


def _true_bin(home: Home) -> Path:
    """A PATH entry where claude and gemini are /bin/true: no Python of their own to import."""
    where = home.root / "truebin"
    where.mkdir(exist_ok=True)
    for name in ("claude", "gemini"):
        link = where / name
        if not link.exists():
            link.symlink_to("/bin/true")
    return where


def _imports(home: Home, script: str, *args: str) -> tuple[subprocess.CompletedProcess[str], set]:
    """The top-level packages SCRIPT ARGS imports."""
    r, modules = _modules(home, home.root, script, *args)
    return r, {m.split(".")[0] for m in modules}


def _modules(
    home: Home, cwd: Path, script: str, *args: str, **extra: str
) -> tuple[subprocess.CompletedProcess[str], set]:
    """Every module (full dotted name) SCRIPT ARGS started in CWD imports."""
    env = home.env(**extra)
    env["PATH"] = f"{_true_bin(home)}{os.pathsep}{env['PATH']}"
    r = subprocess.run(
        [str(BIN / "python"), "-X", "importtime", str(BIN / script), *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        check=False,
    )
    found = {
        line.rsplit("|", 1)[-1].strip()
        for line in r.stderr.splitlines()
        if line.startswith("import time:") and "|" in line
    }
    return r, found


@pytest.mark.parametrize(
    ("script", "args"),
    [
        ("wrap-claude", ()),
        ("wrap", ("claude",)),
        ("wrap", ("--profile", "claude", "claude", "--model", "x")),
        ("wrap", ("--profile=claude", "-q", "--", "claude")),
        ("wrap", ("--check-only",)),
        ("wrap", ("--check-only", "--json")),
        ("wrap", ("--threshold", "1d", "--check-only", "--json")),
    ],
)
def test_a_fresh_launch_or_check_imports_nothing_heavy(
    home: Home, script: str, args: tuple[str, ...]
) -> None:
    home.write_claude(time.time() + 30 * 86400)
    r, found = _imports(home, script, *args)
    assert r.returncode == 0, r.stderr
    assert "launcher" in found  # the measurement saw wrap's own imports
    assert sorted(HEAVY & found) == []


def test_a_fresh_gemini_launch_imports_nothing_heavy(home: Home) -> None:
    gemini = home.root / ".gemini"
    gemini.mkdir()
    doc = json.loads(
        (Path(__file__).parent / "fixtures" / "credentials" / "gemini.oauth_creds.json").read_text()
    )
    doc["expiry_date"] = int((time.time() + 30 * 86400) * 1000)
    (gemini / "oauth_creds.json").write_text(json.dumps(doc))
    (gemini / "oauth_creds.json").chmod(0o600)
    r, found = _imports(home, "wrap", "gemini")
    assert r.returncode == 0, r.stderr
    assert sorted(HEAVY & found) == []


@pytest.mark.parametrize(
    "args",
    [
        ("--help",),
        ("--version",),
        ("status", "--help"),
        ("status", "--json", "--bogus"),
        ("--check-only", "status", "--json"),
        ("--check-only", "--no-such-option"),
        ("--threshold",),
        ("--refresh-token", "--check-only"),
    ],
)
def test_help_subcommands_and_errors_still_go_to_click(home: Home, args: tuple[str, ...]) -> None:
    home.write_claude(time.time() + 30 * 86400)
    _, found = _imports(home, "wrap", *args)
    assert "click" in found


@pytest.mark.parametrize(
    "args",
    [
        ("status", "--json"),
        ("status", "--json", "--expiring"),
        ("--threshold", "40d", "status", "--expiring", "--json"),
    ],
)
def test_status_json_runs_without_click_and_says_what_click_says(
    home: Home, args: tuple[str, ...]
) -> None:
    home.write_claude(time.time() + 30 * 86400)
    fast, found = _imports(home, "wrap", *args)
    slow = subprocess.run(
        [str(BIN / "python"), "-c", CLICK_ONLY, *args],
        env=home.env(),
        capture_output=True,
        text=True,
        check=False,
    )
    assert "click" not in found
    assert fast.returncode == slow.returncode
    strip = [
        {k: v for k, v in o.items() if k != "expires_in_seconds"} for o in json.loads(slow.stdout)
    ]
    got = [
        {k: v for k, v in o.items() if k != "expires_in_seconds"} for o in json.loads(fast.stdout)
    ]
    assert got == strip
    assert len(fast.stdout.splitlines()) == 1  # a pipe gets one line


@pytest.mark.parametrize(
    ("args", "extra_env"),
    [
        (("status",), {}),
        (("status", "--wide"), {}),
        (("-q", "status", "--expiring"), {}),
        (("status",), {"FORCE_COLOR": "1"}),
    ],
)
def test_the_status_table_runs_without_click_and_prints_what_click_prints(
    home: Home, args: tuple[str, ...], extra_env: dict[str, str]
) -> None:
    home.write_claude(time.time() + 2 * 86400)  # expiring: a row for --expiring too
    fast, modules = _modules(home, home.root, "wrap", *args, **extra_env)
    found = {m.split(".")[0] for m in modules}
    slow = subprocess.run(
        [str(BIN / "python"), "-c", CLICK_ONLY, *args],
        env=home.env(**extra_env),
        capture_output=True,
        text=True,
        check=False,
    )
    assert "click" not in found
    assert (fast.returncode, fast.stdout) == (slow.returncode, slow.stdout)
    assert "claude" in fast.stdout.splitlines()[1], fast.stdout  # the header, then the row
    assert "\x1b[" in fast.stdout if extra_env else "\x1b" not in fast.stdout


def test_a_bad_option_gets_clicks_usage_error(home: Home) -> None:
    r = home.wrap("--check-only", "--no-such-option")
    assert r.returncode == 2
    assert r.stderr == "wrap: no such option '--no-such-option'; see 'wrap --help'\n"


def test_the_fast_path_knows_every_subcommand() -> None:
    # `wrap status` must never be launched as a program called status.
    assert set(cli.wrap.commands) == main.SUBCOMMANDS


def test_the_fast_path_knows_every_top_level_option_it_claims() -> None:
    declared = {
        opt: p.name for p in cli.wrap.params if isinstance(p, cli.click.Option) for opt in p.opts
    }
    for opt, name in {**main.VALUE_OPTIONS, **main.FLAGS}.items():
        assert declared[opt] == name, opt
    takes_value = {o for p in cli.wrap.params if not getattr(p, "is_flag", True) for o in p.opts}
    assert set(main.VALUE_OPTIONS) == takes_value


# Arguments in every plain form: the reader must hand the core what click hands it.
SAME_AS_CLICK = [
    ["claude"],
    ["claude", "--help", "-v"],
    ["--profile", "gemini", "gemini", "chat"],
    ["--profile=codex", "codex", "exec", "--", "x"],
    ["-q", "-v", "--strict", "--no-browser", "claude"],
    [
        "--credentials",
        "/tmp/x.json",
        "--threshold",
        "2h",
        "--token-url",
        "http://127.0.0.1:9/t",
        "p",
    ],
    ["--client-id", "abc", "--refresh-timeout", "3s", "--login-warning", "1d", "claude"],
    ["--", "status"],
    ["--", "--check-only"],
    ["--check-only"],
    ["--check-only", "--json"],
    ["--json", "--check-only", "--"],
    ["--check-only", "claude", "x"],
    ["-", "a"],
    ["--threshold=", "--check-only"],
]


@pytest.mark.parametrize("argv", SAME_AS_CLICK)
def test_the_fast_reader_reads_arguments_as_click_does(
    argv: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[tuple[dict[str, Any], str | None, list[str]]] = []

    def record(opts: Any, program: str | None, args: list[str], **_: Any) -> int:
        seen.append((dict(opts), program, list(args)))
        return 0

    monkeypatch.setattr(actions, "act", record)
    assert cli.main(list(argv)) == 0
    parsed = main.parse(argv)
    if parsed is not None:  # None: the reader declined, and click reads it (as above)
        assert parsed == seen[0]


@pytest.mark.parametrize(
    "argv",
    [
        [],
        ["--json"],
        ["status"],
        ["run", "claude"],
        ["-h"],
        ["--profile"],
        ["--profile", "--check-only"],
        ["--strict=1", "claude"],
        ["-qv", "claude"],
        ["--refresh-token", "claude"],
        ["--check-onl"],
    ],
)
def test_the_fast_reader_declines_what_only_click_can_answer(argv: list[str]) -> None:
    assert main.parse(argv) is None


def test_check_only_json_is_the_same_object_through_either_reader(home: Home) -> None:
    home.write_claude(time.time() + 3 * 86400)
    fast = home.wrap("--check-only", "--json")
    slow = subprocess.run(
        [str(BIN / "python"), "-c", CLICK_ONLY, "--check-only", "--json"],
        env=home.env(),
        capture_output=True,
        text=True,
        check=False,
    )
    assert (fast.returncode, slow.returncode) == (1, 1)
    a, b = json.loads(fast.stdout), json.loads(slow.stdout)
    a.pop("expires_in_seconds"), b.pop("expires_in_seconds")
    assert a == b
    assert a["state"] == "expiring"


def test_the_fast_path_fails_open_on_an_unreadable_config(home: Home) -> None:
    (home.root / "config" / "wrap").mkdir(parents=True)
    (home.root / "config" / "wrap" / "config.toml").write_text("threshold = [\n")
    home.write_claude(time.time() + 30 * 86400)
    r = home.wrap("claude", "hello")
    assert "Traceback" not in r.stderr
    assert r.returncode == 2  # a broken config is a usage error, said in one line
    assert len(r.stderr.strip().splitlines()) == 1, r.stderr


def _config(home: Home, text: str) -> Path:
    where = home.root / "config" / "wrap"
    where.mkdir(parents=True, exist_ok=True)
    (where / "config.toml").write_text(text)
    return where / "config.toml"


def test_a_config_file_is_parsed_once_and_read_back_after(home: Home) -> None:
    _config(home, 'threshold = "2d"\n[profiles.claude]\nstore = "file"\n')
    home.write_claude(time.time() + 3 * 86400)
    first, found_first = _imports(home, "wrap", "--check-only", "--json")
    second, found_second = _imports(home, "wrap", "--check-only", "--json")
    assert "tomllib" in found_first
    assert "tomllib" not in found_second
    for r in (first, second):
        assert r.returncode == 0, r.stderr
        assert json.loads(r.stdout)["threshold_seconds"] == 2 * 86400


def test_an_edited_config_is_never_answered_from_the_kept_copy(home: Home) -> None:
    path = _config(home, 'threshold = "2d"\n')
    home.write_claude(time.time() + 3 * 86400)
    assert home.wrap("--check-only").returncode == 0
    stat = path.stat()
    path.write_text('threshold = "9d"\n')  # same size, and the same mtime below
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    r = home.wrap("--check-only", "--json")
    assert r.returncode == 1, r.stdout  # expiring within 9 days
    assert json.loads(r.stdout)["threshold_seconds"] == 9 * 86400


def test_a_damaged_kept_copy_is_parsed_again(home: Home) -> None:
    _config(home, 'threshold = "2d"\n')
    home.write_claude(time.time() + 3 * 86400)
    assert home.wrap("--check-only").returncode == 0
    kept = list((home.root / "state" / "wrap" / "config").iterdir())
    assert len(kept) == 1
    assert oct(kept[0].stat().st_mode & 0o777) == "0o600"
    for damage in ("{not json", '{"sha256": "x", "table": {"threshold": "1s"}}', "[]"):
        kept[0].write_text(damage)
        r = home.wrap("--check-only", "--json")
        assert r.returncode == 0, r.stderr
        assert json.loads(r.stdout)["threshold_seconds"] == 2 * 86400


def test_a_bound_launch_imports_no_more_than_an_unbound_one(home: Home) -> None:
    """The binding ([profiles.claude.dirs]) is decided on the config already read: a launch
    in a bound directory imports exactly what a launch with a plain config does."""
    (home.root / "work").mkdir()
    work = home.root / ".claude-work"
    work.mkdir(mode=0o700)
    home.write_claude(time.time() + 30 * 86400)
    (work / ".credentials.json").write_bytes(home.creds.read_bytes())
    (work / ".credentials.json").chmod(0o600)
    _config(home, '[profiles.claude]\nstore = "file"\n')
    # The first launch parses the config; later ones read the kept copy.
    _modules(home, home.root, "wrap-claude")
    plain, unbound = _modules(home, home.root, "wrap-claude")
    _config(
        home,
        '[profiles.claude]\nstore = "file"\n[profiles.claude.accounts]\nwork = "~/.claude-work"\n'
        '[profiles.claude.dirs]\n"~/work" = "work"\n',
    )
    said, _ = _modules(home, home.root / "work", "wrap-claude", WRAP_LOG="debug")
    assert "account work" in said.stderr  # a launch there is a bound one
    r, bound = _modules(home, home.root / "work", "wrap-claude")
    for done in (plain, r):
        assert done.returncode == 0, done.stderr
    assert sorted(HEAVY & {m.split(".")[0] for m in bound}) == []
    assert sorted(bound - unbound) == []


# What pip 25 and uv write as a console script: no `import re` of its own (older pips import
# it), so what the launch itself imports shows.
PLAIN_WRAPPER = """#!{python}
import sys
from {module} import {function}
if __name__ == "__main__":
    if sys.argv[0].endswith("-script.pyw"):
        sys.argv[0] = sys.argv[0][:-11]
    elif sys.argv[0].endswith(".exe"):
        sys.argv[0] = sys.argv[0][:-4]
    sys.exit({function}())
"""
SCRIPTS = {"wrap-claude": ("launcher.gate", "main_claude"), "wrap": ("launcher.main", "entry")}


def _plain_modules(
    home: Home, script: str, *args: str, env: dict[str, str] | None = None
) -> set[str]:
    """Every module (full dotted names) SCRIPT, installed as pip 25 does, imports."""
    module, function = SCRIPTS[script]
    wrapper = home.root / f"plain-{script}"
    wrapper.write_text(
        PLAIN_WRAPPER.format(python=BIN / "python", module=module, function=function)
    )
    env = env or home.env()
    env["PATH"] = f"{_true_bin(home)}{os.pathsep}{env['PATH']}"
    r = subprocess.run(
        [str(BIN / "python"), "-X", "importtime", str(wrapper), *args],
        env=env,
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        check=False,
    )
    assert r.returncode == 0, r.stderr
    return {
        line.rsplit("|", 1)[-1].strip()
        for line in r.stderr.splitlines()
        if line.startswith("import time:") and "|" in line
    }


FRESH_LAUNCHES = [
    ("wrap-claude", ()),
    ("wrap-claude", ("--model", "x")),
    ("wrap", ("claude",)),
    ("wrap", ("--profile", "claude", "claude", "--model", "x")),
    ("wrap", ("--profile=claude", "-q", "--", "claude")),
    ("wrap", ("--threshold", "1d", "claude")),
    ("wrap", ("--check-only",)),
    ("wrap", ("--check-only", "--json")),
    ("wrap", ("--threshold", "1d", "--check-only", "--json")),
]


@pytest.mark.parametrize(("script", "args"), FRESH_LAUNCHES)
def test_a_fresh_launch_or_check_loads_no_module_of_wrap_but_the_gate_nor_re_nor_json(
    home: Home, script: str, args: tuple[str, ...]
) -> None:
    home.write_claude(time.time() + 30 * 86400)
    found = _plain_modules(home, script, *args)
    ours = {m for m in found if m.split(".")[0] == "launcher"}
    entry = {"launcher", "launcher.gate"} | ({"launcher.main"} if script == "wrap" else set())
    assert ours == entry
    assert {"re", "json", "json.decoder", "json.scanner"} & found == set()


def test_a_file_the_scanner_does_not_take_falls_back_to_json_loads(home: Home) -> None:
    # A byte order mark: json.loads reads it, the scanner does not; the launch is as fast as
    # json.loads then, and still alone.
    data = home.write_claude(time.time() + 30 * 86400)
    home.creds.write_bytes(b"\xef\xbb\xbf" + data)
    found = _plain_modules(home, "wrap-claude")
    assert "json.decoder" in found
    assert {m for m in found if m.split(".")[0] == "launcher"} == {"launcher", "launcher.gate"}


def test_a_token_that_is_not_fresh_loads_the_full_model(home: Home) -> None:
    home.write_claude(time.time() + 3600)
    found = _plain_modules(home, "wrap-claude", env=home.env(WRAP_TOKEN_URL="http://127.0.0.1:9/t"))
    assert "launcher.config" in found
