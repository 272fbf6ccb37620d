"""Memory bounds measured where nothing else counts: tracemalloc in a fresh interpreter.

tracemalloc counts every thread's allocations and whatever garbage the collector has not yet
freed, so a bound measured inside the test process depends on which tests ran before (a
library's leftover thread, a cycle waiting for collection): a report-streaming bound failed
once in a long run (6.05 MB against 2.46 MB) and passed alone. ``traced_peak`` runs the
measured call in a spawned child instead, after a collection, with nothing else running.
"""

from __future__ import annotations

import gc
import multiprocessing
import tracemalloc
from collections.abc import Callable
from typing import TypeVar

__all__ = ["Measured", "traced_peak"]

T = TypeVar("T")
# What a prepare function returns: the call to measure. Built in the child, so it need not
# pickle; the prepare function itself must be a module-level function (spawn imports it).
Measured = Callable[[], T]


def _measure(prepare: Callable[..., Measured[T]], args: tuple[object, ...]) -> tuple[int, int, T]:
    call = prepare(*args)  # setup outside the traced window
    gc.collect()
    tracemalloc.start()
    try:
        value = call()
        retained, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return retained, peak, value


def traced_peak(prepare: Callable[..., Measured[T]], *args: object) -> tuple[int, int, T]:
    """``(retained, peak, value)`` in bytes of the call ``prepare(*args)`` returns, traced in a
    fresh spawned interpreter; ``value`` is what the call returned (it must pickle)."""
    context = multiprocessing.get_context("spawn")
    with context.Pool(1) as pool:
        return pool.apply(_measure, (prepare, args))
