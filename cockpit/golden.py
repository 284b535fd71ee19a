"""Inference golden signals judged by the runbook's alert rules, with PromQL-style ``for:`` durations.

Runbook 004 ("Alerting"): KV cache ``avg(vllm:gpu_cache_usage_perc) > 0.8`` for 5 m is critical;
``vllm:num_requests_waiting > 0`` for 2 m is a warning; TTFT p95 above 2 s is a warning (the 5-minute
``rate()`` window under the quantile already smooths it, so it needs no ``for:`` of its own); replica
failures are critical at once. Custom panels bring their own thresholds and ``for_s``.

:class:`GoldenRules` is the only stateful part: it remembers since when each condition has held, so a
condition fires only once it has held ``for_s`` and keeps the ``since`` of when it began, like
Prometheus's pending -> firing. Prometheus's *own* alerts (``/api/v1/alerts``) become alerts here
too, marked as coming from Prometheus. Everything returns :class:`cockpit.model.Alert`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import cockpit.config  # noqa: F401  (config imports prom_config at its end: load it first)
from cockpit.model import Alert
from cockpit.prom_config import PanelConfig
from cockpit.sources.prom_map import node_key
from cockpit.sources.prom_model import SIGNALS, PanelValue, PromAlert, Signal

PROMETHEUS_PREFIX = "prometheus:"
"""``Alert.metric`` of an alert that Prometheus raised (``prometheus:KVCacheHigh``)."""


@dataclass(frozen=True, slots=True)
class Rule:
    """``value > threshold`` (or ``<`` with ``below``) held for ``for_s`` seconds -> ``severity``."""

    metric: str
    severity: str
    threshold: float
    for_s: float = 0.0
    below: bool = False

    def holds(self, value: float | None) -> bool:
        if value is None:
            return False
        return value < self.threshold if self.below else value > self.threshold


RULES: tuple[Rule, ...] = (
    Rule("kv_cache", "critical", 0.8, for_s=300.0),
    Rule("waiting", "warning", 0.0, for_s=120.0),
    Rule("ttft_p95_s", "warning", 2.0),
    Rule("replicas_unhealthy", "critical", 0.0),
)


def _fmt(metric: str, value: float) -> str:
    if metric == "kv_cache":
        return f"{100 * value:.0f}%"
    if metric == "ttft_p95_s":
        return f"{value:.2f} s"
    return f"{value:g}"


def _duration(seconds: float) -> str:
    return f"{seconds / 60:g} min" if seconds >= 60 and seconds % 60 == 0 else f"{seconds:g} s"


def with_unhealthy(signals: Iterable[Signal]) -> list[Signal]:
    """Adds ``replicas_unhealthy`` (replicas - healthy) per Ray Serve deployment."""
    out = list(signals)
    by = {(s.subject, s.metric): s.value for s in out}
    for (subject, metric), total in list(by.items()):
        healthy = by.get((subject, "replicas_healthy"))
        if metric == "replicas" and total is not None and healthy is not None:
            out.append(Signal("replicas_unhealthy", subject, total - healthy))
    return out


@dataclass
class GoldenRules:
    """Judges each cycle's signals and panel values; keep one for the session (it holds ``since``)."""

    rules: Sequence[Rule] = RULES
    panels: Sequence[PanelConfig] = ()
    _since: dict[tuple[str, str, str], float] = field(default_factory=dict)

    def update(
        self, signals: Iterable[Signal], panels: Iterable[PanelValue] = (), *, now: float
    ) -> tuple[Alert, ...]:
        candidates: list[tuple[Rule, str, str, float, str]] = []
        for signal in with_unhealthy(signals):
            for rule in self.rules:
                if rule.metric == signal.metric and signal.value is not None:
                    label = SIGNALS.get(signal.metric, "unhealthy replicas")
                    candidates.append((rule, signal.subject, signal.metric, signal.value, label))
        configs = {p.name: p for p in self.panels}
        for panel in panels:
            config = configs.get(panel.name)
            if config is None or panel.error is not None:
                continue
            for series in panel.series:
                if series.value is None:
                    continue
                subject = f"panel:{panel.name}" + (f"{{{series.labels}}}" if series.labels else "")
                for rule in panel_rules(config):
                    candidates.append((rule, subject, f"panel:{panel.name}", series.value, panel.name))
        return self._judge(candidates, now)

    def _judge(self, candidates: list[tuple[Rule, str, str, float, str]], now: float) -> tuple[Alert, ...]:
        seen: set[tuple[str, str, str]] = set()
        best: dict[tuple[str, str], Alert] = {}
        for rule, subject, metric, value, label in candidates:
            key = (subject, metric, rule.severity)
            if not rule.holds(value):
                continue
            seen.add(key)
            since = self._since.setdefault(key, now)
            if now - since < rule.for_s:
                continue
            relation = "<" if rule.below else ">"
            unit_value = _fmt(rule.metric, value)
            bound = _fmt(rule.metric, rule.threshold)
            held = f" for {_duration(rule.for_s)}" if rule.for_s else ""
            message = f"{subject}: {label} {unit_value} {relation} {bound}{held}"
            alert = Alert(rule.severity, subject, metric, message, value, rule.threshold, since)
            current = best.get((subject, metric))
            if current is None or (current.severity == "warning" and alert.severity == "critical"):
                best[(subject, metric)] = alert
        for key in list(self._since):
            if key not in seen:
                del self._since[key]
        return tuple(sorted(best.values(), key=lambda a: (a.severity != "critical", a.since or 0, a.subject)))


def panel_rules(panel: PanelConfig) -> list[Rule]:
    metric = f"panel:{panel.name}"
    rules = []
    if panel.warning is not None:
        rules.append(Rule(metric, "warning", panel.warning, panel.for_s, panel.below))
    if panel.critical is not None:
        rules.append(Rule(metric, "critical", panel.critical, panel.for_s, panel.below))
    return rules


def prometheus_alerts(alerts: Iterable[PromAlert], *, pending: bool = True) -> tuple[Alert, ...]:
    """Prometheus's own alerts for the alerts pane: ``metric`` starts with ``prometheus:`` and the
    message with ``[Prometheus]``; subject is the alert's instance (port dropped) or ``cluster``."""
    out = []
    for alert in alerts:
        if alert.state != "firing" and not (pending and alert.state == "pending"):
            continue
        labels = dict(alert.labels)
        subject = node_key(labels["instance"]) if labels.get("instance") else "cluster"
        severity = (
            "critical" if (alert.severity or "").lower() in ("critical", "page", "error") else "warning"
        )
        state = "" if alert.state == "firing" else " (pending)"
        text = alert.summary or alert.name
        out.append(
            Alert(
                severity=severity,
                subject=subject,
                metric=f"{PROMETHEUS_PREFIX}{alert.name}",
                message=f"[Prometheus] {alert.name}{state}: {text}",
                value=alert.value,
                since=alert.active_at,
            )
        )
    return tuple(out)
