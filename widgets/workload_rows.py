"""Pure renderers for what runs on the nodes: containers, systemd units, services, GPU processes.

Same contract as :mod:`widgets.rows`: ``state -> [(key, cells)]``, no Textual, remote text cleaned.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from cockpit.config import ServiceConfig
from cockpit.model import Container, GpuProcess, NodeStatus, ServiceReading, Unit
from cockpit.sanitize import clean
from cockpit.state import ClusterState, NodeState
from widgets.format import NA, age, num
from widgets.table_model import Cell, Column

CONTAINER_COLUMNS = (
    Column("node", "NODE", 14, 0),
    Column("name", "CONTAINER", 18, 0),
    Column("state", "STATE", 10, 0),
    Column("restarts", "RST", 4, 1, "right"),
    Column("project", "PROJECT", 12, 2),
    Column("image", "IMAGE", 20, 3),
    Column("ports", "PORTS", 16, 4),
    Column("status", "STATUS", 16, 1, flex=True),
)

UNIT_COLUMNS = (
    Column("node", "NODE", 14, 0),
    Column("unit", "UNIT", 18, 0),
    Column("active", "ACTIVE", 10, 0),
    Column("sub", "SUB", 12, 2),
    Column("since", "SINCE", 6, 1, "right", deadband=10),
)

SERVICE_COLUMNS = (
    Column("service", "SERVICE", 14, 0),
    Column("state", "STATE", 8, 0),
    Column("latency", "LATENCY", 7, 1, "right", deadband=0.2),
    Column("code", "HTTP", 4, 2, "right"),
    Column("node", "NODE", 14, 3),
    Column("depends", "DEPENDS ON", 16, 4),
    Column("detail", "DETAIL", 16, 1, flex=True),
)

PROC_COLUMNS = (
    Column("gpu", "GPU", 3, 0, "right"),
    Column("pid", "PID", 8, 0, "right"),
    Column("name", "PROCESS", 20, 0),
    Column("mem", "MEMORY", 9, 1, "right", deadband=64),
    Column("container", "CONTAINER", 16, 0, flex=True),
)

STATE_CLASS = {
    "running": "ok",
    "restarting": "critical",
    "exited": "muted",
    "dead": "critical",
    "paused": "warning",
    "created": "muted",
}
UNIT_CLASS = {"active": "ok", "failed": "critical", "activating": "warning", "deactivating": "warning"}


def _up(nodes: Iterable[NodeState]) -> Iterable[NodeState]:
    """Workloads of a node that is down are unknown now; showing the old ones would mislead."""
    return (n for n in nodes if n.status is not NodeStatus.DOWN)


def container_row(node: NodeState, container: Container) -> tuple[Cell, ...]:
    looping = container.name in node.crash_looping
    state = container.state or ("running" if container.status.startswith("Up") else NA)
    if looping:
        state_cell: Cell = ("crashloop", "critical")
    elif state == "exited" and container.exit_code not in (None, 0):
        state_cell = (f"exit {container.exit_code}", "warning")
    else:
        state_cell = (state, STATE_CLASS.get(state, ""))
    restarts = container.restart_count
    return (
        (clean(node.name), "stale" if node.status is NodeStatus.STALE else ""),
        (clean(container.name), "critical" if looping else ""),
        state_cell,
        (num(restarts, 0) if restarts is not None else NA, "critical" if looping else "muted"),
        (clean(container.project or ""), "muted"),
        (clean(container.image), "muted"),
        (clean(container.ports), "muted"),
        (clean(container.status), "muted"),
    )


def container_rows(
    state: ClusterState, node: str | None = None
) -> list[tuple[tuple[str, str], tuple[Cell, ...]]]:
    """Crash-looping first (what the operator came for), then by node, project and name."""
    rows = []
    for n in _up(state.nodes):
        if node is not None and n.name != node:
            continue
        for c in n.containers:
            key = (c.name not in n.crash_looping, n.name, c.project or "", c.name)
            rows.append((key, (n.name, c.name), container_row(n, c)))
    rows.sort(key=lambda r: r[0])
    return [(k, cells) for _, k, cells in rows]


def unit_row(node: NodeState, unit: Unit, now: float) -> tuple[Cell, ...]:
    since = None if unit.since is None else max(0.0, now - unit.since)
    active = "not-found" if unit.load == "not-found" else unit.active
    return (
        (clean(node.name), ""),
        (clean(unit.name), ""),
        (clean(active), UNIT_CLASS.get(active, "warning")),
        (clean(unit.sub), "muted"),
        (age(since), "muted", since),
    )


def unit_rows(state: ClusterState, node: str | None = None) -> list[tuple[tuple[str, str], tuple[Cell, ...]]]:
    return [
        ((n.name, u.name), unit_row(n, u, state.at))
        for n in _up(state.nodes)
        if node is None or n.name == node
        for u in n.units
    ]


def service_row(
    service: ServiceReading, state: ClusterState, config: ServiceConfig | None
) -> tuple[Cell, ...]:
    root = state.blocked_by.get(service.name)
    if service.ok:
        status: Cell = ("ok", "ok")
        detail: Cell = (clean(service.detail or ""), "muted")
    elif root is not None:
        status = ("blocked", "warning")
        detail = (f"blocked by {clean(root)}: {clean(service.error or '')}", "warning")
    else:
        status = ("DOWN", "critical")
        detail = (clean(service.error or "down"), "critical")
    latency = service.latency_s
    latency_cls = "muted"
    if latency is not None and service.ok:
        limit = state.thresholds.latency
        latency_cls = (
            "critical" if latency > limit.critical else "warning" if latency >= limit.warning else ""
        )
    code = service.status_code
    return (
        (clean(service.name), "critical" if status[0] == "DOWN" else ""),
        status,
        (
            NA if latency is None else f"{latency * 1000:.0f}ms" if latency < 1 else f"{latency:.1f}s",
            latency_cls,
            latency,
        ),
        (NA if code is None else str(code), "muted" if code is None or code < 400 else "critical"),
        (clean(config.node or "") if config else "", "muted"),
        (", ".join(clean(d) for d in config.depends_on) if config else "", "muted"),
        detail,
    )


def service_rows(
    state: ClusterState, configs: Mapping[str, ServiceConfig] | None = None
) -> list[tuple[str, tuple[Cell, ...]]]:
    """Root causes first, then what they block, then the healthy: the operator reads top-down."""
    configs = configs or {}

    def rank(s: ServiceReading) -> int:
        if s.ok:
            return 2
        return 1 if s.name in state.blocked_by else 0

    ordered = sorted(state.services, key=lambda s: (rank(s), s.name))
    return [(s.name, service_row(s, state, configs.get(s.name))) for s in ordered]


def proc_rows(node: NodeState) -> list[tuple[int, tuple[Cell, ...]]]:
    """GPU processes with the container that owns each (from /proc/PID/cgroup on the node)."""
    by_uuid = {g.uuid: g.index for g in node.gpus if g.uuid}
    names = {c.id: c.name for c in node.containers}
    rows = []
    for proc in sorted(node.procs, key=lambda p: (by_uuid.get(p.gpu_uuid or "", -1), p.pid)):
        rows.append((proc.pid, proc_row(proc, by_uuid, names)))
    return rows


def proc_row(proc: GpuProcess, by_uuid: dict[str, int], names: dict[str, str]) -> tuple[Cell, ...]:
    index = by_uuid.get(proc.gpu_uuid or "")
    owner: Cell
    if proc.container_id is None:
        owner = ("host", "muted")
    else:
        name = names.get(proc.container_id) or next(
            (
                n
                for cid, n in names.items()
                if proc.container_id.startswith(cid) or cid.startswith(proc.container_id)
            ),
            None,
        )
        owner = (clean(name), "info") if name else (proc.container_id[:12], "muted")
    return (
        (NA if index is None else str(index), ""),
        (str(proc.pid), ""),
        (clean(proc.name), ""),
        (num(proc.used_mib, 0, " MiB"), "", proc.used_mib),
        owner,
    )
