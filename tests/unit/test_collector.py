"""The collector's pauses and its schedule: a Prometheus cycle's decoding and the cockpit's keys
share them."""

from __future__ import annotations

import gc
import time

from cockpit import collector


def test_the_collector_pause_nests_and_restores_what_was_there() -> None:
    assert gc.isenabled()
    with collector.paused():
        with collector.paused():
            assert not gc.isenabled()
        assert not gc.isenabled()
    assert gc.isenabled()
    gc.disable()
    try:
        with collector.paused():
            pass
        assert not gc.isenabled()  # it was off before: it stays off
    finally:
        gc.enable()


def test_a_hold_and_a_pause_overlap_and_an_unmatched_release_is_ignored() -> None:
    assert gc.isenabled()
    collector.hold()  # the app
    with collector.paused():  # a cycle, ending while the app still holds
        assert not gc.isenabled()
    assert not gc.isenabled()
    collector.release()
    assert gc.isenabled()
    collector.release()  # one too many (an app torn down twice): no effect
    with collector.paused():
        assert not gc.isenabled()
    assert gc.isenabled()


def test_a_due_collection_waits_for_the_keys_and_frees_cycles() -> None:
    """Nothing is collected by allocation while held; :func:`collect_if_due` collects once enough
    is new and the keys have paused, or when far too much is new, and fully every ten minutes."""
    collector.hold()
    try:
        gc.collect()
        now = time.monotonic() + 2 * collector.FULL_EVERY_S  # later than any earlier collection
        assert collector.collect_if_due(True, now) == 2  # the first: nothing collected fully yet
        cycles = []
        for _ in range(collector.YOUNG + 1):
            pair: list[object] = []
            pair.append(pair)  # a cycle: only the collector frees it
            cycles.append(pair)
        del cycles, pair
        assert gc.get_count()[0] > collector.YOUNG, "allocation set off no collection"
        assert collector.collect_if_due(False, now + 1) is None, "collected while keys were pressed"
        assert collector.collect_if_due(True, now + 1) == 1
        assert gc.get_count()[0] < 100
        assert collector.collect_if_due(True, now + 2) is None, "nothing new: nothing to do"
        assert collector.collect_if_due(True, now + 2 + collector.EVERY_S) == 1, "at least every EVERY_S"
        assert collector.collect_if_due(True, now + collector.FULL_EVERY_S) == 2
    finally:
        collector.release()
    assert gc.isenabled()


def test_a_collection_once_the_keys_pause_gives_freed_memory_back(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    trims: list[int] = []
    monkeypatch.setattr(collector, "_trim", trims.append)
    collector.hold()
    try:
        now = time.monotonic() + 4 * collector.FULL_EVERY_S
        assert collector.collect_if_due(True, now) is not None
        assert trims == [0]
        kept = [[] for _ in range(collector.OVERDUE + 1)]  # far too much new: collected during keys
        assert collector.collect_if_due(False, now + 1) == 1
        assert trims == [0], "not while keys are pressed"
        del kept
    finally:
        collector.release()


def test_the_trim_is_glibcs_here() -> None:
    assert collector._trim is not None and collector._trim(0) in (0, 1)
