"""Golden-signal rules: runbook thresholds, for-durations, panels, and Prometheus's own alerts."""

from __future__ import annotations

import json
from pathlib import Path

from cockpit.golden import PROMETHEUS_PREFIX, GoldenRules, prometheus_alerts
from cockpit.model import ProbeError
from cockpit.prom_config import PanelConfig
from cockpit.sources.prom_map import parse_alerts
from cockpit.sources.prom_model import PanelSeries, PanelValue, Signal

LLAMA = "vllm:llama@gpu-a"
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "prometheus"


def kv(value: float | None) -> Signal:
    return Signal("kv_cache", LLAMA, value, "gpu-a")


def test_kv_cache_fires_only_after_five_minutes_above_80_percent() -> None:
    rules = GoldenRules()
    assert rules.update([kv(0.91)], now=1000.0) == ()
    assert rules.update([kv(0.95)], now=1299.0) == ()
    (alert,) = rules.update([kv(0.93)], now=1300.0)
    assert (alert.severity, alert.subject, alert.metric, alert.since) == (
        "critical",
        LLAMA,
        "kv_cache",
        1000.0,
    )
    assert alert.message == f"{LLAMA}: KV cache 93% > 80% for 5 min"
    assert alert.threshold == 0.8


def test_a_dip_below_the_threshold_restarts_the_clock() -> None:
    rules = GoldenRules()
    rules.update([kv(0.9)], now=0.0)
    rules.update([kv(0.5)], now=200.0)
    assert rules.update([kv(0.9)], now=400.0) == ()
    assert rules.update([kv(0.9)], now=699.0) == ()
    assert rules.update([kv(0.9)], now=700.0)[0].since == 400.0


def test_a_signal_that_disappears_forgets_its_since() -> None:
    rules = GoldenRules()
    rules.update([kv(0.9)], now=0.0)
    rules.update([], now=100.0)
    assert rules.update([kv(0.9)], now=350.0) == ()


def test_waiting_requests_warn_after_two_minutes_and_ttft_at_once() -> None:
    rules = GoldenRules()
    signals = [
        Signal("waiting", LLAMA, 3.0),
        Signal("ttft_p95_s", LLAMA, 2.4),
        Signal("running", LLAMA, 50.0),
    ]
    (ttft,) = rules.update(signals, now=0.0)
    assert (ttft.metric, ttft.severity, ttft.message) == (
        "ttft_p95_s",
        "warning",
        f"{LLAMA}: TTFT p95 2.40 s > 2.00 s",
    )
    alerts = rules.update(signals, now=120.0)
    assert {a.metric for a in alerts} == {"ttft_p95_s", "waiting"}
    waiting = next(a for a in alerts if a.metric == "waiting")
    assert waiting.message == f"{LLAMA}: waiting requests 3 > 0 for 2 min"
    assert rules.update([Signal("waiting", LLAMA, 0.0)], now=200.0) == ()


def test_unknown_values_never_fire() -> None:
    rules = GoldenRules()
    assert rules.update([kv(None), Signal("ttft_p95_s", LLAMA, None)], now=0.0) == ()


def test_unhealthy_ray_replicas_are_critical_at_once() -> None:
    subject = "ray:llm/VLLMDeployment"
    signals = [Signal("replicas", subject, 3.0), Signal("replicas_healthy", subject, 2.0)]
    (alert,) = GoldenRules().update(signals, now=5.0)
    assert (alert.severity, alert.metric, alert.value) == ("critical", "replicas_unhealthy", 1.0)
    assert (
        GoldenRules().update(
            [Signal("replicas", subject, 3.0), Signal("replicas_healthy", subject, 3.0)], now=5.0
        )
        == ()
    )


def test_panels_warn_then_go_critical_with_their_own_for() -> None:
    config = PanelConfig(name="queue", promql="sum(x)", unit="", warning=10, critical=50, for_s=60)
    rules = GoldenRules(panels=[config])

    def panel(value: float) -> list[PanelValue]:
        return [PanelValue("queue", "", (PanelSeries("pool=a", value),))]

    assert rules.update([], panel(20), now=0.0) == ()
    (warn,) = rules.update([], panel(60), now=60.0)
    assert (warn.severity, warn.subject, warn.since) == ("warning", "panel:queue{pool=a}", 0.0)
    (crit,) = rules.update([], panel(60), now=120.0)
    assert (crit.severity, crit.since) == ("critical", 60.0)
    assert rules.update([], [PanelValue("queue", "", error="bad_data: parse error")], now=130.0) == ()


def test_panels_can_alert_below_a_floor() -> None:
    config = PanelConfig(name="healthy", promql="count(up == 1)", warning=3, critical=1, below=True)
    (alert,) = GoldenRules(panels=[config]).update(
        [], [PanelValue("healthy", "", (PanelSeries("", 0.0),))], now=1.0
    )
    assert alert.severity == "critical" and alert.message == "panel:healthy: healthy 0 < 1"


def test_prometheus_alerts_are_marked_as_coming_from_prometheus() -> None:
    parsed = parse_alerts(json.loads((FIXTURES / "alerts.json").read_text()))
    assert not isinstance(parsed, ProbeError)
    alerts = prometheus_alerts(parsed)
    assert len(alerts) == 5
    assert all(
        a.metric.startswith(PROMETHEUS_PREFIX) and a.message.startswith("[Prometheus] ") for a in alerts
    )
    kv_alert = next(a for a in alerts if a.metric == "prometheus:VLLMKVCacheHigh")
    assert (kv_alert.subject, kv_alert.severity) == ("cluster", "critical")
    waiting = next(a for a in alerts if a.metric == "prometheus:VLLMRequestsWaiting")
    assert waiting.severity == "warning" and "(pending)" in waiting.message and waiting.subject == "gpu-a"
    assert len(prometheus_alerts(parsed, pending=False)) == 4
