"""Work on the UI loop in slices (cockpit/sliced.py): a generator run a slice at a time, its
result, and the time spent in it."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Generator

from cockpit import sliced
from cockpit.sliced import Sliced


def _steps(count: int, step_s: float = 0.0, done: list[int] | None = None) -> Generator[None, None, int]:
    total = 0
    for i in range(count):
        if step_s:
            end = time.perf_counter() + step_s
            while time.perf_counter() < end:
                pass
        total += i
        if done is not None:
            done.append(i)
        yield
    return total


def test_small_work_finishes_in_its_first_slice_with_its_result() -> None:
    work = Sliced(_steps(10))
    assert work.run() is True
    assert work.done and work.value == sum(range(10))
    assert 0 <= work.spent < 0.5


def test_long_work_stops_at_the_budget_and_goes_on_where_it_stopped() -> None:
    done: list[int] = []
    work = Sliced(_steps(40, step_s=0.002, done=done))
    assert work.run(budget=0.01) is False
    first = len(done)
    assert 3 <= first < 40, "stopped near the budget, not at the end"
    runs = 1
    while not work.run(budget=0.01):
        runs += 1
    assert done == list(range(40)), "every step once, in order"
    assert runs >= 4 and work.value == sum(range(40))
    assert work.spent >= 40 * 0.002


def test_finish_awaits_between_slices_and_close_stops_the_rest(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(sliced, "SLICE_S", 0.0)  # every step its own slice
    pauses: list[int] = []

    async def between() -> None:
        pauses.append(1)
        await asyncio.sleep(0)

    work = Sliced(_steps(5))
    assert work.run() is False
    assert asyncio.run(work.finish(between)) == sum(range(5))
    assert len(pauses) >= 4

    done: list[int] = []
    stopped = Sliced(_steps(5, done=done))
    stopped.run()
    stopped.close()
    assert not stopped.done and done == [0]
