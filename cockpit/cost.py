"""What the cluster costs per hour, today and this month: pure arithmetic over readings.

Two parts. :func:`hourly_rates` turns one cycle's readings into rates: rented instances by Vast's
own price (``dph_total`` while GPU-billed, ``storage_total_cost`` otherwise; runbook 001's "Hourly"
line is the first sum), owned nodes by energy ((GPU draw from the GPU probes + the node's base
draw from config) x price per kWh). :class:`CostMeter` integrates those rates over time: a rate
applies from the cycle it was read until the next one, so an instance stopped at 10:30 is billed
for the half hour it ran, not for the hour nor for nothing. Sums are split at local midnight and at
the first of the month (23- and 25-hour days included).

The cockpit only knows what it saw: a gap longer than ``max_gap_s`` (the cockpit was closed) is not
billed from a guess. Projections fill every unobserved part of the day or month, past or future,
at the current rate, and the reading says how much was observed.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, tzinfo

import cockpit.config  # noqa: F401  (config loads fleet_config at its end: it must come first)
from cockpit.fleet_config import CostConfig
from cockpit.fleet_model import CostReading, Instance, InstancesReading
from cockpit.model import GpuReading


@dataclass(frozen=True, slots=True)
class Rates:
    """One cycle's hourly rates and GPU counts; :class:`CostMeter` dates and sums them."""

    at: float
    cloud_usd_h: float = 0.0
    storage_usd_h: float = 0.0
    energy_usd_h: float | None = None
    energy_watts: float | None = None
    gpus: int = 0
    busy_gpus: int = 0
    idle_usd_h: float = 0.0
    notes: tuple[str, ...] = ()

    @property
    def total_usd_h(self) -> float:
        return self.cloud_usd_h + self.storage_usd_h + (self.energy_usd_h or 0.0)


def cloud_rates(instances: Iterable[Instance], idle_util_pct: float) -> tuple[float, float, int, int, float]:
    """(GPU-billed $/h, storage-only $/h, GPUs, busy GPUs, idle $/h) of the rented instances."""
    billed = storage = idle = 0.0
    gpus = busy = 0
    for inst in instances:
        if inst.gpu_billed:
            price = inst.dph_total or 0.0
            billed += price
            count = inst.num_gpus or 0
            gpus += count
            if inst.gpu_util is not None and inst.gpu_util >= idle_util_pct:
                busy += count
            else:
                idle += price
        elif inst.actual_status not in ("destroyed",):
            storage += inst.storage_usd_h or 0.0
    return billed, storage, gpus, busy, idle


def energy_rates(
    node_gpus: Mapping[str, Sequence[GpuReading] | None],
    cost: CostConfig,
    owned: Iterable[str],
    idle_util_pct: float,
) -> tuple[float, float, int, int, tuple[str, ...]]:
    """(watts, $/h, GPUs, busy GPUs, notes) of the owned nodes."""
    watts = 0.0
    gpus = busy = 0
    notes: list[str] = []
    for node in owned:
        watts += cost.base_watts(node)
        readings = node_gpus.get(node)
        if readings is None:
            notes.append(f"no GPU power from {node}")
            continue
        for gpu in readings:
            gpus += 1
            if gpu.util_pct is not None and gpu.util_pct >= idle_util_pct:
                busy += 1
            if gpu.power_w is None:
                notes.append(f"no power reading for {node}/gpu{gpu.index}")
            else:
                watts += gpu.power_w
    return watts, watts / 1000.0 * cost.usd_per_kwh, gpus, busy, tuple(notes)


def rented_nodes(node_names: Iterable[str], instances: Iterable[Instance]) -> set[str]:
    """Cluster nodes that are rented instances (named ``vast-<id>`` or after a label): no energy bill."""
    names: set[str] = set()
    for inst in instances:
        names.add(f"vast-{inst.id}")
        if inst.label:
            names.add(inst.label.lower())
    return {n for n in node_names if n.lower() in names}


def hourly_rates(
    at: float,
    instances: InstancesReading | Sequence[Instance] | None,
    node_gpus: Mapping[str, Sequence[GpuReading] | None],
    cost: CostConfig | None,
    *,
    idle_util_pct: float = 10.0,
) -> Rates:
    """This cycle's rates. ``node_gpus``: every cluster node's GPU readings, None if not read."""
    notes: list[str] = []
    if isinstance(instances, InstancesReading):
        listed = instances.instances
        if not instances.ok:
            age = instances.age_s
            notes.append(f"cloud data {age / 60:.0f} min old" if age is not None else "no cloud data")
    else:
        listed = tuple(instances or ())
    billed, storage, gpus, busy, idle = cloud_rates(listed, idle_util_pct)
    energy = watts = None
    if cost is not None:
        owned = (
            cost.owned_nodes
            if cost.owned_nodes is not None
            else sorted(set(node_gpus) - rented_nodes(node_gpus, listed))
        )
        watts, energy, own_gpus, own_busy, energy_notes = energy_rates(node_gpus, cost, owned, idle_util_pct)
        gpus += own_gpus
        busy += own_busy
        notes.extend(energy_notes)
    return Rates(at, billed, storage, energy, watts, gpus, busy, idle, tuple(notes))


