"""Alerts: pure findings over a state, then a tracker that gives them memory.

:func:`findings` judges one state against the thresholds. :class:`AlertTracker` turns findings
into alerts the way an on-call operator wants them: a value must stay past its threshold for
``hold_s`` before it fires (no page for a one-cycle spike), an active alert clears only once the
value is ``clear_margin_pct`` back below the threshold (no flapping at 80.0 / 79.9 °C), and each
alert keeps the ``since`` of when its condition began.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from cockpit import rules
from cockpit.config import Limit, Thresholds
from cockpit.model import Alert, NodeStatus
from cockpit.rules import Severity
from cockpit.state import ClusterState, NodeState

LABELS = {
    "cpu": ("CPU", "%"),
    "ram": ("RAM", "%"),
    "disk": ("disk", "%"),
    "gpu_temp": ("GPU temperature", "°C"),
    "gpu_power": ("GPU power", " W"),
    "latency": ("latency", " s"),
}
PRECISION = {"latency": 1}
CONNECTING = "connecting…"


@dataclass(frozen=True, slots=True)
class Finding:
    subject: str
    metric: str
    severity: Severity
    message: str
    value: float | str | None = None
    limit: Limit | None = None


def _threshold_finding(
    subject: str, metric: str, value: float | None, limit: Limit | None, detail: str = ""
) -> Finding | None:
    if limit is None or value is None:
        return None
    severity = rules.judge(limit, value)
    if not Severity.OK < severity < Severity.UNKNOWN:
        return None  # nothing to say (16,000 GPUs' findings of "fine" were ~10 MB kept in the memo)
    label, unit = LABELS[metric]
    bound = limit.critical if severity is Severity.CRITICAL else limit.warning
    relation = ">" if severity is Severity.CRITICAL else "≥"
    digits = PRECISION.get(metric, 0)
    message = f"{subject}: {label}{detail} {value:.{digits}f}{unit} {relation} {bound:g}{unit}"
    return Finding(subject, metric, severity, message, value, limit)


def _node_findings(node: NodeState, thresholds: Thresholds) -> list[Finding | None]:
    name = node.name
    if node.status is NodeStatus.DOWN:
        return [Finding(name, "node_down", Severity.CRITICAL, f"{name}: down ({node.error})", node.error)]
    out: list[Finding | None] = []
    if node.status is NodeStatus.STALE and node.error != CONNECTING:
        out.append(Finding(name, "stale", Severity.WARNING, f"{name}: data stale ({node.error})", node.error))
    if node.gpu_error:
        out.append(
            Finding(name, "gpu_probe", Severity.WARNING, f"{name}: GPUs unreadable ({node.gpu_error})")
        )
    host = node.host
    if host is not None:
        if host.warnings:
            out.append(Finding(name, "host_probe", Severity.WARNING, f"{name}: {'; '.join(host.warnings)}"))
        tags = node.tags
        out.append(_threshold_finding(name, "cpu", host.cpu_pct, rules.host_limit(thresholds, "cpu", tags)))
        out.append(_threshold_finding(name, "ram", host.mem_pct, rules.host_limit(thresholds, "ram", tags)))
        worst = max(
            (d for d in host.disks if d.used_pct is not None), key=lambda d: d.used_pct or 0, default=None
        )
        if worst is not None:
            limit = rules.host_limit(thresholds, "disk", tags)
            out.append(_threshold_finding(name, "disk", worst.used_pct, limit, f" {worst.mount}"))
    if node.status is NodeStatus.UP and not node.gpu_error:
        for gpu in node.gpus:
            subject = f"{name}/gpu{gpu.index}"
            out.append(
                _threshold_finding(
                    subject, "gpu_temp", gpu.temp_c, rules.gpu_temp_limit(thresholds, gpu, node.tags)
                )
            )
            out.append(
                _threshold_finding(
                    subject, "gpu_power", gpu.power_w, rules.gpu_power_limit(thresholds, gpu, node.tags)
                )
            )
    if node.status is NodeStatus.UP:
        out.extend(_workload_findings(node))
    return out


def _workload_findings(node: NodeState) -> list[Finding]:
    """Containers that crash-loop and units that failed: the runbook's "Service Crash Loop"."""
    name = node.name
    out = []
    for error in node.probe_errors:
        out.append(Finding(name, f"probe:{error.partition(':')[0]}", Severity.WARNING, f"{name}: {error}"))
    for container in node.containers:
        if container.name in node.crash_looping:
            restarts = f", {container.restart_count} restarts" if container.restart_count is not None else ""
            out.append(
                Finding(
                    f"{name}/container:{container.name}",
                    "crash_loop",
                    Severity.CRITICAL,
                    f"{name}: container {container.name} crash-looping ({container.status}{restarts})",
                    container.status,
                )
            )
    for unit in node.units:
        subject = f"{name}/unit:{unit.name}"
        if unit.active == "failed":
            message = f"{name}: unit {unit.name} failed ({unit.sub or 'failed'})"
            out.append(Finding(subject, "unit_failed", Severity.CRITICAL, message, unit.active))
        elif unit.load == "not-found":
            message = f"{name}: unit {unit.name} not found on the node"
            out.append(Finding(subject, "unit_failed", Severity.WARNING, message, unit.load))
        elif unit.active in ("activating", "deactivating", "inactive"):
            message = f"{name}: unit {unit.name} {unit.active} ({unit.sub})"
            out.append(Finding(subject, "unit_failed", Severity.WARNING, message, unit.active))
    return out


