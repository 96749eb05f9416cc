"""Wall-clock timing: warm-up, then the median (and best) of repeated runs with :func:`time.perf_counter`."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

__all__ = ["Timing", "measure"]


@dataclass(frozen=True)
class Timing:
    """Timings of one measured call.

    Attributes
    ----------
    median, best : float
        Median and minimum wall time over the repeats, in seconds.
    times : tuple of float
        Every repeat's wall time.
    result : Any
        What the last repeat returned (used to check the comparators against the engine).
    """

    median: float
    best: float
    times: tuple[float, ...]
    result: Any


def measure(fn: Callable[[], Any], *, repeats: int = 3, warmup: Callable[[], Any] | None = None,
            sync: Callable[[], None] | None = None) -> Timing:
    """Time ``fn()``: one warm-up call (``warmup`` or ``fn`` itself), then ``repeats`` timed calls.

    Parameters
    ----------
    fn : callable
        The measured work; its return value of the last repeat is kept.
    repeats : int
        Number of timed calls, ``repeats >= 1``.
    warmup : callable, optional
        A cheaper call that exercises the same code (JIT, allocator, BLAS threads); ``fn`` when omitted.
    sync : callable, optional
        Waits for asynchronous devices (CUDA) before each clock read.

    Notes
    -----
    ``time.perf_counter`` around each call; the device is synchronized before the start and the stop reads.
    """
    if not isinstance(repeats, int) or repeats < 1:
        raise ValueError(f"repeats must be an integer >= 1; got {repeats!r}")
    sync = sync or (lambda: None)
    (warmup or fn)()
    sync()
    times = []
    result = None
    for _ in range(repeats):
        sync()
        t0 = time.perf_counter()
        result = fn()
        sync()
        times.append(time.perf_counter() - t0)
    return Timing(median=statistics.median(times), best=min(times), times=tuple(times), result=result)
