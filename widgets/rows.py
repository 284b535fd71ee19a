"""Pure renderers: the columns of each pane and ``state -> rows of (text, class) cells``.

Kept free of Textual so they are tested on plain states, k9s-style (render/node.go).
"""

from __future__ import annotations

import functools
import math
import weakref
import zlib
from collections.abc import Iterator, Sequence
from typing import Any

from cockpit import rules
from cockpit.model import Alert, GpuReading, NodeStatus
from cockpit.sanitize import clean
from cockpit.state import ClusterState, History, NodeState
from widgets.format import NA, SEVERITY_CLASS, age, bar, bucketed, num, pct, sparkline
from widgets.table_model import Cell, Column, Row

SPARK_SECONDS_PER_CHAR = 30
SPARK_WIDTH = 16
STATUS_CLASS = {NodeStatus.UP: "ok", NodeStatus.STALE: "stale", NodeStatus.DOWN: "down"}

# Deadbands: a change smaller than this is not repainted unless its severity changes, so an idle
# dashboard does not spend the operator's link on a load average moving by 0.1.
NODE_COLUMNS = (
    Column("node", "NODE", 16, 0),
    Column("status", "STATUS", 6, 0),
    Column("age", "AGE", 4, 3, "right"),
    Column("load", "LOAD", 5, 3, "right", deadband=0.5),
    Column("cpu", "CPU", 4, 1, "right", deadband=5),
    Column("mem", "MEM", 4, 1, "right", deadband=2),
    Column("disk", "DISK", 4, 2, "right", deadband=1),
    Column("gpus", "GPUS", 4, 2, "right"),
    Column("hot", "HOT", 5, 1, "right", deadband=3),
    Column("power", "POWER", 6, 4, "right", deadband=50),
    # INFO carries a down node's reason: it survives narrow terminals, and takes the spare width.
    Column("info", "INFO", 12, 1, flex=True),
)

GPU_COLUMNS = (
    Column("node", "NODE", 14, 0),
    Column("gpu", "#", 2, 0, "right"),
    Column("name", "MODEL", 14, 3),
    Column("util", "UTIL", 14, 0, deadband=8),
    Column("mem", "MEMORY", 10, 1, "right", deadband=0.5),
    Column("temp", "TEMP", 5, 0, "right", deadband=2),
    # GPU power's value is a percentage of its limit, so the deadband scales with the card.
    Column("power", "POWER", 9, 1, "right", deadband=5),
    Column("util_hist", f"UTIL {SPARK_WIDTH * SPARK_SECONDS_PER_CHAR // 60}m", SPARK_WIDTH, 3),
    Column("temp_hist", f"TEMP {SPARK_WIDTH * SPARK_SECONDS_PER_CHAR // 60}m", SPARK_WIDTH, 4),
)


ALERT_COLUMNS = (
    Column("severity", "SEV", 4, 0),
    Column("subject", "SUBJECT", 24, 0),
    Column("since", "SINCE", 5, 1, "right", deadband=10),
    Column("message", "ALERT", 20, 0, flex=True),
)


def _cls(severity: rules.Severity) -> str:
    return SEVERITY_CLASS[severity]


def _gpu_temp(state: ClusterState, node: NodeState, gpu: GpuReading | None) -> rules.Severity:
    if gpu is None:
        return rules.Severity.UNKNOWN
    return rules.judge(rules.gpu_temp_limit(state.thresholds, gpu, node.tags), gpu.temp_c)


def _measured(value: float | None, text: str, cls: str) -> Cell:
    """A cell that carries its number, for the column's deadband."""
    return (text, cls, value)


def node_age(node: NodeState, state: ClusterState) -> Cell:
    seconds = node.age(state.at)
    if seconds is None:
        return NA, "muted"
    if node.status is NodeStatus.UP and seconds < 1.5 * state.refresh:
        return "now", "muted"
    return age(seconds), STATUS_CLASS[node.status]


