"""What users install: the console scripts and every module (scripts/test-wheel runs this file
against the wheel installed in a venv of its own, through conftest.BIN)."""

from __future__ import annotations

import subprocess
import tomllib

from conftest import BIN, ROOT, Home


def _modules() -> list[str]:
    package = ROOT / "launcher"
    names = []
    for path in sorted(package.rglob("*.py")):
        if "__pycache__" in path.parts:
            continue
        parts = path.relative_to(ROOT).with_suffix("").parts
        names.append(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return names


def test_every_module_of_the_source_tree_imports_in_the_installed_package() -> None:
    modules = _modules()
    assert "launcher.login.browser" in modules
    code = "import importlib, sys\nfor m in sys.argv[1:]: importlib.import_module(m)\nprint('ok')"
    r = subprocess.run(
        [str(BIN / "python"), "-I", "-c", code, *modules],
        capture_output=True,
        text=True,
        check=False,
    )
    assert r.returncode == 0, r.stderr
    assert r.stdout == "ok\n"


def test_version_prints_the_installed_version_without_loading_httpx(home: Home) -> None:
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    r = subprocess.run(
        [str(BIN / "python"), "-I", "-X", "importtime", str(BIN / "wrap"), "--version"],
        env=home.env(),
        capture_output=True,
        text=True,
        check=False,
    )
    assert r.returncode == 0, r.stderr
    assert r.stdout == f"wrap {version}\n"
    imported = {line.split("|")[-1].strip() for line in r.stderr.splitlines()}
    assert "launcher.cli" in imported
    assert "httpx" not in imported


def test_login_without_a_terminal_says_so_in_one_line(home: Home) -> None:
    # Before packages were discovered, the wheel had no launcher/login: an ImportError here.
    r = home.wrap("login")
    assert r.returncode != 0
    assert "Traceback" not in r.stderr
    assert len(r.stderr.splitlines()) == 1, r.stderr
    assert "terminal" in r.stderr
