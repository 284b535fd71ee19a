"""The demo's rented fleet in one piece: the P2P mesh and the Vast API, kept consistent with each other.

Every running instance of the Vast fleet is a mesh node named by its label (as ``vast_p2p_sync.py``
names them), so the cockpit can tell which instances joined. Only runbook 001's three coordinators
run a polled orchestrator: the cockpit learns about everyone else from them, as an operator does
with ``curl http://localhost:8770/status``. Scenarios switch both sides at once.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from cockpit.sim.p2p import P2PMeshSim, demo_nodes
from cockpit.sim.server import SimError
from cockpit.sim.vast import SIM_API_KEY, VastApiSim, demo_instances

SCENARIOS = ("ok", "partition", "not-joining", "cost-spike")
POLLED = ("mac-studio", "lambda-h100", "lambda-gh200")


class FleetSim:
    """Start with ``async with FleetSim("partition") as fleet``; ``fleet.config()`` is the YAML part."""

    def __init__(
        self,
        scenario: str = "ok",
        *,
        host: str = "127.0.0.1",
        serve: Sequence[str] = POLLED,
        ports: Mapping[str, int] | None = None,
        api_port: int = 0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if scenario not in SCENARIOS:
            raise SimError(f"fleet scenario must be one of {', '.join(SCENARIOS)}, not {scenario!r}")
        self.scenario = scenario
        rented = demo_instances(self._vast_scenario(scenario), clock())
        self.mesh = P2PMeshSim(demo_nodes(rented), scenario=self._mesh_scenario(scenario), serve=serve,
                               host=host, ports=ports, clock=clock)  # fmt: skip
        self.api = VastApiSim(rented, host=host, port=api_port, clock=clock)
        self.api_key = SIM_API_KEY
        """The key the API accepts; the demo exports it as VAST_API_KEY."""

    @staticmethod
    def _mesh_scenario(scenario: str) -> str:
        return scenario if scenario in ("partition", "not-joining") else "ok"

    @staticmethod
    def _vast_scenario(scenario: str) -> str:
        return "cost-spike" if scenario == "cost-spike" else "ok"

    async def start(self) -> None:
        try:
            await self.mesh.start()
            await self.api.start()
        except BaseException:
            await self.stop()
            raise

    async def stop(self) -> None:
        await asyncio.gather(self.mesh.stop(), self.api.stop(), return_exceptions=True)

    async def __aenter__(self) -> FleetSim:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def set_scenario(self, scenario: str) -> None:
        if scenario not in SCENARIOS:
            raise SimError(f"fleet scenario must be one of {', '.join(SCENARIOS)}, not {scenario!r}")
        self.scenario = scenario
        self.api.set_scenario(self._vast_scenario(scenario))
        self.mesh.set_nodes(demo_nodes(self.api.instances.values()))
        await self.mesh.set_scenario(self._mesh_scenario(scenario))

    def config(self, key_env: str = "VAST_API_KEY") -> dict[str, Any]:
        """The ``p2p:`` and ``vast:`` sections of cluster.yaml for this fleet, ports as bound."""
        return {
            "p2p": [{"name": node_id, "url": url} for node_id, url in self.mesh.urls().items()],
            "vast": {"url": self.api.base_url, "api_key": f"${{env:{key_env}}}"},
        }