def node_row(node: NodeState, state: ClusterState) -> tuple[Cell, ...]:
    status_cls = STATUS_CLASS[node.status]
    name = (clean(node.name), status_cls if node.status is not NodeStatus.UP else "")
    status = (node.status.value.upper() if node.status is NodeStatus.DOWN else node.status.value,)
    if node.status is NodeStatus.DOWN:
        blank = (NA, "muted")
        info = (clean(node.error or "down"), "down")
        return (name, (*status, status_cls), node_age(node, state), *([blank] * 7), info)
    host = node.host
    hottest = node.hottest_gpu
    limits = state.thresholds
    load = host.load1 if host else None
    cpu = host.cpu_pct if host else None
    mem = host.mem_pct if host else None
    disk = host.worst_disk_pct if host else None
    hot = hottest.temp_c if hottest else None
    gpu_count: Cell
    if not node.has_gpu_probe:
        gpu_count = (NA, "muted")
    elif node.gpu_error:
        gpu_count = ("ERR", "critical")
    else:
        gpu_count = (str(len(node.gpus)), "")
    info_text = node.error or node.gpu_error or " ".join(node.tags)
    info_cls = "stale" if node.status is NodeStatus.STALE else ("warning" if node.error else "muted")
    return (
        name,
        (*status, status_cls),
        node_age(node, state),
        _measured(load, num(load, 1), ""),
        _measured(cpu, pct(cpu), _cls(rules.judge(rules.host_limit(limits, "cpu", node.tags), cpu))),
        _measured(mem, pct(mem), _cls(rules.judge(rules.host_limit(limits, "ram", node.tags), mem))),
        _measured(disk, pct(disk), _cls(rules.judge(rules.host_limit(limits, "disk", node.tags), disk))),
        gpu_count,
        _measured(hot, num(hot, 0, "°C"), _cls(_gpu_temp(state, node, hottest))),
        _measured(node.gpu_power_w, num(node.gpu_power_w, 0, "W"), ""),
        (clean(info_text), info_cls),
    )


_Kept = weakref.WeakKeyDictionary[History, tuple[object, dict[Any, Any]]]
"""Per history (one per engine): the thresholds some rows were judged with, and those rows."""


def _kept_rows(store: _Kept, state: ClusterState) -> dict[Any, Any]:
    """The rows ``store`` kept for this state's engine, or none if the thresholds changed since.
    Compared once a call: comparing the config model for each of 16,000 GPUs cost 80 ms a cycle."""
    judged_with, kept = store.get(state.history.history, (None, {}))
    if judged_with is not state.thresholds and judged_with != state.thresholds:
        return {}
    return kept


_NODE_ROWS: _Kept = weakref.WeakKeyDictionary()


def node_rows(state: ClusterState) -> list[Row]:
    return list(iter_node_rows(state))


def iter_node_rows(state: ClusterState) -> Iterator[Row]:
    """As :func:`iter_gpu_rows`: a node whose inputs (readings, status, age cell) are unchanged
    keeps its row."""
    cache = _kept_rows(_NODE_ROWS, state)
    fresh: dict[str, tuple[tuple[object, ...], Row]] = {}
    for node in state.nodes:
        host = node.host
        shown = None if host is None else (host.load1, host.cpu_pct, host.mem_pct, host.worst_disk_pct)
        inputs = (node.status, node.error, node.gpu_error, node.tags, node.has_gpu_probe, shown, node.gpus,
                  node_age(node, state))  # fmt: skip
        kept = cache.get(node.name)
        if kept is not None and kept[0] == inputs:
            row = kept[1]
        else:
            row = Row(node.name, node_row(node, state), node_fields(node))
        fresh[node.name] = (inputs, row)
        yield row
    _NODE_ROWS[state.history.history] = (state.thresholds, fresh)


def node_fields(node: NodeState) -> dict[str, object]:
    """What ``/`` may ask of a node beyond its cells: ``tag:inference``, ``temp>80``, ``gpu:5090``."""
    hottest = node.hottest_gpu
    return {
        "tags": node.tags,
        "temp_c": hottest.temp_c if hottest else None,
        "gpu_model": [short_gpu_name(g.name) for g in node.gpus],
        "status": node.status.value,
    }


