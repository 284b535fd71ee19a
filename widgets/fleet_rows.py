"""Pure renderers for the rented fleet: the P2P mesh as a tree per leader, cloud instances, cost.

A partition shows as two (or more) groups side by side in one table: each group is headed by the
leader its members believe in, so "two leaders" is visible without reading any JSON.
"""

from __future__ import annotations

from cockpit.fleet_model import Instance, MeshReading, Peer
from cockpit.fleet_reader import FleetView
from cockpit.fleet_rules import instance_in_mesh
from cockpit.sanitize import clean
from cockpit.state import ClusterState
from widgets.format import NA, age, pct, sparkline
from widgets.table_model import Cell, Column, Row

PEER_COLUMNS = (
    Column("group", "LEADER (BELIEVED)", 18, 0),
    Column("peer", "PEER", 22, 0),
    Column("role", "ROLE", 8, 0),
    Column("alive", "ALIVE", 5, 1),
    Column("seen", "SEEN", 5, 1, "right", deadband=10),
    Column("gpu", "GPU", 16, 3),
    Column("jobs", "JOBS", 5, 2, "right"),
    Column("via", "REPORTED BY", 18, 4, flex=True),
)
INSTANCE_COLUMNS = (
    Column("id", "ID", 9, 0, "right"),
    Column("label", "LABEL", 18, 0),
    Column("gpus", "GPUS", 16, 1),
    Column("status", "STATUS", 9, 0),
    Column("price", "$/H", 6, 0, "right"),
    Column("util", "UTIL", 5, 1, "right", deadband=5),
    Column("idle", "IDLE FOR", 8, 1, "right", deadband=60),
    Column("mesh", "IN MESH", 7, 0),
)
COST_COLUMNS = (
    Column("item", "COST", 26, 0),
    Column("value", "NOW", 12, 0, "right"),
    Column("detail", "", 30, 1, flex=True),
)
ROLE_RANK = {"leader": 0, "leader?": 0, "voter": 1, "follower": 2}
ROLE_CLASS = {"leader": "ok", "leader?": "warning", "voter": "info"}


def _money(value: float | None, currency: str = "USD") -> str:
    if value is None:
        return NA
    sign = "$" if currency == "USD" else f"{currency} "
    return f"{sign}{value:,.2f}"


def peer_rows(fleet: FleetView, now: float) -> list[Row]:
    """Every peer any orchestrator reports, grouped by the leader that orchestrator believes in."""
    seen: dict[tuple[str, str], tuple[Peer, set[str]]] = {}
    for reading in fleet.mesh:
        if not reading.reachable:
            continue
        group = reading.effective_leader_id or reading.leader_id or "(no leader)"
        for peer in reading.peers:
            key = (group, peer.node_id)
            entry = seen.setdefault(key, (peer, set()))
            entry[1].add(reading.name)
    rows: list[Row] = []
    for (group, node_id), (peer, via) in sorted(
        seen.items(), key=lambda kv: (kv[0][0], ROLE_RANK.get(kv[1][0].shown_role, 3), kv[0][1])
    ):
        role = peer.shown_role
        seen_s = (
            peer.seen_ago_s
            if peer.seen_ago_s is not None
            else (now - peer.last_seen if peer.last_seen is not None else None)
        )
        alive = NA if peer.alive is None else ("yes" if peer.alive else "NO")
        rows.append(
            Row(
                (group, node_id),
                (
                    (clean(group), "critical" if _leaders(fleet.mesh) > 1 else "muted"),
                    (("  " if role not in ("leader", "leader?") else "") + clean(node_id), ""),
                    (clean(role), ROLE_CLASS.get(role, "")),
                    (alive, "critical" if peer.alive is False else "muted"),
                    (age(seen_s), "muted", seen_s),
                    (clean(peer.gpu_name or ""), "muted"),
                    (NA if peer.selfplay_jobs is None else str(peer.selfplay_jobs), ""),
                    (clean(", ".join(sorted(via))), "muted"),
                ),
                {"role": role, "leader": group, "alive": peer.alive},
            )
        )
    for reading in fleet.mesh:
        if not reading.reachable:
            rows.append(
                Row(
                    ("~unreachable", reading.name),
                    (
                        ("unreachable", "critical"),
                        (clean(reading.name), "critical"),
                        ("", ""),
                        ("", ""),
                        ("", ""),
                        ("", ""),
                        ("", ""),
                        (clean(reading.error or "no answer"), "critical"),
                    ),
                )
            )
    return rows


