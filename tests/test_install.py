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


def _imported_distributions() -> set[str]:
    """The distributions whose modules launcher/ imports anywhere (lazily included)."""
    import ast
    import importlib.metadata
    import sys

    modules = set()
    for path in (ROOT / "launcher").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                modules |= {a.name.split(".")[0] for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                modules.add(node.module.split(".")[0])
    third = modules - set(sys.stdlib_module_names) - {"launcher", "__future__"}
    owners = importlib.metadata.packages_distributions()
    return {_norm(owners[m][0]) for m in third}


def _norm(name: str) -> str:
    return name.lower().replace("_", "-").replace(".", "-")


def test_every_import_is_declared_and_every_dependency_imported() -> None:
    import re

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    declared = {_norm(re.match(r"[A-Za-z0-9._-]+", d).group()): d for d in project["dependencies"]}
    optional = {
        _norm(re.match(r"[A-Za-z0-9._-]+", d).group())
        for d in project["optional-dependencies"]["fleet"]
    }
    imported = _imported_distributions()
    assert imported - set(declared) - optional == set(), "imported, never declared"
    assert set(declared) - imported == set(), "declared, never imported"
    # The keyring library serves macOS only; Linux reads the Secret Service directly.
    assert "sys_platform == 'darwin'" in declared["keyring"]
    assert "python-dateutil" not in declared
