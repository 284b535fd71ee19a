"""The services' dependency graph: which failure explains which, and the order to start them in.

When AdGuard (DNS) is down, LiteLLM, TabbyAPI and Open WebUI fail too; an operator who sees five red
rows must be told that one of them is the cause (runbook 000, "Service Dependencies"). A failing
service is *blocked* when a failing dependency explains it; it is a *root cause* when none does.
The walk goes through failing dependencies and through those with no reading (NFS or PostgreSQL are
often not probed over HTTP, yet DNS down still explains LiteLLM down through them); it stops at a
healthy one, because a healthy service in between means the failure further up did not reach here.
Pure functions: the config already refuses unknown names and cycles, these stay safe without it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from cockpit.config import ServiceConfig
from cockpit.model import ServiceReading


def blocked_by(services: Iterable[ServiceConfig], readings: Mapping[str, ServiceReading]) -> dict[str, str]:
    """Failing service -> the root failing service that explains it (absent for root causes)."""
    graph = {s.name: list(s.depends_on) for s in services}
    result: dict[str, str] = {}
    for name in graph:
        if _failing(readings, name):
            root = _root(name, graph, readings)
            if root is not None:
                result[name] = root
    return result


def root_causes(services: Iterable[ServiceConfig], readings: Mapping[str, ServiceReading]) -> list[str]:
    """Failing services that no failing dependency explains, in config order."""
    services = list(services)
    blocked = blocked_by(services, readings)
    return [s.name for s in services if _failing(readings, s.name) and s.name not in blocked]


def startup_order(services: Iterable[ServiceConfig]) -> list[list[str]]:
    """Layers to start in turn: each service's dependencies are all in earlier layers.

    Within a layer, config order. Dependencies on names that are not services are ignored.
    Raises ``ValueError`` on a cycle (which ``load_cluster`` already refuses).
    """
    services = list(services)
    known = {s.name for s in services}
    waiting = {s.name: {d for d in s.depends_on if d in known} for s in services}
    order = [s.name for s in services]
    layers: list[list[str]] = []
    started: set[str] = set()
    while waiting:
        layer = [n for n in order if n in waiting and waiting[n] <= started]
        if not layer:
            raise ValueError(
                f"dependencies form a cycle among: {', '.join(n for n in order if n in waiting)}"
            )
        layers.append(layer)
        started.update(layer)
        for name in layer:
            del waiting[name]
    return layers


def _failing(readings: Mapping[str, ServiceReading], name: str) -> bool:
    reading = readings.get(name)
    return reading is not None and not reading.ok


def _root(name: str, graph: Mapping[str, list[str]], readings: Mapping[str, ServiceReading]) -> str | None:
    """The first failing ancestor (depth first, in depends_on order) that nothing failing explains."""
    seen = {name}

    def walk(node: str) -> str | None:
        for dep in graph.get(node, ()):
            if dep in seen:
                continue
            seen.add(dep)
            if _failing(readings, dep):
                return walk(dep) or dep
            if dep not in readings:
                found = walk(dep)  # not probed: look through it
                if found is not None:
                    return found
        return None

    return walk(name)
