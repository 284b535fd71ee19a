"""The rented fleet, read once a cycle: P2P mesh, cloud instances, and what it all costs.

The engine starts :meth:`FleetReader.read` beside the node polls (never two at once) and calls
:meth:`FleetReader.judge` when it builds a state, with that cycle's GPU readings, so the energy
part of the bill uses the same watts the GPU pane shows.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from cockpit.config import Cluster
from cockpit.cost import CostMeter, hourly_rates
from cockpit.fleet_model import CostReading, InstancesReading, MeshReading
from cockpit.fleet_rules import FleetFinding, IdleTracker, expected_mesh_nodes, fleet_findings
from cockpit.model import GpuReading
from cockpit.sources.p2p import P2PSource
from cockpit.sources.vast import VastClient


@dataclass(frozen=True, slots=True)
class FleetView:
    mesh: tuple[MeshReading, ...] = ()
    instances: InstancesReading | None = None
    cost: CostReading | None = None
    idle_for: Mapping[int, float] | None = None
    findings: tuple[FleetFinding, ...] = ()
    cost_history: tuple[tuple[float, float], ...] = ()
    """(time, $/h) points for the cost sparkline."""


class FleetReader:
    def __init__(self, cluster: Cluster, clock: Callable[[], float] = time.time) -> None:
        self.cluster = cluster
        self._clock = clock
        self.p2p = P2PSource(cluster.p2p, clock=clock) if cluster.p2p else None
        self.vast = VastClient(cluster.vast, clock=clock) if cluster.vast else None
        self.idle = IdleTracker.from_thresholds(cluster.fleet_thresholds)
        self.meter = CostMeter()
        self.mesh: tuple[MeshReading, ...] = ()
        self.instances: InstancesReading | None = None
        self.expected = (
            expected_mesh_nodes([n.name for n in cluster.nodes], {n.name: n.tags for n in cluster.nodes})
            if cluster.p2p
            else []
        )

    @classmethod
    def wanted(cls, cluster: Cluster) -> bool:
        return bool(cluster.p2p or cluster.vast or cluster.cost)

    async def read(self) -> None:
        mesh, instances = await asyncio.gather(
            self.p2p.read() if self.p2p else _nothing(()),
            self.vast.instances() if self.vast else _nothing(None),
        )
        self.mesh = tuple(mesh)
        if instances is not None:
            self.instances = instances
            self.idle.update(instances)

    def judge(self, node_gpus: Mapping[str, Sequence[GpuReading] | None]) -> FleetView:
        now = self._clock()
        cost = None
        if self.cluster.cost is not None or self.instances is not None:
            rates = hourly_rates(
                now,
                self.instances,
                node_gpus,
                self.cluster.cost,
                idle_util_pct=self.cluster.fleet_thresholds.idle_util_pct,
            )
            cost = self.meter.observe(rates, self.cluster.cost.currency if self.cluster.cost else "USD")
        listed = self.instances.instances if self.instances else ()
        idle_for = {i.id: s for i in listed if (s := self.idle.idle_for(i.id, now)) is not None}
        findings = fleet_findings(
            self.cluster.fleet_thresholds,
            now=now,
            mesh=self.mesh,
            instances=self.instances,
            cost=cost,
            idle=self.idle,
            expected_nodes=self.expected,
        )
        history = self.meter.history() if cost is not None else ()
        return FleetView(self.mesh, self.instances, cost, idle_for, tuple(findings), tuple(history))

    async def aclose(self) -> None:
        for source in (self.p2p, self.vast):
            if source is not None:
                await source.aclose()


async def _nothing(value: object) -> object:
    return value
