#!/usr/bin/env python3
"""Check that a built wheel holds every module of the source tree and both console scripts.

Usage: python scripts/check_wheel.py WHEEL. Exits 1 naming what is missing (a subpackage that
packaging left out installs fine and fails only when a user reaches it: `wrap login`).
"""

from __future__ import annotations

import configparser
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCRIPTS = {"wrap", "wrap-claude"}


def source_modules(package: Path) -> set[str]:
    return {
        p.relative_to(package.parent).as_posix()
        for p in package.rglob("*.py")
        if "__pycache__" not in p.parts
    }


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print(__doc__.strip().splitlines()[2], file=sys.stderr)
        return 2
    with zipfile.ZipFile(argv[0]) as wheel:
        names = set(wheel.namelist())
        entry_points = next((n for n in names if n.endswith(".dist-info/entry_points.txt")), None)
        scripts: set[str] = set()
        if entry_points is not None:
            parser = configparser.ConfigParser()
            parser.read_string(wheel.read(entry_points).decode())
            if parser.has_section("console_scripts"):
                scripts = set(parser["console_scripts"])
    modules = source_modules(ROOT / "launcher")
    missing = sorted(modules - names)
    problems = [f"module missing from the wheel: {m}" for m in missing]
    problems += [f"console script missing: {s}" for s in sorted(SCRIPTS - scripts)]
    for line in problems:
        print(f"check_wheel: {line}", file=sys.stderr)
    if not problems:
        print(f"check_wheel: {Path(argv[0]).name} holds all {len(modules)} modules")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
