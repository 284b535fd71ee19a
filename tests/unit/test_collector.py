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
    thresholds = gc.get_threshold()
    collector.hold()  # the app: young collections only
    assert gc.isenabled() and gc.get_threshold() == (collector.YOUNG, collector._NEVER, collector._NEVER)
    with collector.paused():  # a cycle, ending while the app still holds
        assert not gc.isenabled()
    assert gc.isenabled() and gc.get_threshold()[0] == collector.YOUNG
    collector.release()
    assert gc.isenabled() and gc.get_threshold() == thresholds
    collector.release()  # one too many (an app torn down twice): no effect
    with collector.paused():
        assert not gc.isenabled()
    assert gc.isenabled() and gc.get_threshold() == thresholds


def _cycles(count: int) -> None:
    """``count`` lists that only the collector can free."""
    for _ in range(count):
        pair: list[object] = []
        pair.append(pair)


def test_young_cycles_are_freed_as_they_come_and_older_collections_wait_for_the_keys() -> None:
    """While held, allocation sets off young collections only (Textual leaves a cycle per line
    drawn: they must not pile up while keys are pressed); :func:`collect_if_due` runs the middle
    one once enough young ones ran and the keys have paused, or when far too many ran, and the full
    one every ten minutes."""
    collector.hold()
    try:
        gc.collect()
        now = time.monotonic() + 2 * collector.FULL_EVERY_S  # later than any earlier collection
        assert collector.collect_if_due(True, now) == 2  # the first: nothing collected fully yet
        _cycles(collector.YOUNG * (collector.MIDDLE_AFTER + 5))
        young, since_middle, _ = gc.get_count()
        assert young < collector.YOUNG, "young collections ran as the cycles came"
        assert since_middle >= collector.MIDDLE_AFTER, "and no middle one"
        assert collector.collect_if_due(False, now + 1) is None, "collected while keys were pressed"
        assert collector.collect_if_due(True, now + 1) == 1
        assert gc.get_count()[1] == 0
        assert collector.collect_if_due(True, now + 2) is None, "nothing new: nothing to do"
        assert collector.collect_if_due(True, now + 2 + collector.EVERY_S) == 1, "at least every EVERY_S"
        assert collector.collect_if_due(True, now + collector.FULL_EVERY_S) == 2
    finally:
        collector.release()
    assert gc.isenabled()


def test_a_young_collection_frees_the_cycles_of_textual_strips() -> None:
    """The reason young collections run while held: a strip divided where it ends caches itself."""
    from rich.segment import Segment
    from textual.strip import Strip

    def alive() -> bool:
        return any(type(o) is Strip and o.text == marker for o in gc.get_objects())

    marker = f"strip-cycle-{time.monotonic_ns()}"
    collector.hold()
    try:
        with collector.paused():  # no collection may run before the first look
            strip = Strip([Segment(marker)], len(marker))
            assert strip.divide([len(marker)]) == [strip]  # cached in its own cache: a cycle
            del strip
            assert alive(), "reference counting alone does not free it"
        _cycles(collector.YOUNG + 1)
        assert not alive(), "a young collection set off by allocation freed it"
    finally:
        collector.release()


def test_a_collection_once_the_keys_pause_gives_freed_memory_back(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    trims: list[int] = []
    monkeypatch.setattr(collector, "_trim", trims.append)
    collector.hold()
    try:
        now = time.monotonic() + 4 * collector.FULL_EVERY_S
        assert collector.collect_if_due(True, now) is not None
        assert trims == [0]
        _cycles(collector.YOUNG * (collector.OVERDUE + 10))  # far too much new: collected during keys
        assert collector.collect_if_due(False, now + 1) == 1, gc.get_count()
        assert trims == [0], "not while keys are pressed"
    finally:
        collector.release()


def test_the_trim_is_glibcs_here() -> None:
    assert collector._trim is not None and collector._trim(0) in (0, 1)


def test_promote_moves_a_burst_to_the_oldest_generation_unwalked() -> None:
    """After a full Prometheus read the next young collection would walk ~500,000 new objects."""
    with collector.paused():
        burst = [[i] for i in range(20_000)]
        young = {id(o) for o in gc.get_objects(generation=0)}
        assert id(burst[-1]) in young
        collector.promote()
        assert not any(id(o) == id(burst[-1]) for o in gc.get_objects(generation=0))
        assert any(o is burst[-1] for o in gc.get_objects(generation=2))
    assert gc.isenabled()
