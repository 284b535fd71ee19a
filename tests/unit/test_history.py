"""The history ring: what a state's sparklines and node detail read, bounded in 2 bytes a cycle."""

from __future__ import annotations

import sys

from cockpit.state import History, HistoryView, Ring


def test_points_come_back_in_order_with_gaps_and_none_kept_apart() -> None:
    ring = Ring(5)
    ring.add(1, 71.3)
    ring.add(2, None)
    ring.add(4, 552.7)  # the node did not answer in cycle 3
    assert list(ring) == [(1, 71.3), (2, None), (4, 552.7)]
    assert len(ring) == 3 and ring[-1] == (4, 552.7) and ring[-2] == (2, None) and ring[0] == (1, 71.3)


def test_the_ring_keeps_the_last_capacity_cycles() -> None:
    ring = Ring(4)
    for seq in range(1, 11):
        ring.add(seq, float(seq))
    assert list(ring) == [(7, 7.0), (8, 8.0), (9, 9.0), (10, 10.0)] and len(ring) == 4
    ring.add(12, 12.0)
    assert list(ring) == [(9, 9.0), (10, 10.0), (12, 12.0)] and len(ring) == 3
    ring.add(100, 1.0)  # a node back after a long outage: nothing older is inside the window
    assert list(ring) == [(100, 1.0)] and len(ring) == 1
    ring.add(98, 2.0)  # late, but inside the window
    ring.add(50, 3.0)  # older than anything kept: dropped
    assert list(ring) == [(98, 2.0), (100, 1.0)] and len(ring) == 2


def test_a_view_shows_only_points_up_to_its_cycle() -> None:
    history = History(10)
    for seq in range(1, 6):
        history.add(("n", 0, "temp"), seq, 60.0 + seq)
    view = HistoryView(history, 3)
    assert view.values("n", 0, "temp") == [61.0, 62.0, 63.0]
    assert view.points("n", 0, "temp")[-1] == (3, 63.0)
    assert view.values("n", 0, "temp", last=2) == [62.0, 63.0]
    assert view.values("other") == []


def test_a_full_ring_costs_two_bytes_a_cycle_and_one_while_its_values_are_whole() -> None:
    ring, whole = Ring(451), Ring(451)
    for seq in range(1000):
        ring.add(seq, 42.5)
        whole.add(seq, float(seq % 254) if seq % 10 else None)
    assert sys.getsizeof(ring.values) < 451 * 2 + 100
    assert sys.getsizeof(whole.values) < 451 + 100
    assert whole[-1] == (999, 237.0) and whole[-10] == (990, None) and len(whole) == 451


def test_a_whole_ring_widens_to_tenths_then_to_float32_keeping_its_points() -> None:
    ring = Ring(5)
    for seq, value in enumerate([0.0, 253.0, None, 7.0]):
        ring.add(seq, value)
    assert sys.getsizeof(ring.values) < 5 + 100
    ring.add(4, 12.34)
    assert list(ring) == [(0, 0.0), (1, 253.0), (2, None), (3, 7.0), (4, 12.3)]
    ring.add(5, 254.0)  # past a byte, still tenths
    ring.add(6, -1.5)
    assert list(ring) == [(2, None), (3, 7.0), (4, 12.3), (5, 254.0), (6, -1.5)]
    other = Ring(3)
    other.add(0, 3.0)
    other.add(1, 70000.0)  # a byte straight to float32
    assert list(other) == [(0, 3.0), (1, 70000.0)]


def test_values_are_kept_to_a_tenth_and_a_ring_widens_for_what_tenths_cannot_hold() -> None:
    ring = Ring(6)
    ring.add(1, 71.34)
    ring.add(2, float("nan"))
    ring.add(3, 6553.3)
    assert list(ring) == [(1, 71.3), (2, None), (3, 6553.3)]
    assert sys.getsizeof(ring.values) < 6 * 2 + 100
    ring.add(4, -3.25)  # below zero: the ring turns float32, keeping what it held
    ring.add(5, 123456.0)
    ring.add(6, None)
    assert list(ring) == [(1, 71.3), (2, None), (3, 6553.3), (4, -3.25), (5, 123456.0), (6, None)]
    assert len(ring) == 6 and ring[-2] == (5, 123456.0)


