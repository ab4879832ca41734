"""launcher/refresh/pool.py: several refreshes at once, in order, one lock's files one by one."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from launcher import vendors
from launcher.refresh import pool


def test_results_come_in_the_items_order_whichever_finishes_first() -> None:
    # The first item finishes last: it waits until all the others are done.
    guard = threading.Lock()
    finished: list[int] = []
    rest_done = threading.Event()

    def work(n: int) -> int:
        if n == 0:
            assert rest_done.wait(30)
        with guard:
            finished.append(n)
            if len(finished) == 5:
                rest_done.set()
        return n * 10

    assert list(pool.in_order(work, list(range(6)), shared=lambda n: None)) == [
        0,
        10,
        20,
        30,
        40,
        50,
    ]
    assert finished[-1] == 0


def test_items_sharing_a_lock_run_one_after_another_and_others_meanwhile() -> None:
    # "a1" and "a2" share a lock, "b" does not: a1 is held until b has begun (so they overlap),
    # and gives a2 a moment to begin too, which it must not before a1 ends.
    log: list[str] = []
    guard = threading.Lock()
    b_began, a2_began = threading.Event(), threading.Event()

    def note(what: str) -> None:
        with guard:
            log.append(what)

    def work(item: str) -> str:
        note(f"{item} begins")
        if item == "a1":
            assert b_began.wait(30)
            a2_began.wait(0.5)  # a sibling run alongside would show up here
        elif item == "a2":
            a2_began.set()
        else:
            b_began.set()
        note(f"{item} ends")
        return item

    items = ["a1", "a2", "b"]
    assert list(pool.in_order(work, items, shared=lambda i: i[0] if i != "b" else None)) == items
    assert log.index("a2 begins") > log.index("a1 ends"), log


def test_an_exception_is_raised_in_its_turn_after_the_others_ran() -> None:
    done: list[int] = []

    def work(n: int) -> int:
        if n == 1:
            raise ValueError("one")
        done.append(n)
        return n

    results = pool.in_order(work, [0, 1, 2], shared=lambda n: None)
    assert next(results) == 0
    with pytest.raises(ValueError, match="one"):
        next(results)
    assert sorted(done) == [0, 2]


def test_files_of_one_folder_share_the_lock_of_a_cli_that_takes_one(tmp_path: Path) -> None:
    a, b = str(tmp_path / "a" / "one.json"), str(tmp_path / "a" / "two.json")
    other = str(tmp_path / "b" / "one.json")
    env = {"HOME": str(tmp_path)}
    for kind in ("qwen", "codex", "claude"):
        assert vendors.shared_lock(kind, a, env) == vendors.shared_lock(kind, b, env)
        assert vendors.shared_lock(kind, a, env) != vendors.shared_lock(kind, other, env)
    assert vendors.shared_lock(None, a, env) is None  # gemini: no lock, nothing kept apart
