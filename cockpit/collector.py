"""When Python's cyclic collector runs: young collections as they fall due (a few milliseconds
each), the larger ones between a state's draw and the next key, never in a key.

At 2,000 nodes x 8 GPUs a cycle leaves 50,000-100,000 new objects alive (readings, rows, cells).
Python's collector walks each once as young and once more when it promotes it: a middle
collection of a cycle's survivors is 50-150 ms, set off by whatever allocates next, most often a
key's handler (the first key after a pause: exactly when an operator notices). So while the
cockpit runs (:func:`hold`) only young collections are set off by allocation, and
:func:`collect_if_due` runs the middle and full ones where the loop is already busy or idle: after
a state is drawn, or from a timer once the keys pause.

Young collections must keep running, though: Textual's ``Strip`` can keep itself in its own
caches (``divide`` at its own end returns and caches ``[self]``, as the compositor does for a
widget's lines), so lines drawn leave small cycles for the collector. With all collection held
off while keys were pressed, ten filter keystrokes at 16,000 rows left 30,000-150,000 of them,
and the collection that finally ran blocked the loop for up to 0.9 s. Collected young, each costs
a millisecond or two.

:func:`paused` turns the collector off entirely for a block (a Prometheus cycle's decoding: ~300,000
containers that reference counting alone frees); holds and pauses nest, and what was there before
is back when the last one ends.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import gc
import threading
import time
from collections.abc import Callable, Iterator

YOUNG = 5_000
"""Net new objects that set off a young collection while held (Python's default is 700: a
collection every few hundred rows built)."""
_NEVER = 1 << 30
"""A threshold no count reaches: the older generations are collected only by :func:`collect_if_due`."""
MIDDLE_AFTER = 10
"""Young collections since the last middle one that make a middle one due (as Python's default)."""
EVERY_S = 10.0
"""A due collection runs at least this often, whatever the count."""
FULL_EVERY_S = 600.0
"""A full collection (0.5 s at 16,000 GPUs) this often, at a moment the keys have paused."""
OVERDUE = 200
"""Past this many young collections (~1 million survivors) a middle one runs even while keys are pressed."""

_holds = 0
_pauses = 0
_before: tuple[bool, tuple[int, int, int]] | None = None
"""Whether the collector was on, and its thresholds, before the first hold or pause."""
_last = 0.0
_last_full = 0.0
_lock = threading.Lock()
"""Holds and pauses come from the loop and from worker threads (a cycle's mapping)."""


def _apply() -> None:
    """The collector as the holds and pauses want it (or as it was, when none is left)."""
    global _before
    if _holds == 0 and _pauses == 0:
        if _before is not None:
            enabled, thresholds = _before
            gc.set_threshold(*thresholds)
            (gc.enable if enabled else gc.disable)()
            _before = None
        return
    if _before is None:
        _before = (gc.isenabled(), gc.get_threshold())
    if _pauses or not _before[0]:
        gc.disable()
    else:
        gc.set_threshold(YOUNG, _NEVER, _NEVER)
        gc.enable()


def hold() -> None:
    """Only young collections by allocation until the matching :func:`release`."""
    global _holds, _last_full
    with _lock:
        if _holds == 0 and _last_full == 0.0:
            _last_full = time.monotonic()  # the first full collection a period in, not at start
        _holds += 1
        _apply()


def release() -> None:
    global _holds
    with _lock:
        if _holds == 0:
            return
        _holds -= 1
        _apply()


@contextlib.contextmanager
def paused() -> Iterator[None]:
    """No collection at all by allocation for a block (a cycle's decoding and mapping)."""
    global _pauses
    with _lock:
        _pauses += 1
        _apply()
    try:
        yield
    finally:
        with _lock:
            _pauses -= 1
            _apply()


def promote() -> None:
    """Move every object the collector tracks to the oldest generation, without walking them.

    For after a burst that leaves hundreds of thousands of new objects alive (a full Prometheus
    read at 16,000 GPUs: ~500,000): the next young collection, set off by whatever allocates
    next (a key), would walk them all (0.5 s). The full collection walks them anyway, at a moment
    the keys have paused; cycles among them are freed then, a few minutes later than otherwise.
    """
    gc.freeze()
    gc.unfreeze()


def collect_if_due(keys_paused: bool = True, now: float | None = None) -> int | None:
    """Collect the older generations if due: the middle one after :data:`MIDDLE_AFTER` young
    collections or every :data:`EVERY_S`, and all of them every :data:`FULL_EVERY_S`. Returns the
    generation collected, or None."""
    global _last, _last_full
    now = time.monotonic() if now is None else now
    young, since_middle, _ = gc.get_count()
    if not keys_paused and since_middle < OVERDUE:
        return None
    if since_middle < MIDDLE_AFTER and young < YOUNG and now - _last < EVERY_S:
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
