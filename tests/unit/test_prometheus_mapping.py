"""Prometheus answers -> the same readings the SSH probes produce, on real captured API bodies.

The fixtures (tests/fixtures/prometheus, see its INDEX.md) are the exact bodies a real Prometheus 2.42
returned for the source's own queries; expected values below are read off those files by hand.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from cockpit.model import Disk, GpuReading, HostReading, ProbeError
from cockpit.sources import prom_map as m
from cockpit.sources import prom_queries as q
from cockpit.sources.prom_model import PromNode, Target

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "prometheus"
NAMES = ["gpu-a", "gpu-b", "cpu-c"]


def load(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text())


def series(key: str) -> list[m.Series]:
    parsed = m.parse_query(load(f"query_{key.replace(':', '_')}.json"), key)
    assert not isinstance(parsed, ProbeError), parsed
    return parsed


def gpu_values() -> dict[str, list[m.Series]]:
    return {f: series(f"gpu:{f}") for f in ("util", "temp", "power", "used", "total", "limit")}


def hosts(index: m.NodeIndex) -> dict[str, HostReading]:
    gauges = series("host") + series("host_window") + series("host_static")
    return m.map_host(gauges, series("fs"), series("cpu_idle"), series("cpu_count"), index, "instance")


def test_fixtures_are_the_queries_the_source_sends() -> None:
    """The captured files answer exactly today's query texts (re-run capture.py when they change)."""
    text = (FIXTURES / "INDEX.md").read_text()
    assert "2.42.0" in text
    for key in {
        **q.queries("instance", "instance", "10s"),
        **q.window_queries("instance"),
        **q.slow_queries("instance", "instance"),
    }:
        assert (FIXTURES / f"query_{key.replace(':', '_')}.json").is_file(), key


@pytest.mark.parametrize(
    ("value", "key"),
    [
        ("gpu-a:9100", "gpu-a"),
        ("10.0.0.5:9400", "10.0.0.5"),
        ("[fd00::5]:9100", "fd00::5"),
        ("fd00::5", "fd00::5"),
        ("gpu-a", "gpu-a"),
        ("host:notaport", "host:notaport"),
    ],
)
def test_node_key_strips_the_port(value: str, key: str) -> None:
    assert m.node_key(value) == key


def test_up_maps_targets_to_nodes_and_a_stopped_exporter_reads_down() -> None:
    index = m.NodeIndex.build(NAMES)
    targets = m.map_targets(series("up"), index, "instance")
    assert sorted(targets) == ["cpu-c", "gpu-a", "gpu-b"]
    assert {t.job for t in targets["gpu-a"]} == {"node", "dcgm", "vllm"}
    assert all(t.up for t in targets["gpu-a"])
    assert not any(t.up for t in targets["gpu-b"])
    node = PromNode("gpu-b", tuple(targets["gpu-b"]))
    assert node.down
    assert node.down_reason is not None and node.down_reason.startswith("scrape failed: gpu-b:")
    reading = node.reading(at=5.0)
    assert isinstance(reading.host, ProbeError) and isinstance(reading.gpus, ProbeError)


def test_dcgm_series_become_gpu_readings() -> None:
    index = m.NodeIndex.build(NAMES)
    gpus = m.map_gpus(series("gpu_ids"), gpu_values(), index, "instance")
    assert list(gpus) == ["gpu-a"]  # gpu-b's series went stale when its exporter stopped
    assert gpus["gpu-a"] == (
        GpuReading(
            index=0, name="NVIDIA H100 80GB HBM3", uuid="GPU-e4fbbc5f-6f71-43be-a127-2f61734beafb",
            util_pct=76.0, mem_used_mib=41377.0, mem_total_mib=81559.0, temp_c=67.0,
            power_w=571.591468, power_limit_w=700.0,
        ),
        GpuReading(
            index=1, name="NVIDIA H100 80GB HBM3", uuid="GPU-0d3b1a09-4c8c-4457-a474-b2610585bfe3",
            util_pct=87.0, mem_used_mib=70693.0, mem_total_mib=81559.0, temp_c=69.0,
            power_w=612.020673, power_limit_w=700.0,
        ),
    )  # fmt: skip