def _service_findings(state: ClusterState) -> list[Finding | None]:
    """A failing service is critical only where it is the root cause; what it blocks is a warning."""
    out: list[Finding | None] = []
    limit = state.thresholds.latency
    for service in state.services:
        subject = f"service:{service.name}"
        root = state.blocked_by.get(service.name)
        if not service.ok and root is not None:
            message = f"{service.name}: blocked by {root} ({service.error})"
            out.append(Finding(subject, "service_down", Severity.WARNING, message, service.error))
        elif not service.ok:
            message = f"{service.name}: down ({service.error})"
            out.append(Finding(subject, "service_down", Severity.CRITICAL, message, service.error))
        else:
            out.append(_threshold_finding(subject, "latency", service.latency_s, limit))
    return out


def _judged_inputs(node: NodeState) -> tuple[object, ...]:
    """Everything :func:`_node_findings` reads of a node (not its age): equal inputs, equal findings."""
    host = node.host
    judged_host = None if host is None else (host.warnings, host.cpu_pct, host.mem_pct, host.disks)
    return (node.status, node.error, node.gpu_error, node.tags, judged_host, node.gpus, node.probe_errors,
            node.containers, node.crash_looping, node.units)  # fmt: skip


NodeMemo = dict[str, tuple[tuple[object, ...], list["Finding | None"]]]


def findings(state: ClusterState, memo: NodeMemo | None = None) -> list[Finding]:
    """Everything past a threshold in ``state``, right now, with no memory. ``memo`` (the caller's,
    for one set of thresholds) keeps each node's findings while its inputs stay equal: at 2,000
    nodes x 8 GPUs judging every board cost ~0.4 s a cycle, and most boards repeat the last scrape."""
    out: list[Finding | None] = []
    for node in state.nodes:
        if memo is None:
            out.extend(_node_findings(node, state.thresholds))
            continue
        inputs = _judged_inputs(node)
        kept = memo.get(node.name)
        if kept is None or kept[0] != inputs:
            kept = memo[node.name] = (inputs, _node_findings(node, state.thresholds))
        out.extend(kept[1])
    if memo is not None and len(memo) > len(state.nodes):
        for name in set(memo) - {n.name for n in state.nodes}:
            del memo[name]
    out.extend(_service_findings(state))
    if state.fleet is not None:
        out.extend(state.fleet.findings)  # type: ignore[arg-type]  (same shape as Finding)
    return [f for f in out if f and Severity.OK < f.severity < Severity.UNKNOWN]


