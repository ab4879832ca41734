"""The mutation check cannot rot: every fault of scripts/mutant_list.py still applies, its
original occurring exactly once in its file (seconds, on every run; the full check is
scripts/mutants)."""

from __future__ import annotations

import sys

from conftest import ROOT

sys.path.insert(0, str(ROOT / "scripts"))
import mutant_list


def test_every_mutant_entry_applies_exactly_once() -> None:
    assert mutant_list.stale(ROOT) == []


def test_every_mutant_names_test_files_that_exist() -> None:
    named = {t.split("::")[0] for m in mutant_list.MUTANTS for t in m.tests}
    missing = {t for t in named if not (ROOT / t).is_file()}
    assert missing == set()


def test_a_stale_entry_is_reported_with_the_others() -> None:
    gone = mutant_list.Mutant("launcher/policy.py", "no such text", "x", "why", ())
    twice = mutant_list.Mutant("launcher/refresh/flight.py", "return", "x", "twice", ())
    assert len(mutant_list.stale(ROOT, [gone, twice, *mutant_list.MUTANTS])) == 2
