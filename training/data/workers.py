"""`map_in_workers`: the pool of spawned worker processes that parses files for the
importers and for `antiphon prepare`."""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from typing import TypeVar

_Task = TypeVar("_Task")
_Result = TypeVar("_Result")


def map_in_workers(
    function: Callable[[_Task], _Result], tasks: Sequence[_Task], workers: int | None
) -> Iterator[_Result]:
    """`map(function, tasks)` in worker processes, results in task order.

    Workers are spawned, not forked: the caller may hold torch threads or open ports, which
    a fork would copy in an undefined state. `workers=1` runs in this process (debugging).
    """
    if workers is None:
        workers = os.cpu_count() or 1
    if workers < 1:
        raise ValueError(f"workers must be >= 1, got {workers}")
    if workers == 1 or len(tasks) <= 1:
        yield from map(function, tasks)
        return
    # chunks big enough to amortise the pickling, small enough to balance the load
    chunksize = max(1, min(32, len(tasks) // (workers * 16)))
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        yield from pool.map(function, tasks, chunksize=chunksize)