@functools.lru_cache(maxsize=256)
def short_gpu_name(name: str | None) -> str:
    """Also one string per model: 16,000 rows of "H100 80GB HBM3" were 16,000 strings."""
    if not name:
        return NA
    for prefix in ("NVIDIA GeForce ", "NVIDIA "):
        name = name.removeprefix(prefix)
    return clean(name)


def _of_limit(gpu: GpuReading) -> float | None:
    return gpu.power_w if gpu.power_pct is None else gpu.power_pct


def _history(state: ClusterState, node: str, index: int, metric: str) -> list[float | None]:
    """Completed buckets only: the current value is in its own column, and a sparkline that
    changes once per bucket costs a few bytes a minute instead of a few every cycle."""
    return completed_buckets(state, node, index, metric, spark_cycles(state))


def spark_cycles(state: ClusterState, seconds: float = SPARK_SECONDS_PER_CHAR) -> int:
    """Cycles per sparkline character of ``seconds``."""
    return max(1, math.ceil(seconds / state.refresh))


def bucket_phase(node: str, per: int) -> int:
    """Where a node's buckets start within ``per`` cycles: spread over the nodes, so 1/``per`` of
    them completes a bucket each cycle. Aligned for every node, all 16,000 GPUs' sparklines moved on
    the same cycle, and with them every row's filter caches: a 1.5 s stall every 30 s."""
    return zlib.crc32(node.encode("utf-8", "surrogatepass")) % per if per > 1 else 0


def current_bucket(state: ClusterState, node: str, per: int) -> int:
    return (state.seq + bucket_phase(node, per)) // per


KEPT_BUCKETS = 30
"""Buckets kept per series: the widest sparkline's (the detail screen's). 16,000 GPUs keep two
lists each for as long as the cockpit runs, so the length and the floats in them count."""
_VALUES: dict[float, float] = {}
"""One float object per distinct bucket value: history is kept in tenths, so 32,000 lists of 30
share a few thousand floats instead of holding ~1 million (24 bytes each, ~23 MB)."""


def _one_of(table: dict[Any, Any], value: Any, bound: int) -> Any:
    """The object ``table`` holds equal to ``value`` (``value`` itself the first time). Past
    ``bound`` entries the table starts over: values that do not repeat cost no more than before."""
    if len(table) > bound:
        table.clear()
    return table.setdefault(value, value)


def _shared(values: list[float | None]) -> list[float | None]:
    return [None if v is None else _one_of(_VALUES, v, 65_536) for v in values]


