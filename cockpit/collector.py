"""When Python's cyclic collector may run: not while a Prometheus answer is decoded, not while keys
are being pressed.

At 2,000 nodes x 8 GPUs a cycle leaves ~100,000 new objects alive (readings, rows, cells), and the
collector walks each of them once as young and once more when it promotes them: measured, ~45 ms a
young collection and up to 0.6 s a middle one, set off by whatever allocates next, a key's handler
as likely as anything. Almost all of it is work reference counting already does (readings, rows and
JSON documents form no cycles), so pausing the collector loses nothing but when cyclic garbage is
freed: the pauses nest, and the collector comes back on (if it was on) when the last one ends.
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator

_holds = 0
_was_enabled = False


def hold() -> None:
    """Keep the collector off until the matching :func:`release`."""
    global _holds, _was_enabled
    if _holds == 0:
        _was_enabled = gc.isenabled()
        gc.disable()
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
    """The collector off for a block (a cycle's decoding and mapping), nesting with other holds."""
    hold()
    try:
        yield
    finally:
        release()
