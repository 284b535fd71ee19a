"""ClusterState: one frozen picture of the cluster per cycle, plus bounded history for sparklines.

History is the one shared, growing structure: copying ten minutes of every series into every state
would cost more than the rest of a cycle. Instead each point carries the cycle number it was
recorded in, and a state's :class:`HistoryView` shows only points up to its own cycle, so a state
read later still shows exactly what it showed when it was made.
"""

from __future__ import annotations

import math
from array import array
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


_TENTHS = 10
"""Points are kept in tenths: what every pane shows, and 2 bytes a point."""
_HOLE_B, _NAN_B = 255, 254
"""In the 1-byte form (whole numbers up to 253: dcgm-exporter's utilisation and temperature)."""
_HOLE_H, _NAN_H = 65535, 65534
"""In the 2-byte form: a cycle with no point (the node did not answer), and a point with no value."""
_HOLE_F = math.inf
"""The same in the float32 form (None is stored as NaN there)."""


class Ring:
    """One series' last ``capacity`` cycles, slot ``seq % capacity``, 1 or 2 bytes a cycle.

    At 2,000 nodes x 8 GPUs the history holds 70,000 series x 450 cycles: as ``(seq, value)``
    tuples in deques that grew to gigabytes within the 15 minutes; as float32 ~130 MB; as tenths in
    unsigned 16-bit integers ~65 MB; ~50 MB now that a series of whole numbers up to 253 (GPU
    utilisation and temperature, which dcgm-exporter and nvidia-smi report whole) takes 1 byte a
    point. A ring starts in that form and widens once for good: to tenths at its first fractional
    value (71.34 reads back 71.3; percents, degrees and watts are shown whole), up to 6553.3; to
    float32 at a value outside that (a negative one, a load average in the thousands). Reads like a
    sequence of ``(seq, value)`` pairs, oldest first.
    """

    __slots__ = ("count", "hole", "last", "values")

    def __init__(self, capacity: int) -> None:
        self.values = array("B", [_HOLE_B]) * capacity
        self.hole: float = _HOLE_B
        self.last = -1
        """The newest point's cycle; -1 while empty."""
        self.count = 0

    def _stored(self, value: float | None) -> float:
        hole = self.hole
        if hole == _HOLE_B:
            if value is None or value != value:
                return _NAN_B
            if 0 <= value <= 253:
                whole = int(value)
                if whole == value:
                    return whole
            self._widen()
            hole = self.hole
        if hole == _HOLE_H:
            if value is None or value != value:
                return _NAN_H
            if 0 <= value < 6553.35:
                return round(value * _TENTHS)
            self._widen()
        return math.nan if value is None else float(value)

    def _widen(self) -> None:
        """One step: whole bytes to tenths, tenths to float32, keeping every point held."""
        values, capacity, hole = self.values, len(self.values), self.hole
        # Only the slots still held (a new ring widens at its first point: 38,000 of them at
        # 16,000 GPUs, where walking every slot of each was a 0.4 s stall).
        held = []
        if self.count:
            for s in range(max(0, self.last - capacity + 1), self.last + 1):
                if values[s % capacity] != hole:
                    held.append((s % capacity, self._read(values[s % capacity])))
        if hole == _HOLE_B:
            self.values, self.hole = array("H", [_HOLE_H]) * capacity, _HOLE_H
        else:
            self.values, self.hole = array("f", [_HOLE_F]) * capacity, _HOLE_F
        values, stored = self.values, self._stored
        for slot, v in held:
            values[slot] = stored(v)

    def _read(self, v: float) -> float | None:
        hole = self.hole
        if hole == _HOLE_B:
            return None if v == _NAN_B else float(v)
        if hole == _HOLE_H:
            return None if v == _NAN_H else v / _TENTHS
        return None if v != v else round(v, 3)

    def add(self, seq: int, value: float | None) -> None:
        stored = self._stored(value)
        values = self.values
        capacity = len(values)
        if seq == self.last + 1 and self.last >= 0:  # the common case: the next cycle's point
            slot = seq % capacity
            if values[slot] == self.hole:
                self.count += 1
            values[slot] = stored
            self.last = seq
            return
        if seq > self.last:
            if self.count == 0:
                pass  # every slot is a hole already (a new ring)
            elif seq - self.last >= capacity:
                self.values = values = array(values.typecode, [self.hole]) * capacity  # type: ignore[arg-type]
                self.count = 0
            else:
                for s in range(self.last + 1, seq + 1):
                    if values[s % capacity] != self.hole:
                        values[s % capacity] = self.hole
                        self.count -= 1
            self.last = seq
        elif seq <= self.last - capacity:
            return  # older than anything kept
        slot = seq % capacity
        if values[slot] == self.hole:
            self.count += 1
        values[slot] = stored

    def __len__(self) -> int:
        return self.count

    def __iter__(self) -> Iterator[tuple[int, float | None]]:
        return iter(self.window(0, self.last + 1))

    def window(self, start: int, stop: int) -> list[tuple[int, float | None]]:
        """The points of cycles ``start`` to ``stop - 1`` still kept (a bucket's worth, not the ring)."""
        values, capacity, hole, read = self.values, len(self.values), self.hole, self._read
        out = []
        for s in range(max(start, self.last - capacity + 1, 0), min(stop, self.last + 1)):
            v = values[s % capacity]
            if v != hole:
                out.append((s, read(v)))
        return out

    def __getitem__(self, index: int) -> tuple[int, float | None]:
        """``ring[-1]`` and ``ring[-2]``: the newest points (what the recorder looks at)."""
        if index >= 0:
            return list(self)[index]
        values, capacity = self.values, len(self.values)
        wanted = -index
        for s in range(self.last, max(-1, self.last - capacity), -1):
            v = values[s % capacity]
            if v != self.hole:
                wanted -= 1
                if wanted == 0:
                    return s, self._read(v)
        raise IndexError(index)


class History:
    """A :class:`Ring` per series; the engine is the only writer."""

    def __init__(self, points: int) -> None:
        self.capacity = max(2, points)
        self._series: dict[SeriesKey, Ring] = {}
        self.derived: dict[SeriesKey, tuple[int, list[float | None]]] = {}
        """Values computed from a series, keyed like it; readers keep them (sparkline buckets)."""

    def add(self, key: SeriesKey, seq: int, value: float | None) -> None:
        self.ring(key).add(seq, value)

    def ring(self, key: SeriesKey) -> Ring:
        """The series' ring, made on first use; a writer may keep it (16,000 GPUs x 4 series a
        cycle cost less without a key tuple and a lookup per point)."""
        ring = self._series.get(key)
        if ring is None:
            ring = self._series[key] = Ring(self.capacity)
        return ring

    def values(self, key: SeriesKey, upto: int, last: int | None = None) -> list[float | None]:
        ring = self._series.get(key)
        if not ring:
            return []
        out = [v for s, v in ring if s <= upto]
        return out[-last:] if last else out

    def window(self, key: SeriesKey, start: int, stop: int) -> list[tuple[int, float | None]]:
        ring = self._series.get(key)
        return ring.window(start, stop) if ring else []

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
