"""Delta reads: which targets to ask again, and how their answers replace what was kept."""

from __future__ import annotations

import re

import cockpit.config  # noqa: F401  (config imports prom_config at its end: load it first)
from cockpit.sources import prom_queries as q
from cockpit.sources.prom_fresh import MARGIN_S, FreshTargets, fresh_instances

UP = [({"__name__": "up", "job": job, "instance": f"{host}:{port}"}, 1.0)
      for host in ("gpu-a", "gpu-b", "10.0.0.7", "[::1]") for job, port in (("node", 9100), ("dcgm", 9400))]  # fmt: skip


def gpu(instance: str, index: int, value: float) -> tuple[dict[str, str], float]:
    return {"instance": instance, "gpu": str(index)}, value


def usable() -> FreshTargets:
    fresh = FreshTargets()
    for key in q.FRESH_KEYS:
        fresh.merge(key, [gpu("gpu-a:9400", 0, 1.0)] if key.startswith("gpu:") else [], None, [])
    fresh.after_read((1000.0, 0.25), True, UP)
    return fresh


def test_since_is_prometheus_evaluation_time_less_the_slowest_scrape_and_a_margin() -> None:
    fresh = usable()
    assert fresh.usable and fresh.since == 1000.0 - 0.25 - MARGIN_S
    assert q.freshness_queries(fresh.since)["fresh"] == f"timestamp(up) > {1000.0 - 0.25 - MARGIN_S:.3f}"
    fresh.after_read(None, False, UP)  # the scrape query failed: no since, so a full read next
    assert fresh.since is None


def test_the_matcher_names_fresh_targets_as_an_anchored_regex_that_matches_only_them() -> None:
    fresh = usable()
    answer = [
        ({"job": "dcgm", "instance": "10.0.0.7:9400"}, 999.5),
        ({"job": "node", "instance": "[::1]:9100"}, 999.7),
    ]
    matcher = fresh.matcher(fresh_instances(answer), UP)
    assert matcher is not None and matcher.startswith("instance=~`")
    regex = re.compile(matcher.removeprefix("instance=~`").removesuffix("`"))  # RE2 and Python agree here
    assert regex.fullmatch("10.0.0.7:9400") and regex.fullmatch("[::1]:9100")
    assert not regex.fullmatch("10x0x0x7:9400") and not regex.fullmatch("gpu-a:9400")
    assert fresh.matcher(fresh_instances([]), UP) == ""  # nothing scraped since: nothing to ask
    most = [({"instance": labels["instance"]}, 1.0) for labels, _ in UP[:5]]
    assert fresh.matcher(fresh_instances(most), UP) is None  # most targets fresh: a full read costs the same
    assert fresh.matcher(fresh_instances(ValueError("failed")), UP) is None


def test_a_narrowed_answer_replaces_only_its_targets_and_a_silent_target_loses_its_series() -> None:
    fresh = FreshTargets()
    full = [gpu("gpu-a:9400", 0, 10.0), gpu("gpu-a:9400", 1, 11.0), gpu("gpu-b:9400", 0, 20.0)]
    assert fresh.merge("gpu:util", full, None, []) == full
    narrowed = [gpu("gpu-b:9400", 0, 21.0)]
    merged = fresh.merge("gpu:util", narrowed, "instance=~`...`", ["gpu-b:9400"])
    assert sorted(v for _, v in merged) == [10.0, 11.0, 21.0]
    # gpu-a was scraped and answered nothing (its exporter lost its GPUs): its series go
    merged = fresh.merge("gpu:util", [], "instance=~`...`", ["gpu-a:9400"])
    assert [v for _, v in merged] == [21.0]
    # a failed query keeps everything
    assert [v for _, v in fresh.merge("gpu:util", None, "instance=~`...`", ["gpu-b:9400"])] == [21.0]


def test_series_no_scrape_refreshes_turn_delta_reads_off() -> None:
    fresh = FreshTargets()
    for key in q.FRESH_KEYS:  # federated: an instance this Prometheus does not scrape
        fresh.merge(key, [gpu("far-away:9400", 0, 1.0)] if key == "gpu:util" else [], None, [])
    fresh.after_read((1000.0, 0.1), True, UP)
    assert not fresh.usable
    assert fresh.matcher(fresh_instances([]), UP) is None


def test_a_full_read_comes_at_start_and_every_ten_minutes_all_the_same() -> None:
    from cockpit.sources.prom_fresh import FULL_EVERY_S

    fresh = FreshTargets()
    assert fresh.full_due(0.0)
    for key in q.FRESH_KEYS:
        fresh.merge(key, [], None, [])
    fresh.after_read((1000.0, 0.1), True, UP, at=50.0)
    assert not fresh.full_due(50.0 + FULL_EVERY_S - 1)
    assert fresh.full_due(50.0 + FULL_EVERY_S)


def test_gpu_values_are_kept_by_board_and_a_narrowed_answer_replaces_its_targets_boards() -> None:
    fresh = FreshTargets()
    full = [
        ({"Hostname": "gpu-a", "gpu": "0", "instance": "gpu-a:9400"}, 10.0),
        ({"Hostname": "gpu-a", "gpu": "1", "instance": "gpu-a:9400"}, 11.0),
        ({"Hostname": "gpu-b", "gpu": "0", "instance": "gpu-b:9400"}, 20.0),
        ({"Hostname": ["hostile"], "gpu": "0", "instance": "gpu-b:9400"}, 99.0),  # unhashable: dropped
    ]

    def merge(key: str, answer: list | None, matcher: str | None, targets: list[str]) -> dict:
        digest = None if answer is None else fresh.digest_boards(answer, "Hostname")
        return fresh.merge_boards(key, digest, matcher, targets)

    assert merge("gpu:util", full, None, []) == {
        ("gpu-a", "0"): 10.0, ("gpu-a", "1"): 11.0, ("gpu-b", "0"): 20.0,
    }  # fmt: skip
    temp = merge("gpu:temp", [({"Hostname": "gpu-a", "gpu": "0", "instance": "gpu-a:9400"}, 60.0)], None, [])
    assert next(iter(temp)) is next(iter(fresh._boards_of["gpu:util"])), "board keys are shared by the values"
    # gpu-a scraped again and now reports one board; gpu-b not scraped: kept as it was
    narrowed = [({"Hostname": "gpu-a", "gpu": "1", "instance": "gpu-a:9400"}, 12.0)]
    merged = merge("gpu:util", narrowed, "instance=~`...`", ["gpu-a:9400"])
    assert merged == {("gpu-a", "1"): 12.0, ("gpu-b", "0"): 20.0}
    assert merge("gpu:util", None, "instance=~`...`", ["gpu-b:9400"]) == merged
