"""Pure renderers for the node detail screen: every GPU with a longer history, disks, its alerts."""

from __future__ import annotations

from cockpit.model import Alert
from cockpit.sanitize import clean
from cockpit.state import ClusterState, NodeState
from widgets.format import age, gib, num, pct, sparkline
from widgets.rows import KEPT_BUCKETS, completed_buckets, gpu_row, spark_cycles
from widgets.table_model import Cell, Column

DETAIL_SECONDS_PER_CHAR = 30
DETAIL_SPARK = KEPT_BUCKETS
"""30 characters of 30 s: the whole 15 minutes the engine keeps (the dashboard shows 8), and as
many buckets as every series keeps."""

DETAIL_GPU_COLUMNS = (
    Column("gpu", "#", 2, 0, "right"),
    Column("name", "MODEL", 14, 2),
    Column("util", "UTIL", 14, 0, deadband=8),
    Column("mem", "MEMORY", 10, 1, "right", deadband=0.5),
    Column("temp", "TEMP", 5, 0, "right", deadband=2),
    Column("power", "POWER", 9, 1, "right", deadband=5),
    Column("util_hist", "UTIL 15m", DETAIL_SPARK, 3),
    Column("temp_hist", "TEMP 15m", DETAIL_SPARK, 4),
)

DISK_COLUMNS = (
    Column("mount", "MOUNT", 20, 0),
    Column("used", "USED", 5, 0, "right", deadband=0.5),
    Column("size", "SIZE", 9, 1, "right"),
    Column("avail", "FREE", 9, 1, "right", deadband=1),
    Column("fs", "FILESYSTEM", 20, 2, flex=True),
)


def _detail_history(state: ClusterState, node: str, index: int, metric: str) -> list[float | None]:
    return completed_buckets(state, node, index, metric, spark_cycles(state, DETAIL_SECONDS_PER_CHAR))


def detail_gpu_rows(state: ClusterState, node: NodeState) -> list[tuple[int, tuple[Cell, ...]]]:
    rows = []
    for gpu in node.gpus:
        cells = gpu_row(node, gpu, state)
        temp_cls = cells[5][1]
        rows.append(
            (
                gpu.index,
                (
                    *cells[1:7],
                    (
                        sparkline(_detail_history(state, node.name, gpu.index, "util"), DETAIL_SPARK, 0, 100),
                        "info",
                    ),
                    (
                        sparkline(_detail_history(state, node.name, gpu.index, "temp"), DETAIL_SPARK, 30, 90),
                        temp_cls,
                    ),
                ),
            )
        )
    return rows


def disk_rows(node: NodeState) -> list[tuple[str, tuple[Cell, ...]]]:
    if node.host is None:
        return []
    rows = []
    for disk in sorted(node.host.disks, key=lambda d: -(d.used_pct or 0)):
        used = disk.used_pct
        cls = "critical" if (used or 0) > 90 else "warning" if (used or 0) >= 80 else ""
        rows.append(
            (
                disk.mount,
                (
                    (clean(disk.mount), ""),
                    (pct(used), cls, used),
                    (gib(disk.size_bytes), "muted"),
                    (
                        gib(disk.avail_bytes),
                        "muted",
                        None if disk.avail_bytes is None else disk.avail_bytes / 2**30,
                    ),
                    (clean(disk.filesystem), "muted"),
                ),
            )
        )
    return rows


def node_alerts(state: ClusterState, node: str) -> list[Alert]:
    return [a for a in state.alerts if a.subject == node or a.subject.startswith(f"{node}/")]


def node_header(state: ClusterState, node: NodeState) -> str:
    """One line: status, age, load, memory, uptime, tags; what an operator checks first."""
    host = node.host
    parts = [clean(node.name), node.status.value]
    seconds = node.age(state.at)
    parts.append(f"updated {age(seconds)} ago" if seconds is not None else "never answered")
    if host is not None:
        parts.append(f"load {num(host.load1, 2)}")
        parts.append(f"cpu {pct(host.cpu_pct)}")
        if host.mem_total_bytes:
            parts.append(f"mem {gib(host.mem_used_bytes)}/{gib(host.mem_total_bytes)}")
        if host.uptime_s is not None:
            parts.append(f"up {age(host.uptime_s)}")
    if node.tags:
        parts.append(" ".join(clean(t) for t in node.tags))
    if node.error:
        parts.append(clean(node.error))
    return "  ·  ".join(parts)