def test_a_board_without_values_is_not_listed_and_one_without_identity_is_nameless() -> None:
    index = m.NodeIndex.build(NAMES)
    only_util = {"util": series("gpu:util")[:1]}
    (gpu,) = m.map_gpus(series("gpu_ids"), only_util, index, "instance")["gpu-a"]
    assert (gpu.index, gpu.util_pct, gpu.temp_c, gpu.uuid) == (
        1,
        87.0,
        None,
        "GPU-0d3b1a09-4c8c-4457-a474-b2610585bfe3",
    )
    (fresh,) = m.map_gpus([], only_util, index, "instance")["gpu-a"]
    assert fresh.uuid is None and fresh.name is None


def test_node_exporter_series_become_host_readings() -> None:
    found = hosts(m.NodeIndex.build(NAMES))
    a = found["gpu-a"]
    assert (a.load1, a.load5, a.load15) == (4.22, 3.69, 3.69)
    assert a.mem_total_bytes == 67688684544 and a.mem_available_bytes == 35675354112
    assert a.uptime_s == pytest.approx(1795380986.026818 - 1794953755)

    assert a.cpu_pct == round(100 * (1 - 3.8288888888879837 / 8), 1) == 52.1
    assert a.cpu_sample is None
    # tmpfs on /run is dropped, as the SSH probe's df parser drops it.
    assert a.disks == (
        Disk("/", "/dev/nvme0n1p2", 1932735283200, 1932735283200 - 1140313817088, 1140313817088, 41.0),
        Disk("/data", "/dev/sda1", 7516192768000, 7516192768000 - 1277752770560, 1277752770560, 83.0),
    )
    assert found["cpu-c"].cpu_pct == 14.3
    # gpu-b is down: instant gauges are gone; rate() still sees its CPU, but not the CPU count.
    assert found["gpu-b"].load1 is None and found["gpu-b"].cpu_pct is None


def test_uptime_read_in_the_slow_tier_advances_by_our_clock() -> None:
    index = m.NodeIndex.build(NAMES)
    gauges = series("host") + series("host_static")
    later = m.map_host(gauges, [], [], [], index, "instance", static_age_s=42.5)
    assert later["gpu-a"].uptime_s == pytest.approx(1795380986.026818 - 1794953755 + 42.5)


def test_assemble_lists_configured_nodes_first_and_reports_missing_ones() -> None:
    index = m.NodeIndex.build([*NAMES, "gpu-z"])
    targets = m.map_targets(series("up"), index, "instance")
    gpus = m.map_gpus(series("gpu_ids"), gpu_values(), index, "instance")
    nodes, missing = m.assemble(targets, hosts(index), gpus, index, [*NAMES, "gpu-z"])
    assert [n.name for n in nodes] == NAMES
    assert missing == ("gpu-z",)
    assert [n.name for n in nodes if n.down] == ["gpu-b"]
    assert nodes[2].gpus is None  # cpu-c: no dcgm series at all, not "zero GPUs"


def test_aliases_map_a_host_address_to_the_node_name() -> None:
    index = m.NodeIndex.build(["alpha"], {"gpu-a": "alpha"})
    targets = m.map_targets(series("up"), index, "instance")
    assert list(targets) == ["alpha"]


def test_discovery_adds_unlisted_targets_of_the_job_only() -> None:
    up = series("up")
    index = m.NodeIndex.build(["gpu-a"]).with_discovered(m.discover_keys(up, "node", "instance"))
    assert index.discovered == frozenset({"gpu-b", "cpu-c"})
    targets = m.map_targets(up, index, "instance")
    nodes, missing = m.assemble(targets, {}, {}, index, ["gpu-a"])
    assert [(n.name, n.discovered) for n in nodes] == [("gpu-a", False), ("cpu-c", True), ("gpu-b", True)]
    assert missing == ()


def test_golden_signals_from_vllm_and_ray() -> None:
    index = m.NodeIndex.build(NAMES)
    signals = m.map_signals(
        series("vllm"), series("ttft"), series("tokens"), series("ray"), index, "instance"
    )
    found = {(s.metric, s.subject): s.value for s in signals}
    llama = "vllm:meta-llama/Llama-3.1-70B-Instruct@gpu-a"
    assert found[("kv_cache", llama)] == 0.91
    assert found[("waiting", llama)] == 3.0
    assert found[("running", llama)] == 16.0
    assert found[("ttft_p95_s", llama)] == pytest.approx(0.6083333333333331)
    assert found[("gen_tokens_s", llama)] == pytest.approx(41.691083)
    assert found[("ttft_p95_s", "vllm:Qwen/Qwen2.5-7B-Instruct@gpu-b")] == pytest.approx(0.175)
    ray = "ray:llm/VLLMDeployment"
    assert (found[("replicas", ray)], found[("replicas_healthy", ray)], found[("replica_restarts", ray)]) == (
        1,
        1,
        0,
    )
    assert next(s.node for s in signals if s.subject == llama) == "gpu-a"