@dataclass
class _Tracked:
    since: float
    level: Severity = Severity.OK
    finding: Finding | None = None
    alert: Alert | None = None
    """The alert last made of ``finding``: the same finding (a node that did not change) makes the same alert."""


@dataclass
class AlertTracker:
    """Hold, hysteresis and ``since`` across cycles; the engine keeps one for the session."""

    thresholds: Thresholds
    _tracked: dict[tuple[str, str], _Tracked] = field(default_factory=dict)
    _memo: NodeMemo = field(default_factory=dict)
    _memo_for: Thresholds | None = None

    def update(self, state: ClusterState) -> tuple[Alert, ...]:
        now = state.at
        if self._memo_for is not state.thresholds:
            self._memo, self._memo_for = {}, state.thresholds
        current = {(f.subject, f.metric): f for f in findings(state, self._memo)}
        self._keep_while_within_margin(state, current)
        for key in list(self._tracked):
            if key not in current:
                del self._tracked[key]
        alerts = []
        for key, finding in current.items():
            tracked = self._tracked.get(key)
            if tracked is None:
                tracked = self._tracked[key] = _Tracked(since=now)
            if tracked.finding is not finding:
                tracked.finding, tracked.alert = finding, None
            if tracked.level is Severity.OK and now - tracked.since < self.thresholds.hold_s:
                continue
            tracked.level = finding.severity
            if tracked.alert is None:
                tracked.alert = _alert(finding, tracked.since)
            alerts.append(tracked.alert)
        alerts.sort(key=lambda a: (a.severity != "critical", a.since or 0, a.subject))
        return tuple(alerts)

    def _keep_while_within_margin(self, state: ClusterState, current: dict[tuple[str, str], Finding]) -> None:
        """An active alert whose value slipped just under its threshold stays, at its level."""
        margin = self.thresholds.clear_margin_pct / 100
        for key, tracked in self._tracked.items():
            old = tracked.finding
            if tracked.level is Severity.OK or old is None or old.limit is None or key[1] not in LABELS:
                continue
            new = current.get(key)
            if new is not None and new.severity >= tracked.level:
                continue
            value = _fresh_value(state, key, old)
            if value is None:
                continue
            bound = old.limit.critical if tracked.level is Severity.CRITICAL else old.limit.warning
            floor = bound * (1 - margin)
            if value >= floor:
                label, unit = LABELS[key[1]]
                message = f"{key[0]}: {label} {value:.0f}{unit}, alert held until below {floor:.0f}{unit}"
                current[key] = Finding(key[0], key[1], tracked.level, message, value, old.limit)


def _fresh_value(state: ClusterState, key: tuple[str, str], old: Finding) -> float | None:
    """The metric's value in ``state`` (the finding may be gone because it fell below)."""
    subject, metric = key
    if metric == "latency":
        service = state.service(subject.removeprefix("service:"))
        return service.latency_s if service is not None and service.ok else None
    node_name, _, gpu_part = subject.partition("/")
    node = state.node(node_name)
    if node is None or node.status is not NodeStatus.UP:
        return None
    if gpu_part:
        index = int(gpu_part.removeprefix("gpu"))
        gpu = next((g for g in node.gpus if g.index == index), None)
        if gpu is None:
            return None
        return gpu.temp_c if metric == "gpu_temp" else gpu.power_w
    host = node.host
    if host is None:
        return None
    if metric == "cpu":
        return host.cpu_pct
    if metric == "ram":
        return host.mem_pct
    return host.worst_disk_pct


def _alert(finding: Finding, since: float) -> Alert:
    severity = "critical" if finding.severity is Severity.CRITICAL else "warning"
    threshold = None
    if finding.limit is not None:
        threshold = finding.limit.critical if severity == "critical" else finding.limit.warning
    return Alert(
        severity=severity,
        subject=finding.subject,
        metric=finding.metric,
        message=finding.message,
        value=finding.value,
        threshold=threshold,
        since=since,
    )
