"""Progress lines on stderr for long sweeps (at most one every ``every`` seconds)."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterable, Iterator
from typing import TypeVar

T = TypeVar("T")


def progress(items: Iterable[T], desc: str, *, total: int | None = None, every: float = 2.0) -> Iterator[T]:
    """Yield ``items``, printing ``desc: i/total (elapsed)`` to stderr at most every ``every`` seconds."""
    if total is None and hasattr(items, "__len__"):
        total = len(items)  # type: ignore[arg-type]
    t0 = last = time.perf_counter()
    i = 0
    for i, item in enumerate(items, start=1):
        yield item
        now = time.perf_counter()
        if now - last >= every:
            print(f"  {desc}: {i}/{total if total is not None else '?'} ({now - t0:.0f} s)", file=sys.stderr,
                  flush=True)
            last = now
