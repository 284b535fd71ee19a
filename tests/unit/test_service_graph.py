"""The dependency graph: which failure explains which, and the startup layers (runbook 000)."""

from __future__ import annotations

import pytest

from cockpit.config import ServiceConfig
from cockpit.model import ServiceReading
from cockpit.service_graph import blocked_by, root_causes, startup_order

# Runbook 000's "Service Dependencies", as depends_on edges (child -> what it needs).
HYDRA = {
    "adguard": [],
    "nfs": ["adguard"],
    "postgres": ["adguard"],
    "redis": ["adguard"],
    "tabbyapi": ["nfs"],
    "ollama": ["nfs"],
    "qdrant": ["postgres"],
    "litellm": ["postgres", "redis", "tabbyapi", "ollama"],
    "open-webui": ["litellm"],
    "grafana": [],
}


def _services(graph: dict[str, list[str]]) -> list[ServiceConfig]:
    return [ServiceConfig(name=n, url="http://127.0.0.1:1", depends_on=d) for n, d in graph.items()]


def _readings(failing: str, graph: dict[str, list[str]], unprobed: str = "") -> dict[str, ServiceReading]:
    bad, missing = set(failing.split()), set(unprobed.split())
    return {
        n: ServiceReading(name=n, url="", at=0.0, ok=n not in bad, error="x" if n in bad else None)
        for n in graph
        if n not in missing
    }


@pytest.mark.parametrize(
    ("graph", "failing", "unprobed", "blocked", "roots"),
    [
        # DNS down: everything below it is blocked by DNS, nothing else is a cause.
        (HYDRA, "adguard nfs postgres redis tabbyapi ollama qdrant litellm open-webui", "",
         {n: "adguard" for n in ("nfs", "postgres", "redis", "tabbyapi", "ollama", "qdrant", "litellm",
                                 "open-webui")},
         ["adguard"]),
        # Only the bottom of a chain fails: it is its own root cause.
        (HYDRA, "open-webui", "", {}, ["open-webui"]),
        # TabbyAPI down takes LiteLLM and Open WebUI with it; Ollama is fine.
        (HYDRA, "tabbyapi litellm open-webui", "", {"litellm": "tabbyapi", "open-webui": "tabbyapi"},
         ["tabbyapi"]),
        # Two independent roots: Grafana on its own, and NFS under TabbyAPI.
        (HYDRA, "grafana nfs tabbyapi", "", {"tabbyapi": "nfs"}, ["nfs", "grafana"]),
        # A healthy service in between: the failure further up did not reach down here.
        ({"a": [], "b": ["a"], "c": ["b"]}, "a c", "", {}, ["a", "c"]),
        # Not probed (NFS has no HTTP endpoint): DNS down still explains TabbyAPI down through it.
        (HYDRA, "adguard tabbyapi", "nfs postgres redis", {"tabbyapi": "adguard"}, ["adguard"]),
        # Diamond: top fails, both sides fail, bottom fails: all of it is the top's doing.
        ({"top": [], "left": ["top"], "right": ["top"], "bottom": ["left", "right"]},
         "top left right bottom", "", {"left": "top", "right": "top", "bottom": "top"}, ["top"]),
        # Diamond with one side failing on its own: the bottom is blocked by that side.
        ({"top": [], "left": ["top"], "right": ["top"], "bottom": ["left", "right"]},
         "right bottom", "", {"bottom": "right"}, ["right"]),
        # Diamond with both sides failing on their own: the first in depends_on order is named.
        ({"top": [], "left": ["top"], "right": ["top"], "bottom": ["left", "right"]},
         "left right bottom", "", {"bottom": "left"}, ["left", "right"]),
        # Nothing fails.
        (HYDRA, "", "", {}, []),
    ],
)  # fmt: skip
def test_blocked_by_names_the_root_cause(
    graph: dict[str, list[str]], failing: str, unprobed: str, blocked: dict[str, str], roots: list[str]
) -> None:
    services = _services(graph)
    readings = _readings(failing, graph, unprobed)
    assert blocked_by(services, readings) == blocked
    assert root_causes(services, readings) == roots


def test_a_loop_does_not_hang_the_walk() -> None:
    """load_cluster refuses cycles; the pure function must still terminate on one."""
    graph = {"a": ["b"], "b": ["a"]}
    assert blocked_by(_services(graph), _readings("a b", graph)) == {"a": "b", "b": "a"}


def test_startup_order_is_runbook_000s_layers() -> None:
    assert startup_order(_services(HYDRA)) == [
        ["adguard", "grafana"],
        ["nfs", "postgres", "redis"],
        ["tabbyapi", "ollama", "qdrant"],
        ["litellm"],
        ["open-webui"],
    ]


def test_startup_order_ignores_unknown_names_and_refuses_cycles() -> None:
    assert startup_order(_services({"a": ["ghost"], "b": ["a"]})) == [["a"], ["b"]]
    with pytest.raises(ValueError, match="cycle among: a, b"):
        startup_order(_services({"a": ["b"], "b": ["a"], "c": []}))
