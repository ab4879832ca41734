"""The installed CLI's version, read from the package files beside the program it resolves
to (never by running it): npm's layouts, codex's native platform package, Claude's native
installer; shown by `wrap status --json` and named in codex's User-Agent."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest
from conftest import Home
from test_vendor_request import codex_refresh

from launcher.vendors import claude, codex, installed


def _package(root: Path, name: str, version: str, program: str) -> Path:
    """An npm package: its package.json and the program file, made executable."""
    (root / "package.json").parent.mkdir(parents=True, exist_ok=True)
    (root / "package.json").write_text(json.dumps({"name": name, "version": version}))
    path = root / program
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("#!/bin/sh\nexit 0\n")
    path.chmod(0o755)
    return path


def _npm_global(prefix: Path, name: str, version: str, program: str, command: str) -> Path:
    """`npm install -g`: lib/node_modules/<name>/... and bin/<command> linking to it."""
    target = _package(prefix / "lib" / "node_modules" / name, name, version, program)
    link = prefix / "bin" / command
    link.parent.mkdir(parents=True, exist_ok=True)
    link.symlink_to(os.path.relpath(target, link.parent))
    return link


def test_npm_installs_are_read_through_the_link_on_path(tmp_path: Path) -> None:
    link = _npm_global(tmp_path, "@anthropic-ai/claude-code", "2.1.337", "bin/claude.exe", "claude")
    assert installed.cli_version(str(link)) == "2.1.337"
    link = _npm_global(tmp_path, "@openai/codex", "0.171.0", "bin/codex.js", "codex")
    assert installed.cli_version(str(link)) == "0.171.0"
    link = _npm_global(tmp_path, "@google/gemini-cli", "0.61.0", "dist/index.js", "gemini")
    assert installed.cli_version(str(link)) == "0.61.0"


def test_codexs_native_platform_package_drops_its_platform_suffix(tmp_path: Path) -> None:
    binary = _package(
        tmp_path / "codex-linux-x64",
        "@openai/codex",
        "0.171.0-linux-x64",
        "vendor/x86_64-unknown-linux-musl/bin/codex",
    )
    assert installed.cli_version(str(binary)) == "0.171.0"


def test_claudes_native_installer_names_the_file_by_its_version(tmp_path: Path) -> None:
    versions = tmp_path / ".local" / "share" / "claude" / "versions"
    versions.mkdir(parents=True)
    (versions / "2.1.340").write_text("")
    link = tmp_path / "claude"
    link.symlink_to(versions / "2.1.340")
    assert installed.cli_version(str(link)) == "2.1.340"


def test_unknown_when_nothing_beside_the_program_says(tmp_path: Path) -> None:
    lone = tmp_path / "bin" / "claude"
    lone.parent.mkdir()
    lone.write_text("")
    assert installed.cli_version(str(lone)) is None
    # Another package's metadata is not the CLI's version.
    other = _package(tmp_path / "other", "left-pad", "1.3.0", "bin/claude")
    assert installed.cli_version(str(other)) is None
    assert installed.cli_version(str(tmp_path / "missing")) is None
    (tmp_path / "bad" / "bin").mkdir(parents=True)
    (tmp_path / "bad" / "package.json").write_text("{not json")
    (tmp_path / "bad" / "bin" / "claude").write_text("")
    assert installed.cli_version(str(tmp_path / "bad" / "bin" / "claude")) is None


def test_each_vendor_module_names_its_newest_checked_version() -> None:
    assert installed.checked("claude") == claude.CHECKED == "2.1.337"
    assert installed.checked("codex") == codex.CHECKED == "0.171.0"
    assert installed.checked("nothing-such") is None


@pytest.mark.parametrize(
    ("version", "newer"),
    [("2.1.340", True), ("2.2.0", True), ("2.1.337", False), ("2.1.197", False), (None, False)],
)
def test_a_newer_cli_than_wraps_checks_is_said_once_in_a_line(
    version: str | None, newer: bool
) -> None:
    said = installed.newer_than_checked("claude", version)
    if not newer:
        assert said is None
        return
    assert said == (
        f"claude {version} is newer than wrap's checks (2.1.337): run scripts/check-vendors, "
        "or report it"
    )


def test_a_pre_release_sorts_below_its_release() -> None:
    assert installed.newer_than_checked("codex", "0.171.0-alpha.2") is None
    assert installed.newer_than_checked("codex", "0.172.0-alpha.1") is not None


def _status(home: Home) -> list[dict[str, object]]:
    r = home.wrap("status", "--json", env=home.env())
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)  # type: ignore[no-any-return]


def test_status_json_shows_the_installed_cli_version(home: Home) -> None:
    home.write_claude(time.time() + 86400 * 30)
    prefix = home.root / "npm"
    link = _npm_global(prefix, "@anthropic-ai/claude-code", "2.1.340", "bin/claude.exe", "claude")
    (home.bin / "claude").unlink()  # the suite's stand-in claude, which says no version
    (home.bin / "claude").symlink_to(link)
    [entry] = [e for e in _status(home) if e["profile"] == "claude"]
    assert entry["cli_version"] == "2.1.340"


def test_status_json_says_null_when_the_version_is_unknown(home: Home) -> None:
    home.write_claude(time.time() + 86400 * 30)
    [entry] = [e for e in _status(home) if e["profile"] == "claude"]
    assert "cli_version" in entry
    assert entry["cli_version"] is None


def _codex_refresh(home: Home) -> str:
    return codex_refresh(home)[1]["user-agent"]


def test_codexs_user_agent_names_the_installed_codex(home: Home) -> None:
    link = _npm_global(home.root / "npm", "@openai/codex", "0.172.3", "bin/codex.js", "codex")
    (home.bin / "codex").symlink_to(link)
    assert _codex_refresh(home).startswith("codex_exec/0.172.3 (")


def test_codexs_user_agent_names_the_checked_version_when_none_is_known(home: Home) -> None:
    assert _codex_refresh(home).startswith(f"codex_exec/{codex.CHECKED} (")
