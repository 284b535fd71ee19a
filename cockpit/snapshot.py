"""One ClusterState as the JSON of ``shared/contracts/snapshot.schema.json``.

Scripts and cron jobs parse this, so fields are only ever added, and unavailable values are
``null`` rather than 0.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from cockpit.model import Alert
from cockpit.state import ClusterState, NodeState


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat().replace("+00:00", "Z")


def _round(value: float | None, digits: int = 2) -> float | None:
    return None if value is None else round(value, digits)


def node_json(node: NodeState, now: float) -> dict[str, Any]:
    host, gpus = node.host, node.gpus  # the engine gives a down node no readings
    age = node.age(now)
    return {
        "name": node.name,
        "status": node.status.value,
        "error": node.error,
        "age_s": _round(age, 1),
        "tags": list(node.tags),
        "load1": host.load1 if host else None,
        "cpu_pct": host.cpu_pct if host else None,
        "mem_used_bytes": host.mem_used_bytes if host else None,
        "mem_total_bytes": host.mem_total_bytes if host else None,
        "uptime_s": host.uptime_s if host else None,
        "disks": [
            {
                "mount": d.mount,
                "used_pct": d.used_pct,
                "size_bytes": d.size_bytes,
                "avail_bytes": d.avail_bytes,
            }
            for d in (host.disks if host else ())
        ],
        "gpus": [
            {
                "index": g.index,
                "name": g.name,
                "uuid": g.uuid,
                "util_pct": g.util_pct,
                "mem_used_mib": g.mem_used_mib,
                "mem_total_mib": g.mem_total_mib,
                "temp_c": g.temp_c,
                "power_w": g.power_w,
                "power_limit_w": g.power_limit_w,
            }
            for g in gpus
        ],
        "gpu_error": node.gpu_error,
        "containers": [],
        "units": [],
    }


def snapshot_json(state: ClusterState) -> dict[str, Any]:
    return {
        "cluster": state.cluster,
        "generated_at": _iso(state.at),
        "nodes": [node_json(n, state.at) for n in state.nodes],
        "services": [],
        "peers": [],
        "instances": [],
        "cost": {"hourly_usd": None, "cloud_hourly_usd": None, "energy_hourly_usd": None},
        "alerts": [alert_json(a) for a in state.alerts],
    }


def alert_json(alert: Alert) -> dict[str, Any]:
    return {
        "severity": alert.severity,
        "subject": alert.subject,
        "metric": alert.metric,
        "value": alert.value,
        "threshold": alert.threshold,
        "message": alert.message,
        "since": _iso(alert.since) if alert.since is not None else None,
        "actions": list(alert.actions),
    }
