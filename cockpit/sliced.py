"""Long work on the UI loop, a slice at a time, so a key never waits behind more than one slice.

At 16,000 GPUs drawing a state or building one is a few hundred milliseconds of Python on the
loop that also reads the keys. Written as a generator that yields where it may pause, the work
runs in slices of :data:`SLICE_S`, and between slices the loop takes whatever keys arrived. A
thread would not help: the work is pure Python and holds the GIL, and the app's state and
widgets belong to the loop. Small work (a demo cluster, a test's state) finishes in its first
slice, synchronously, exactly as if it were a plain call.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Generator
from typing import Generic, TypeVar

T = TypeVar("T")

SLICE_S = 0.008
"""Half a frame at 60 Hz: a key that arrives during a slice waits at most this long for it."""


class Sliced(Generic[T]):
    """Runs ``steps`` (a generator that yields where it may pause, and returns its result)."""

    def __init__(self, steps: Generator[None, None, T]) -> None:
        self._steps = steps
        self.done = False
        self.value: T | None = None
        self.spent = 0.0
        """Seconds spent in the slices so far (not the pauses between them)."""

    def run(self, budget: float | None = None) -> bool:
        """One slice of about ``budget`` seconds (:data:`SLICE_S`); True once the steps are done."""
        start = time.perf_counter()
        deadline = start + (SLICE_S if budget is None else budget)
        try:
            while True:
                next(self._steps)
                if time.perf_counter() >= deadline:
                    return False
        except StopIteration as stop:
            self.done = True
            self.value = stop.value
            return True
        finally:
            self.spent += time.perf_counter() - start

    async def finish(self, between: Callable[[], Awaitable[None]]) -> T:
        """The remaining slices, awaiting ``between`` before each."""
        while not self.done:
            await between()
            self.run()
        return self.value  # type: ignore[return-value]

    def close(self) -> None:
        """Give up on the rest (a newer state replaces this one)."""
        self._steps.close()
