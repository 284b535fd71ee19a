"""``cockpit check``: one cycle judged, one line per alert, Nagios plugin exit codes.

0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN, so it drops into Nagios, Icinga, cron or CI as the
runbooks' health-check scripts do (``health_alerting.py --check``, ``daily-health-check.sh``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable

from cockpit.config import Cluster
from cockpit.engine import Engine
from cockpit.model import Alert
from cockpit.sanitize import clean
from cockpit.state import ClusterState

OK, WARNING, CRITICAL, UNKNOWN = 0, 1, 2, 3
GROUPS = {
    "nodes": {"node_down", "stale", "cpu", "ram", "disk", "host_probe"},
    "gpus": {"gpu_temp", "gpu_power", "gpu_probe"},
    "containers": {"crash_loop", "probe:containers"},
    "units": {"unit_failed", "probe:units"},
    "services": {"service_down", "latency"},
}


def one_shot(cluster: Cluster) -> Cluster:
    """No hold for a single cycle: there is no earlier cycle to have held through."""
    return cluster.model_copy(update={"thresholds": cluster.thresholds.model_copy(update={"hold_s": 0})})


def selected(alerts: Iterable[Alert], only: set[str] | None) -> list[Alert]:
    if not only:
        return list(alerts)
    metrics = set().union(*(GROUPS[group] for group in only))
    return [a for a in alerts if a.metric in metrics]


def exit_code(alerts: list[Alert]) -> int:
    if any(a.severity == "critical" for a in alerts):
        return CRITICAL
    return WARNING if alerts else OK


def report(state: ClusterState, alerts: list[Alert]) -> list[str]:
    """The lines to print: the verdict first (what Nagios shows), then one line per alert."""
    up = sum(1 for n in state.nodes if n.status.value == "up")
    code = exit_code(alerts)
    word = {OK: "OK", WARNING: "WARNING", CRITICAL: "CRITICAL"}[code]
    critical = sum(1 for a in alerts if a.severity == "critical")
    lines = [
        f"{word}: {clean(state.cluster)}: {up}/{len(state.nodes)} nodes up, "
        f"{critical} critical, {len(alerts) - critical} warning"
    ]
    lines.extend(f"{a.severity.upper()} {clean(a.message)}" for a in alerts)
    return lines


async def run_check(
    cluster: Cluster,
    only: set[str] | None,
    emit: Callable[[str], None],
    *,
    watch: float | None = None,
    on_new: Callable[[list[Alert]], Awaitable[None]] | None = None,
) -> int:
    """One cycle (or one every ``watch`` seconds, until cancelled); returns the last exit code."""
    engine = Engine(cluster if watch else one_shot(cluster))
    seen: set[tuple[str, str, str]] = set()
    try:
        while True:
            state = await engine.cycle()
            alerts = selected(state.alerts, only)
            for line in report(state, alerts):
                emit(line)
            fresh = [a for a in alerts if (a.subject, a.metric, a.severity) not in seen]
            seen = {(a.subject, a.metric, a.severity) for a in alerts}
            if fresh and on_new is not None:
                await on_new(fresh)
            if not watch:
                return exit_code(alerts)
            await asyncio.sleep(watch)
    finally:
        await engine.close()