def _leaders(readings: tuple[MeshReading, ...]) -> int:
    return len(
        {
            r.effective_leader_id or r.leader_id
            for r in readings
            if r.reachable and (r.effective_leader_id or r.leader_id)
        }
    )


def instance_rows(fleet: FleetView, now: float) -> list[Row]:
    reading = fleet.instances
    if reading is None:
        return []
    idle = fleet.idle_for or {}
    rows = []
    for inst in sorted(reading.instances, key=lambda i: (-(idle.get(i.id) or 0), i.id)):
        rows.append(Row(inst.id, instance_row(inst, idle.get(inst.id), instance_in_mesh(inst, fleet.mesh))))
    if not reading.ok:
        stale = reading.age_s
        note = (
            f"{clean(reading.error or 'error')}; showing data {age(stale)} old"
            if stale
            else clean(reading.error or "")
        )
        rows.append(
            Row(
                -1,
                (
                    ("", ""),
                    ("API", "critical"),
                    ("", ""),
                    ("", ""),
                    ("", ""),
                    ("", ""),
                    ("", ""),
                    (note, "critical"),
                ),
            )
        )
    return rows


def instance_row(inst: Instance, idle_s: float | None, in_mesh: bool | None) -> tuple[Cell, ...]:
    status = inst.actual_status or inst.cur_state or NA
    running = inst.running
    gpus = f"{clean(inst.gpu_name or NA)} x{inst.num_gpus or 1}"
    mesh: Cell = (
        (NA, "muted")
        if in_mesh is None
        else (("yes", "ok") if in_mesh else ("NO", "critical" if running else "muted"))
    )
    return (
        (str(inst.id), ""),
        (clean(inst.label or ""), ""),
        (gpus, "muted"),
        (clean(status), "ok" if running else "muted"),
        (_money(inst.dph_total).removeprefix("$") if inst.dph_total is not None else NA, ""),
        (pct(inst.gpu_util), "muted", inst.gpu_util),
        (age(idle_s) if idle_s else "", "warning" if idle_s else "muted", idle_s),
        mesh,
    )


def cost_rows(state: ClusterState) -> list[Row]:
    fleet = state.fleet
    cost = fleet.cost if fleet else None
    if cost is None:
        return []
    cur = cost.currency
    history = [usd for _, usd in fleet.cost_history] if fleet and fleet.cost_history else []
    top = max(history, default=0.0) or 1.0
    rows = [
        ("total", "total per hour", _money(cost.total_usd_h, cur), sparkline(history, 30, 0, top)),
        (
            "cloud",
            "cloud (running instances)",
            _money(cost.cloud_usd_h, cur),
            f"storage {_money(cost.storage_usd_h, cur)}/h",
        ),
        (
            "energy",
            "energy (owned hardware)",
            _money(cost.energy_usd_h, cur),
            f"{cost.energy_watts:.0f} W" if cost.energy_watts is not None else "no cost: section",
        ),
        (
            "today",
            "today so far",
            _money(cost.today_usd, cur),
            f"projected {_money(cost.today_projection_usd, cur)}",
        ),
        (
            "month",
            "this month so far",
            _money(cost.month_usd, cur),
            f"projected {_money(cost.month_projection_usd, cur)}",
        ),
        (
            "busy",
            "per busy GPU-hour",
            _money(cost.usd_per_busy_gpu_hour, cur),
            f"{cost.busy_gpus} of {cost.gpus} GPUs busy",
        ),
        ("idle", "idle GPUs cost", _money(cost.idle_usd_h, cur) + "/h", "what stopping idle instances saves"),
    ]
    return [
        Row(key, ((label, ""), (value, "info" if key == "total" else ""), (detail, "muted")))
        for key, label, value, detail in rows
    ]
