"""Garbage collection for a serving process: freeze what startup built, collect less often.

CPython's cyclic collector runs generation 0 every 700 net allocations of
container objects and, from time to time, a full collection that walks every
tracked object. A started ``autoroute serve`` holds about 110,000 of them
(modules, classes, pydantic schemas, the app): each full collection took
65-104 ms with the event loop stopped, and the three generations together
about 90 µs per request (``gc.callbacks`` timings under ``wrk -c32`` then
``-c1``, 12 s, ~5,500 requests; ``BENCHMARKS.md``).

:func:`frozen_gc` moves everything alive at the end of startup into the
permanent generation (``gc.freeze``), which collections skip, leaving about
6,000 objects to walk, and raises the generation-0 threshold to 7,000. Under
the same load that made 6 collections of 2.5 ms (7 ms at most) instead of
~540, about 19 ms in all instead of ~490 ms. Memory is still freed by
reference counting as before; only reference cycles wait longer.

``autoroute serve`` turns this on (``AUTOROUTE_GC_FREEZE``, see
:mod:`service.cli`); an app built by a test or embedded elsewhere leaves the
process's collector alone unless asked.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager

GEN0_THRESHOLD = 7_000


@contextmanager
def frozen_gc(gen0_threshold: int = GEN0_THRESHOLD) -> Iterator[None]:
    """Freeze the objects alive now and raise the gen-0 threshold; undo both on exit."""
    before = gc.get_threshold()
    gc.collect()  # what is garbage now is not frozen with the rest
    gc.freeze()
    gc.set_threshold(gen0_threshold, *before[1:])
    try:
        yield
    finally:
        gc.set_threshold(*before)
        gc.unfreeze()
