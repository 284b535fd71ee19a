"""Pure renderers for the sources beyond SSH: inference golden signals and panels (Prometheus),
Kubernetes pods. Unhealthy first: the operator reads top-down."""

from __future__ import annotations

from cockpit.sanitize import clean
from cockpit.sources.prom_model import SIGNALS
from cockpit.state import ClusterState
from widgets.format import NA, age
from widgets.table_model import Column, Row

SIGNAL_COLUMNS = (
    Column("signal", "SIGNAL", 22, 0),
    Column("subject", "WHERE", 30, 0),
    Column("value", "NOW", 10, 0, "right", deadband=0.01),
    Column("state", "STATE", 8, 1, flex=True),
)
POD_COLUMNS = (
    Column("pod", "POD", 30, 0),
    Column("status", "STATUS", 16, 0),
    Column("ready", "READY", 5, 1, "right"),
    Column("restarts", "RST", 4, 1, "right"),
    Column("gpus", "GPU", 3, 2, "right"),
    Column("node", "NODE", 16, 2),
    Column("age", "AGE", 5, 3, "right", deadband=60),
    Column("why", "WHY", 20, 1, flex=True),
)
UNITS = {"kv_cache": "%", "ttft_p95_s": "s", "gen_tokens_s": "tok/s"}


def _value(metric: str, value: float | None, unit: str = "") -> str:
    if value is None:
        return NA
    if metric == "kv_cache":
        return f"{value * 100:.0f}%"
    unit = UNITS.get(metric, unit)
    return f"{value:.2f}{unit}" if abs(value) < 10 else f"{value:,.0f}{unit}"


def signal_rows(state: ClusterState) -> list[Row]:
    scale = state.scale
    if scale is None or scale.prom is None:
        return []
    alerting = {(a.subject, a.metric): a.severity for a in state.alerts}
    rows = []
    for signal in scale.prom.signals:
        severity = alerting.get((signal.subject, signal.metric))
        label = SIGNALS.get(signal.metric, signal.metric)
        rows.append(
            Row(
                (signal.metric, signal.subject),
                (
                    (label, ""),
                    (clean(signal.subject), "muted"),
                    (_value(signal.metric, signal.value), severity or "", signal.value),
                    (severity or "ok", severity or "ok"),
                ),
            )
        )
    for panel in scale.prom.panels:
        if panel.error:
            rows.append(
                Row(
                    ("panel", panel.name),
                    ((clean(panel.name), ""), ("", ""), (NA, "muted"), (clean(panel.error), "warning")),
                )
            )
        for series in panel.series:
            subject = f"panel:{panel.name}" + (f"{{{series.labels}}}" if series.labels else "")
            severity = alerting.get((subject, f"panel:{panel.name}"))
            rows.append(
                Row(
                    ("panel", panel.name, series.labels),
                    (
                        (clean(panel.name), ""),
                        (clean(series.labels), "muted"),
                        (_value("", series.value, panel.unit), severity or "", series.value),
                        (severity or "ok", severity or "ok"),
                    ),
                )
            )
    rows.sort(key=lambda r: (r.cells[3][0] == "ok", r.cells[0][0], str(r.key)))
    return rows


def pod_rows(state: ClusterState) -> list[Row]:
    scale = state.scale
    if scale is None:
        return []
    rows = []
    for pod in sorted(scale.pods, key=lambda p: (p.healthy, p.namespace, p.name)):
        why = pod.cuda_oom or ("OOMKilled" if pod.oom_killed else "")
        cls = "critical" if pod.crash_loop or pod.cuda_oom else ("warning" if not pod.healthy else "ok")
        started = None if pod.started_at is None else max(0.0, state.at - pod.started_at)
        rows.append(
            Row(
                (pod.namespace, pod.name),
                (
                    (clean(f"{pod.namespace}/{pod.name}"), ""),
                    (clean(pod.status), cls),
                    (pod.ready_text, "" if pod.ready == pod.containers else "warning"),
                    (str(pod.restarts), "critical" if pod.crash_loop else "muted"),
                    (str(pod.gpus) if pod.gpus else "", "info"),
                    (clean(pod.node or ""), "muted"),
                    (age(started), "muted", started),
                    (clean(why), "critical" if why else "muted"),
                ),
                {"namespace": pod.namespace, "status": pod.status, "node": pod.node or ""},
            )
        )
    if scale.pods_error:
        rows.append(
            Row(
                ("", "~error"),
                (("kubectl", "critical"), (clean(scale.pods_error), "critical"), *([("", "")] * 6)),
            )
        )
    return rows
