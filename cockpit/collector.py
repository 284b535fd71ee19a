"""When Python's cyclic collector runs: between a state's draw and the next key, never in a key.

At 2,000 nodes x 8 GPUs a cycle leaves 50,000-100,000 new objects alive (readings, rows, cells),
and the collector walks each once as young and once more when it promotes it: measured, ~50 ms a
young collection and up to 0.6 s a middle one, set off by whatever allocates next. That was most
often a key's handler (the first key after a pause: exactly when an operator notices), so the
cockpit takes the collector over while it runs: no collection is set off by allocation, and
:func:`collect_if_due` runs one where the loop is already busy or idle, after a state is drawn or
from a timer once the keys pause. The work is the same; only where it lands changes. Almost all of
it is work reference counting already did (readings, rows and JSON documents form no cycles), so
cyclic garbage is freed a little later and nothing else changes.

:func:`paused` and :func:`hold` nest (a Prometheus cycle's decoding holds the collector off too,
in tests and benchmarks that run no app); it is back on, if it was on, when the last one ends.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import gc
import time
from collections.abc import Callable, Iterator

YOUNG = 10_000
"""New objects (allocations less frees) past which a due collection runs."""
EVERY_S = 10.0
"""A due collection runs at least this often, whatever the count."""
FULL_EVERY_S = 600.0
"""A full collection (0.5 s at 16,000 GPUs) this often, at a moment the keys have paused."""
OVERDUE = 1_000_000
"""Past this many new objects a collection runs even while keys are pressed."""

_holds = 0
_was_enabled = False
_last = 0.0
_last_full = 0.0


def hold() -> None:
    """Keep automatic collection off until the matching :func:`release`."""
    global _holds, _was_enabled, _last_full
    if _holds == 0:
        _was_enabled = gc.isenabled()
        gc.disable()
        if _last_full == 0.0:
            _last_full = time.monotonic()  # the first full collection a period in, not at start
    _holds += 1


def release() -> None:
    global _holds
    if _holds == 0:
        return
    _holds -= 1
    if _holds == 0 and _was_enabled:
        gc.enable()


@contextlib.contextmanager
def paused() -> Iterator[None]:
    """Automatic collection off for a block (a cycle's decoding and mapping)."""
    hold()
    try:
        yield
    finally:
        release()


def collect_if_due(keys_paused: bool = True, now: float | None = None) -> int | None:
    """Collect now if enough is new: the young and middle generations, or all of them every
    :data:`FULL_EVERY_S`. Returns the generation collected, or None."""
    global _last, _last_full
    now = time.monotonic() if now is None else now
    young = gc.get_count()[0]
    if not keys_paused and young < OVERDUE:
        return None
    if young < YOUNG and now - _last < EVERY_S:
        return None
    generation = 2 if keys_paused and now - _last_full >= FULL_EVERY_S else 1
    gc.collect(generation)
    _last = now
    if generation == 2:
        _last_full = now
    if keys_paused and _trim is not None:
        _trim(0)
    return generation


def _malloc_trim() -> Callable[[int], int] | None:
    """glibc's ``malloc_trim``, or None (another C library). Freed memory stays with the process
    until the top of the heap is free; the JSON documents and readings of a cycle are freed in an
    order that seldom leaves it so, and the trim gives the free pages back (~10 MB at 16,000
    GPUs, measured, in about a millisecond)."""
    try:
        name = ctypes.util.find_library("c")
        return ctypes.CDLL(name).malloc_trim if name else None  # type: ignore[no-any-return]
    except (OSError, AttributeError):
        return None


_trim = _malloc_trim()
