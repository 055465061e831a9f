"""Run independent jobs on a thread pool (each job drives its own stage processes) and report each
as it finishes. Used by `invoke matrix` and `invoke batch`."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Callable, Sequence, TypeVar

T = TypeVar("T")
R = TypeVar("R")


def run_all(items: Sequence[T], work: Callable[[T], R], jobs: int,
            done: Callable[[int, T, R], None]) -> list[R]:
    """work(item) for every item, `jobs` at a time; done(n_finished, item, result) runs serialized.
    work must not raise for an expected failure: it returns it as its result. Anything it raises
    (proc.Interrupted above all) cancels the items not yet started and propagates."""
    lock = threading.Lock()
    finished = [0]

    def one(item: T) -> R:
        result = work(item)
        with lock:
            finished[0] += 1
            done(finished[0], item, result)
        return result

    pool = ThreadPoolExecutor(max_workers=max(1, jobs))
    try:
        return [f.result() for f in [pool.submit(one, item) for item in items]]
    finally:
        # on an interruption (or a bug) the queued items must not start: only the running ones end
        pool.shutdown(wait=True, cancel_futures=True)