def completed_buckets(
    state: ClusterState, node: str, index: int, metric: str, per: int
) -> list[float | None]:
    """Each completed bucket's max (buckets start at the node's :func:`bucket_phase`). Completed
    buckets never change, so they are computed once: when one more completes, only its ``per``
    points are read, not the whole ring again."""
    phase = bucket_phase(node, per)
    current = (state.seq + phase) // per
    cache = state.history.history.derived
    key = (node, index, metric, per)
    cached = cache.get(key)
    if cached is not None and cached[0] == current:
        return cached[1]
    series = (node, index, metric)
    if cached is not None and cached[0] == current - 1:
        newest = state.history.history.window(series, (current - 1) * per - phase, current * per - phase)
        buckets = (cached[1] + _shared(bucketed(newest, per, phase)))[-KEPT_BUCKETS:]
    else:
        points = state.history.points(*series)
        done = [p for p in points if (p[0] + phase) // per < current]
        buckets = _shared(bucketed(done, per, phase)[-KEPT_BUCKETS:])
    cache[key] = (current, buckets)
    return buckets


def gpu_row(node: NodeState, gpu: GpuReading, state: ClusterState) -> tuple[Cell, ...]:
    stale = node.status is not NodeStatus.UP or node.gpu_error is not None
    temp_cls = "stale" if stale else _cls(_gpu_temp(state, node, gpu))
    util = gpu.util_pct
    util_text = bar(None if util is None else util / 100, 9) + " " + pct(util).rjust(4)
    mem = NA
    mem_gib = None if gpu.mem_used_mib is None else gpu.mem_used_mib / 1024
    if mem_gib is not None and gpu.mem_total_mib:
        mem = f"{mem_gib:.1f}/{gpu.mem_total_mib / 1024:.0f}G"
    util_spark, temp_spark = _sparklines(state, node.name, gpu.index)
    power = num(gpu.power_w, 0)
    if gpu.power_limit_w is not None:
        power += f"/{gpu.power_limit_w:.0f}W"
    elif gpu.power_w is not None:
        power += "W"
    return (
        _shared_cell((clean(node.name), "stale" if stale else "")),
        _shared_cell((str(gpu.index), "")),
        _shared_cell((short_gpu_name(gpu.name), "muted")),
        _shared_cell(_measured(util, util_text, "stale" if stale else "info")),
        # No colour: vLLM and TGI preallocate ~90 % of GPU memory by design; full is normal.
        _measured(mem_gib, mem, "stale" if stale else ("muted" if mem_gib is None else "")),
        _shared_cell(_measured(gpu.temp_c, num(gpu.temp_c, 0, "°C"), temp_cls)),
        _measured(
            _of_limit(gpu),
            power,
            "stale" if stale else _cls(rules.gpu_power(gpu, state.thresholds, node.tags)),
        ),
        (util_spark, "info"),
        (temp_spark, temp_cls),
    )


_CELLS: dict[Cell, Cell] = {}
"""One object per distinct cell of the columns whose values repeat (a node's name on each of its
GPUs' rows, the model, utilisation and temperature, which dcgm-exporter reports whole): at
16,000 rows, ~5 MB of equal tuples and strings fewer."""


def _shared_cell(cell: Cell) -> Cell:
    return _one_of(_CELLS, cell, 100_000)  # type: ignore[no-any-return]


def _sparklines(state: ClusterState, node: str, index: int) -> tuple[str, str]:
    """A GPU row's two sparklines: utilisation and temperature (the last two cells)."""
    return (
        sparkline(_history(state, node, index, "util"), SPARK_WIDTH, 0, 100),
        sparkline(_history(state, node, index, "temp"), SPARK_WIDTH, 30, 90),
    )


_GpuCache = dict[int, tuple[tuple[object, ...], int, Row]]
"""Per GPU: what its row was built from (all but the sparkline bucket), the bucket, the row."""
_GPU_ROWS: _Kept = weakref.WeakKeyDictionary()
"""Per node: what its rows were built from, the rows, and each GPU's :data:`_GpuCache` entry."""


def gpu_rows(state: ClusterState) -> list[Row]:
    return list(iter_gpu_rows(state))


def iter_gpu_rows(state: ClusterState) -> Iterator[Row]:
    """At 16,000 GPUs building every row costs most of a second, and most cycles repeat the last
    scrape: a node whose GPU readings, status, tags and sparkline bucket are unchanged keeps its
    rows, and within a node that changed, so does each GPU that did not (the same objects, so the
    table skips them by identity too). A generator, so the screen can build them a slice at a
    time between keys; what was built is kept for the next state once the last row is taken."""
    cache = _kept_rows(_GPU_ROWS, state)
    per = spark_cycles(state)
    fresh: dict[str, tuple[tuple[object, ...], list[Row], _GpuCache]] = {}
    for node in state.nodes:
        if not node.gpus:
            continue
        bucket = current_bucket(state, node.name, per)
        head = (node.gpus, node.status, node.gpu_error is None, node.tags, bucket, state.refresh)
        kept_node = cache.get(node.name)
        if kept_node is not None and kept_node[0] == head:
            fresh[node.name] = kept_node
            yield from kept_node[1]
            continue
        kept_gpus = kept_node[2] if kept_node is not None else {}
        node_rows: list[Row] = []
        built: _GpuCache = {}
        for gpu in node.gpus:
            inputs = (gpu, node.status, node.gpu_error is None, node.tags, state.refresh)
            kept = kept_gpus.get(gpu.index)
            if kept is not None and kept[0] == inputs and kept[1] == bucket:
                row = kept[2]
            elif kept is not None and kept[0] == inputs:
                # Only the sparkline bucket moved (the node's GPUs all at once): the other cells stand.
                old = kept[2].cells
                util, temp = _sparklines(state, node.name, gpu.index)
                row = Row(kept[2].key, (*old[:-2], (util, old[-2][1]), (temp, old[-1][1])), kept[2].fields)
            else:
                row = Row((node.name, gpu.index), gpu_row(node, gpu, state), gpu_fields(node, gpu))
            built[gpu.index] = (inputs, bucket, row)
            node_rows.append(row)
        fresh[node.name] = (head, node_rows, built)
        yield from node_rows
    _GPU_ROWS[state.history.history] = (state.thresholds, fresh)


def gpu_fields(node: NodeState, gpu: GpuReading) -> dict[str, object]:
    """Filterable in real units (``power>300``, ``mem>90``), not as the cells show them."""
    return {
        "tags": node.tags,
        "temp_c": gpu.temp_c,
        "util_pct": gpu.util_pct,
        "mem_pct": gpu.mem_pct,
        "power_w": gpu.power_w,
        "gpu_model": short_gpu_name(gpu.name),
        "status": node.status.value,
    }


def _total_power(watts: float) -> str:
    """Coarse on purpose: the summary line is resent whole whenever its text changes."""
    if watts >= 10_000:
        return f"{watts / 1000:.0f} kW"
    if watts >= 1000:
        return f"{watts / 1000:.1f} kW"
    return f"{round(watts, -1):.0f} W"


def _fleet_summary(state: ClusterState) -> str:
    """$/h first (runbook 001's "Hourly"), then the mesh's leader: coarse, so it changes rarely."""
    fleet = state.fleet
    if fleet is None:
        return ""
    parts = []
    if fleet.cost is not None:
        parts.append(f"${fleet.cost.total_usd_h:,.2f}/h")
    leaders = sorted({r.effective_leader_id or r.leader_id or "" for r in fleet.mesh if r.reachable} - {""})
    if len(leaders) > 1:
        parts.append(f"PARTITION: leaders {', '.join(clean(x) for x in leaders)}")
    elif leaders:
        parts.append(f"leader {clean(leaders[0])}")
    return "  ·  ".join(parts)


def summary(state: ClusterState) -> str:
    """The one-line header: counts first, since that is what an operator scans for."""
    up = state.count(NodeStatus.UP)
    stale = state.count(NodeStatus.STALE)
    down = state.count(NodeStatus.DOWN)
    gpus = [g for _, g in state.gpus()]
    power = sum(g.power_w for g in gpus if g.power_w is not None)
    hot = max((g.temp_c for g in gpus if g.temp_c is not None), default=None)
    critical = sum(1 for a in state.alerts if a.severity == "critical")
    parts = [
        clean(state.cluster),
        f"{len(state.alerts)} alert{'s' * (len(state.alerts) != 1)} ({critical} critical)"
        if state.alerts
        else "no alerts",
        f"{len(state.nodes)} nodes: {up} up, {stale} stale, {down} down",
        f"{len(gpus)} GPUs",
        _total_power(power) if gpus else "",
        f"hottest {hot:.0f}°C" if hot is not None else "",
        _fleet_summary(state),
        f"every {state.refresh:g}s",
    ]
    return "  ·  ".join(p for p in parts if p)


def alert_rows(
    state: ClusterState, alerts: Sequence[Alert] | None = None
) -> list[tuple[tuple[str, str], tuple[Cell, ...]]]:
    """Sorted as the engine sorts them: critical first, then the oldest."""
    alerts = state.alerts if alerts is None else alerts
    if not alerts:
        return [(("", ""), (("", ""), ("", ""), ("", ""), ("no alerts", "ok")))]
    rows = []
    for alert in alerts:
        critical = alert.severity == "critical"
        cls = "critical" if critical else "warning"
        since = None if alert.since is None else max(0.0, state.at - alert.since)
        rows.append(
            Row(
                (alert.subject, alert.metric),
                (
                    ("CRIT" if critical else "WARN", cls),
                    (clean(alert.subject), cls),
                    (age(since), "muted", since),
                    (clean(alert.message.removeprefix(f"{alert.subject}: ")), ""),
                ),
                {"severity": alert.severity, "metric": alert.metric, "node": alert.subject.partition("/")[0]},
            )
        )
    return rows