def test_panel_answers_scalar_vector_matrix_and_errors() -> None:
    scalar = m.map_panel("targets", "", m.parse_query(load("query_scalar.json")))
    assert scalar.error is None and [(s.labels, s.value) for s in scalar.series] == [("", 7.0)]
    vector = m.map_panel("kv", "%", m.parse_query(load("query_vllm.json")))
    assert vector.series[0].labels.startswith("__name__=vllm:gpu_cache_usage_perc, instance=gpu-a:8000")
    matrix = m.map_panel("up", "", m.parse_query(load("query_matrix.json")))
    assert matrix.error == "expected an instant vector, got matrix"
    bad = m.map_panel("bad", "", m.parse_query(load("query_error_parse.json")))
    assert bad.error == 'bad_data: invalid parameter "query": 1:7: parse error: unclosed left parenthesis'
    failed = m.parse_query(load("query_error_exec.json"))
    assert isinstance(failed, ProbeError) and failed.reason.startswith(
        "execution: invalid regular expression"
    )
    assert m.parse_query(load("query_empty.json")) == []


def test_prometheus_alerts_firing_first_with_their_times() -> None:
    alerts = m.parse_alerts(load("alerts.json"))
    assert not isinstance(alerts, ProbeError)
    assert [a.state for a in alerts] == ["firing"] * 4 + ["pending"]
    kv = next(a for a in alerts if a.name == "VLLMKVCacheHigh")
    assert (kv.severity, kv.summary, kv.value) == ("critical", "KV cache above 80% for 5 minutes", "9.1e-01")
    assert kv.active_at == pytest.approx(1795372816.848257533)
    down = [a for a in alerts if a.name == "TargetDown"]
    assert {dict(a.labels)["instance"] for a in down} == {"gpu-b:9100", "gpu-b:9400", "gpu-b:8000"}
    assert down[0].summary.endswith("is down")  # from the description annotation


@pytest.mark.parametrize(
    "doc",
    [None, [], "x", {"status": "success"}, {"status": "success", "data": {"resultType": "vector", "result": 3}},
     {"status": "error"}, {"status": "success", "data": {"resultType": "string", "result": [1, "x"]}}],
)  # fmt: skip
def test_malformed_answers_are_one_line_errors(doc: Any) -> None:
    result = m.parse_query(doc, "q")
    assert isinstance(result, ProbeError) and "\n" not in result.reason


def test_hostile_label_values_are_sanitized_where_kept_and_bad_values_are_none() -> None:
    doc = {"status": "success", "data": {"resultType": "vector", "result": [
        {"metric": {"instance": "evil\x1b]0;owned\x07:9400", "gpu": "0", "modelName": "H100\x1b[2J",
                    "UUID": 7}, "value": [1.0, "NaN"]},
        {"metric": {"instance": "x:1", "gpu": 3}, "value": [1.0, "+Inf"]},
        {"metric": {"instance": "x:1"}, "value": [1.0, "twelve"]},
        {"metric": "nope", "value": [1.0, "1"]},
    ]}}  # fmt: skip
    parsed = m.parse_query(doc)
    assert not isinstance(parsed, ProbeError)
    assert [v for _, v in parsed] == [None, None, None]
    index = m.NodeIndex.build([]).with_discovered(m.discover_keys(
        [({"job": "dcgm", "instance": "evil\x1b]0;owned\x07:9400"}, 1.0)], "dcgm", "instance"))  # fmt: skip
    assert index.discovered == frozenset({"evil"})
    gpus = m.map_gpus(parsed, {"util": parsed}, index, "instance")
    assert gpus == {"evil": (GpuReading(index=0, name="H100"),)}


def test_rfc3339_times() -> None:
    assert m.parse_rfc3339("2026-11-22T18:22:13Z") == pytest.approx(1795371733.0)
    assert m.parse_rfc3339("2018-07-04T20:27:12.60602144+02:00") == pytest.approx(1530728832.60602144)
    assert m.parse_rfc3339("yesterday") is None
    assert m.parse_rfc3339(None) is None


def test_target_dataclass_is_frozen() -> None:
    target = Target("node", "a:9100", True)
    with pytest.raises(AttributeError):
        target.up = False  # type: ignore[misc]
