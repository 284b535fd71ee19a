"""ClusterState: one frozen picture of the cluster per cycle, plus bounded history for sparklines.

History is the one shared, growing structure: copying ten minutes of every series into every state
would cost more than the rest of a cycle. Instead each point carries the cycle number it was
recorded in, and a state's :class:`HistoryView` shows only points up to its own cycle, so a state
read later still shows exactly what it showed when it was made.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Hashable, Iterator
from dataclasses import dataclass, field

from cockpit.config import Thresholds
from cockpit.fleet_reader import FleetView
from cockpit.model import (
    Alert,
    Container,
    GpuProcess,
    GpuReading,
    HostReading,
    NodeStatus,
    ServiceReading,
    Unit,
)
from cockpit.scale_model import ScaleView

SeriesKey = tuple[Hashable, ...]


class History:
    """Rings of ``(seq, value)`` per series; the engine is the only writer."""

    def __init__(self, points: int) -> None:
        self.capacity = max(2, points)
        self._series: dict[SeriesKey, deque[tuple[int, float | None]]] = {}
        self.derived: dict[SeriesKey, tuple[int, list[float | None]]] = {}
        """Values computed from a series, keyed like it; readers keep them (sparkline buckets)."""

    def add(self, key: SeriesKey, seq: int, value: float | None) -> None:
        ring = self._series.get(key)
        if ring is None:
            ring = self._series[key] = deque(maxlen=self.capacity)
        ring.append((seq, value))

    def values(self, key: SeriesKey, upto: int, last: int | None = None) -> list[float | None]:
        ring = self._series.get(key)
        if not ring:
            return []
        out = [v for s, v in ring if s <= upto]
        return out[-last:] if last else out

    def points(self, key: SeriesKey, upto: int) -> list[tuple[int, float | None]]:
        ring = self._series.get(key)
        return [(s, v) for s, v in ring if s <= upto] if ring else []

    def __len__(self) -> int:
        return len(self._series)


@dataclass(frozen=True, slots=True)
class HistoryView:
    history: History
    upto: int

    def values(self, *key: Hashable, last: int | None = None) -> list[float | None]:
        return self.history.values(tuple(key), self.upto, last)

    def points(self, *key: Hashable) -> list[tuple[int, float | None]]:
        return self.history.points(tuple(key), self.upto)


@dataclass(frozen=True, slots=True)
class NodeState:
    """What the cockpit knows about one node now."""

    name: str
    status: NodeStatus
    error: str | None = None
    last_ok: float | None = None
    host: HostReading | None = None
    gpus: tuple[GpuReading, ...] = ()
    gpu_error: str | None = None
    tags: tuple[str, ...] = ()
    has_gpu_probe: bool = True
    containers: tuple[Container, ...] = ()
    crash_looping: frozenset[str] = frozenset()
    """Names of containers restarting now or whose restart count rose recently."""
    units: tuple[Unit, ...] = ()
    procs: tuple[GpuProcess, ...] = ()
    probe_errors: tuple[str, ...] = ()
    """Optional probes that failed while the node answered ("containers: docker daemon down")."""

    def age(self, now: float) -> float | None:
        return None if self.last_ok is None else max(0.0, now - self.last_ok)

    @property
    def hottest_gpu(self) -> GpuReading | None:
        temps = [g for g in self.gpus if g.temp_c is not None]
        return max(temps, key=lambda g: g.temp_c or 0.0) if temps else None

    @property
    def gpu_power_w(self) -> float | None:
        values = [g.power_w for g in self.gpus if g.power_w is not None]
        return round(sum(values), 1) if values else None


@dataclass(frozen=True, slots=True)
class ClusterState:
    cluster: str
    seq: int
    at: float
    nodes: tuple[NodeState, ...]
    history: HistoryView
    refresh: float = 2.0
    thresholds: Thresholds = field(default_factory=Thresholds)
    alerts: tuple[Alert, ...] = ()
    services: tuple[ServiceReading, ...] = ()
    blocked_by: dict[str, str] = field(default_factory=dict)
    """A failing service -> the failing service it depends on that explains it (the root cause)."""
    fleet: FleetView | None = None
    scale: ScaleView | None = None
    """Prometheus (golden signals, panels) and Kubernetes pods, when configured."""
    """The rented fleet (P2P mesh, cloud instances, cost), when the config has any of it."""
    _index: dict[str, NodeState] = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        self._index.update((n.name, n) for n in self.nodes)

    def node(self, name: str) -> NodeState | None:
        return self._index.get(name)

    def service(self, name: str) -> ServiceReading | None:
        return next((s for s in self.services if s.name == name), None)

    def gpus(self) -> Iterator[tuple[NodeState, GpuReading]]:
        for node in self.nodes:
            for gpu in node.gpus:
                yield node, gpu

    def count(self, status: NodeStatus) -> int:
        return sum(1 for n in self.nodes if n.status is status)
