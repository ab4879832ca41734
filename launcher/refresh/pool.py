"""Refreshing several accounts at once (`wrap refresh --all`, a keepalive pass), bounded.

Each account is one request to its own endpoint, often another vendor's: waiting for one before
the next only adds up the waits. Accounts whose CLI lock is shared (the files of one Qwen Code
or Codex folder, Claude's config dir) run one after another in one worker, so that none of them
spends its lock timeout waiting for a sibling.

Only the main thread can hold signals back (refresh/deferral.py), and the workers' requests are
out while it waits for them: the pool runs inside signals_deferred(), so a SIGTERM, SIGHUP or
Ctrl-C meanwhile takes effect once every answer is written back, never with a rotated token in
the air. NOTED, if given, is called at once when one arrives (keepalive's stop request, which
makes the workers abandon their waits: nothing is sent after it).
"""

from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor
from typing import TYPE_CHECKING, TypeVar

from launcher.refresh.deferral import signals_deferred

if TYPE_CHECKING:
    from collections.abc import Callable, Hashable, Iterator, Sequence

T = TypeVar("T")
R = TypeVar("R")

# How many accounts are refreshed at once.
WORKERS = 4


def in_order(
    work: Callable[[T], R],
    items: Sequence[T],
    *,
    shared: Callable[[T], Hashable | None],
    workers: int = WORKERS,
    noted: Callable[[], None] | None = None,
) -> Iterator[R]:
    """WORK(item) for each of ITEMS, up to WORKERS at once; the results in the items' order,
    each as soon as it and those before it are done. Items with the same SHARED key (not None)
    run one after another, in their order. An exception from WORK is raised in its turn."""
    if len(items) <= 1 or workers <= 1:
        for item in items:
            yield work(item)
        return
    futures: list[Future[R]] = [Future() for _ in items]
    chains: list[list[int]] = []
    by_key: dict[Hashable, list[int]] = {}
    for i, item in enumerate(items):
        key = shared(item)
        if key is None:
            chains.append([i])
        elif key in by_key:
            by_key[key].append(i)
        else:
            by_key[key] = [i]
            chains.append(by_key[key])

    def run(chain: list[int]) -> None:
        for i in chain:
            try:
                futures[i].set_result(work(items[i]))
            except BaseException as e:  # keepalive's Stopped too: raised in its turn
                futures[i].set_exception(e)

    with (
        signals_deferred(noted),
        ThreadPoolExecutor(max_workers=min(workers, len(chains))) as pool,
    ):
        for chain in chains:
            pool.submit(run, chain)
        for future in futures:
            yield future.result()
