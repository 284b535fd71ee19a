"""What one Prometheus cycle produced: per-node readings, targets, golden signals, panels, alerts.

Frozen like the rest of the vocabulary (:mod:`cockpit.model`); the per-node parts are the *same*
:class:`HostReading` and :class:`GpuReading` the SSH probes produce, so every pane, rule and alert works
on a node whatever source read it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from cockpit.model import GpuReading, HostReading, NodeReading, ProbeError


@dataclass(frozen=True, slots=True)
class Target:
    """One scrape target as ``up`` reports it."""

    job: str
    instance: str
    up: bool


@dataclass(frozen=True, slots=True)
class PromNode:
    """One node as Prometheus knows it; ``gpus`` is None where no dcgm-exporter series name it."""

    name: str
    targets: tuple[Target, ...] = ()
    host: HostReading | None = None
    gpus: tuple[GpuReading, ...] | None = None
    discovered: bool = False
    """Found among ``up{job=...}`` targets rather than listed in ``nodes:``."""

    @property
    def down(self) -> bool:
        """Every target of the node failed its last scrape (``up == 0``)."""
        return bool(self.targets) and not any(t.up for t in self.targets)

    @property
    def down_targets(self) -> tuple[Target, ...]:
        return tuple(t for t in self.targets if not t.up)

    @property
    def down_reason(self) -> str | None:
        if not self.down_targets:
            return None
        names = ", ".join(f"{t.instance} ({t.job})" for t in self.down_targets[:3])
        more = len(self.down_targets) - 3
        return f"scrape failed: {names}" + (f" and {more} more" if more > 0 else "")

    def reading(self, at: float) -> NodeReading:
        """As the engine's per-node reading; a partly down node keeps what answered, with a warning."""
        if self.down:
            error = ProbeError("prometheus", self.down_reason or "all targets down")
            return NodeReading(at=at, host=error, gpus=error)
        extra = (ProbeError("prometheus", self.down_reason),) if self.down_reason else ()
        return NodeReading(at=at, host=self.host, gpus=self.gpus, extra_errors=extra)


@dataclass(frozen=True, slots=True)
class Signal:
    """One inference golden-signal value: ``metric`` is one of :data:`SIGNALS`."""

    metric: str
    subject: str
    """``vllm:MODEL@NODE`` or ``ray:APPLICATION/DEPLOYMENT``."""
    value: float | None
    node: str | None = None


SIGNALS = {
    "kv_cache": "KV cache",
    "running": "running requests",
    "waiting": "waiting requests",
    "ttft_p95_s": "TTFT p95",
    "gen_tokens_s": "generation tokens/s",
    "replicas": "replicas",
    "replicas_healthy": "healthy replicas",
    "replica_restarts": "replica restarts (5 min)",
}


@dataclass(frozen=True, slots=True)
class PanelSeries:
    labels: str
    """``k=v, k=v`` of the series (sanitized); "" for a scalar or a label-less result."""
    value: float | None


@dataclass(frozen=True, slots=True)
class PanelValue:
    """A custom panel's answer this cycle, or why there is none."""

    name: str
    unit: str
    series: tuple[PanelSeries, ...] = ()
    error: str | None = None


@dataclass(frozen=True, slots=True)
class PromAlert:
    """One alert from Prometheus's ``/api/v1/alerts`` (its rules, not ours)."""

    name: str
    state: str
    """``firing`` or ``pending``."""
    severity: str | None
    summary: str
    labels: tuple[tuple[str, str], ...] = ()
    active_at: float | None = None
    value: str | None = None


@dataclass(frozen=True, slots=True)
class PromReading:
    """Everything one cycle read; when Prometheus fails, the last good data with ``error`` set."""

    at: float
    nodes: tuple[PromNode, ...] = ()
    missing: tuple[str, ...] = ()
    """Configured nodes no series names (not scraped by this Prometheus, or a label mismatch)."""
    signals: tuple[Signal, ...] = ()
    panels: tuple[PanelValue, ...] = ()
    alerts: tuple[PromAlert, ...] = ()
    errors: tuple[ProbeError, ...] = ()
    """Queries that failed while the rest answered (a panel's bad PromQL, the alerts endpoint)."""
    error: str | None = None
    """Prometheus itself could not be read this cycle; the data above is from ``last_good``."""
    last_good: float | None = None
    _index: dict[str, PromNode] = field(default_factory=dict, init=False, repr=False, compare=False)

    @property
    def age_s(self) -> float | None:
        """Seconds since the data was read (0 when this cycle succeeded)."""
        return None if self.last_good is None else max(0.0, self.at - self.last_good)

    def node(self, name: str) -> PromNode | None:
        """By name, through an index built on first use: the engine asks once per node per cycle."""
        index = self._index
        if not index and self.nodes:
            index.update((n.name, n) for n in self.nodes)
        return index.get(name)

    @property
    def down(self) -> tuple[str, ...]:
        return tuple(n.name for n in self.nodes if n.down)

    @property
    def discovered(self) -> tuple[str, ...]:
        return tuple(n.name for n in self.nodes if n.discovered)
