"""The collector's pauses: a Prometheus cycle's decoding and the operator's keys share them."""

from __future__ import annotations

import gc

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
    collector.hold()  # keys
    with collector.paused():  # a cycle, ending while the keys still hold
        assert not gc.isenabled()
    assert not gc.isenabled()
    collector.release()
    assert gc.isenabled()
    collector.release()  # one too many (an app torn down twice): no effect
    with collector.paused():
        assert not gc.isenabled()
    assert gc.isenabled()