def test_sparkline_buckets_kept_across_cycles_equal_buckets_read_afresh() -> None:
    """completed_buckets reads only the newest bucket when one completes; whatever the holes (cycles
    a node did not answer) and ring wrap-around, it ends with what reading the whole ring again gives."""
    import random
    from types import SimpleNamespace

    from cockpit.state import History, HistoryView
    from widgets.rows import completed_buckets

    rnd = random.Random(3)
    history = History(40)
    for per in (1, 3, 7):
        for seq in range(1, 400):
            if rnd.random() > 0.2:
                history.add(("n", 0, "util"), seq, None if rnd.random() < 0.05 else rnd.uniform(0, 100))
            state = SimpleNamespace(seq=seq, history=HistoryView(history, seq))
            kept = completed_buckets(state, "n", 0, "util", per)  # type: ignore[arg-type]
            fresh = History(40)
            fresh._series = history._series
            afresh = completed_buckets(
                SimpleNamespace(seq=seq, history=HistoryView(fresh, seq)),
                "n",
                0,
                "util",
                per,  # type: ignore[arg-type]
            )
            # What the ring still holds, bar its oldest bucket (the ring may have cut that one short),
            # ends what was kept; kept may also remember buckets the ring has since dropped.
            assert len(kept) >= len(afresh)
            assert kept[len(kept) - len(afresh) + 1 :] == afresh[1:], (per, seq)


def test_kept_buckets_stay_within_the_widest_sparkline_and_share_their_values() -> None:
    """Every GPU keeps its bucket lists for as long as the cockpit runs: bounded, and one float
    object per distinct value (history is kept in tenths, so values repeat across 32,000 lists)."""
    from types import SimpleNamespace

    from cockpit.state import History, HistoryView
    from widgets.detail_rows import DETAIL_SPARK
    from widgets.rows import KEPT_BUCKETS, completed_buckets

    history = History(500)
    kept: list[list[float | None]] = []
    for seq in range(1, 200):
        for gpu in (0, 1):
            history.add(("n", gpu, "util"), seq, float(seq % 7))
        state = SimpleNamespace(seq=seq, history=HistoryView(history, seq))
        kept = [completed_buckets(state, "n", gpu, "util", 2) for gpu in (0, 1)]  # type: ignore[arg-type]
    assert DETAIL_SPARK <= KEPT_BUCKETS == len(kept[0]) == len(kept[1])
    assert kept[0] == kept[1] and all(a is b for a, b in zip(kept[0], kept[1], strict=True))


def test_nodes_complete_their_sparkline_buckets_on_different_cycles() -> None:
    """At 16,000 GPUs every sparkline moving on the same cycle stalled the screen for a second or
    more: each node's buckets start at its own phase, so about 1/per of the nodes move each cycle,
    and a node's buckets read afresh equal the kept ones whatever its phase."""
    from collections import Counter
    from types import SimpleNamespace

    from cockpit.state import History, HistoryView
    from widgets.format import bucketed
    from widgets.rows import bucket_phase, completed_buckets

    per = 15
    phases = Counter(bucket_phase(f"node-{i:04d}", per) for i in range(2000))
    assert set(phases) == set(range(per)) and max(phases.values()) < 2 * 2000 / per
    node = next(f"node-{i:04d}" for i in range(2000) if bucket_phase(f"node-{i:04d}", 4) == 3)
    history = History(100)
    for seq in range(1, 30):
        history.add((node, 0, "util"), seq, float(seq))
    state = SimpleNamespace(seq=29, history=HistoryView(history, 29))
    # phase 3: cycles 1-4 | 5-8 | ... | 25-28 are complete buckets; 29 starts the next
    assert completed_buckets(state, node, 0, "util", 4) == [4.0, 8.0, 12.0, 16.0, 20.0, 24.0, 28.0]  # type: ignore[arg-type]
    assert bucketed([(s, float(s)) for s in range(1, 29)], 4, 3) == [4.0, 8.0, 12.0, 16.0, 20.0, 24.0, 28.0]