# -- integration over time ---------------------------------------------------------------------


def _midnight(moment: datetime, tz: tzinfo | None) -> float:
    naive = datetime(moment.year, moment.month, moment.day)
    return (naive.replace(tzinfo=tz) if tz else naive.astimezone()).timestamp()


def day_bounds(t: float, tz: tzinfo | None = None) -> tuple[float, float]:
    """Local midnight before ``t`` and after it, as epoch seconds (a DST day is 23 or 25 hours)."""
    moment = datetime.fromtimestamp(t, tz) if tz else datetime.fromtimestamp(t)
    start = _midnight(moment, tz)
    following = datetime.fromordinal(moment.toordinal() + 1)
    return start, _midnight(following, tz)


def month_bounds(t: float, tz: tzinfo | None = None) -> tuple[float, float]:
    moment = datetime.fromtimestamp(t, tz) if tz else datetime.fromtimestamp(t)
    first = moment.replace(day=1)
    following = (
        first.replace(year=first.year + 1, month=1)
        if first.month == 12
        else first.replace(month=first.month + 1)
    )
    return _midnight(first, tz), _midnight(following, tz)


@dataclass
class _Bucket:
    start: float
    end: float
    usd: float = 0.0
    observed_s: float = 0.0

    def projection(self, rate_usd_h: float) -> float:
        unobserved = max(0.0, (self.end - self.start) - self.observed_s)
        return self.usd + rate_usd_h * unobserved / 3600.0


class CostMeter:
    """Integrates $/h over time into today's and this month's spend; keeps a $/h history."""

    def __init__(
        self,
        *,
        tz: tzinfo | None = None,
        max_gap_s: float = 600.0,
        history_points: int = 1440,
        history_step_s: float = 60.0,
    ) -> None:
        self.tz = tz
        self.max_gap_s = max_gap_s
        self.history_step_s = history_step_s
        self._history: deque[tuple[float, float]] = deque(maxlen=history_points)
        self._last: tuple[float, float] | None = None
        self._day: _Bucket | None = None
        self._month: _Bucket | None = None

    def history(self) -> tuple[tuple[float, float], ...]:
        """``(at, total $/h)``, oldest first, at most one point per ``history_step_s``."""
        return tuple(self._history)

    def add(self, at: float, usd_h: float) -> None:
        """Bill the previous rate up to ``at`` (at most ``max_gap_s`` of it), then start the new one."""
        if self._last is not None:
            then, rate = self._last
            if at < then:
                return  # the clock went backwards: keep the later sample
            self._accrue(then, min(at, then + self.max_gap_s), rate)
        self._roll(at)
        self._last = (at, usd_h)
        if not self._history or at - self._history[-1][0] >= self.history_step_s:
            self._history.append((at, usd_h))

    def _roll(self, at: float) -> None:
        if self._day is None or not self._day.start <= at < self._day.end:
            self._day = _Bucket(*day_bounds(at, self.tz))
        if self._month is None or not self._month.start <= at < self._month.end:
            self._month = _Bucket(*month_bounds(at, self.tz))

    def _accrue(self, start: float, end: float, rate: float) -> None:
        while start < end:
            self._roll(start)
            assert self._day is not None and self._month is not None
            stop = min(end, self._day.end, self._month.end)
            seconds = stop - start
            for bucket in (self._day, self._month):
                bucket.usd += rate * seconds / 3600.0
                bucket.observed_s += seconds
            start = stop

    def spent(self) -> tuple[float, float]:
        """(today, this month) so far."""
        return (self._day.usd if self._day else 0.0, self._month.usd if self._month else 0.0)

    def observe(self, rates: Rates, currency: str = "USD") -> CostReading:
        """Add this cycle's rates and return the reading the cost pane draws."""
        total = rates.total_usd_h
        self.add(rates.at, total)
        assert self._day is not None and self._month is not None
        busy = rates.busy_gpus
        return CostReading(
            at=rates.at,
            cloud_usd_h=rates.cloud_usd_h,
            storage_usd_h=rates.storage_usd_h,
            energy_usd_h=rates.energy_usd_h,
            energy_watts=rates.energy_watts,
            total_usd_h=total,
            today_usd=self._day.usd,
            today_projection_usd=self._day.projection(total),
            month_usd=self._month.usd,
            month_projection_usd=self._month.projection(total),
            gpus=rates.gpus,
            busy_gpus=busy,
            usd_per_busy_gpu_hour=total / busy if busy else None,
            idle_usd_h=rates.idle_usd_h,
            currency=currency,
            notes=rates.notes,
        )
