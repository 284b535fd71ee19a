"""Sources beyond SSH, read once a cycle: Prometheus (nodes and GPUs of a large fleet, inference
golden signals, custom panels, Prometheus's own alerts) and Kubernetes pods.

Nodes listed with ``probes: []`` are read only from Prometheus (no SSH to them at all); nodes that
``prometheus.discover`` finds are added. Their readings are the same HostReading and GpuReading
the SSH probes produce, so every pane and rule works on them unchanged.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace

from cockpit.config import Cluster, NodeConfig
from cockpit.golden import GoldenRules, prometheus_alerts
from cockpit.model import Alert, GpuReading, HostReading, NodeStatus, ProbeError
from cockpit.scale_model import ScaleView
from cockpit.source_merge import merge_node
from cockpit.sources.kube import KubeSource, Pod, Runner
from cockpit.sources.nvml import NvmlSource
from cockpit.sources.prom_model import PromReading
from cockpit.sources.prometheus import PrometheusSource
from cockpit.state import NodeState


class ScaleReader:
    def __init__(
        self, cluster: Cluster, clock: Callable[[], float] = time.time, kube_runner: Runner | None = None
    ) -> None:
        self.cluster = cluster
        self._clock = clock
        self.prom = (
            PrometheusSource(cluster.prometheus, clock, panels=cluster.panels) if cluster.prometheus else None
        )
        self.rules = GoldenRules(panels=tuple(cluster.panels))
        self.kube = KubeSource(cluster.kube, kube_runner) if cluster.kube else None
        self.nvml = NvmlSource() if cluster.nvml else None
        self.local_gpus: tuple[GpuReading, ...] | ProbeError | None = None
        """This machine's GPUs read through NVML, for the node ``nvml.node`` (it is this machine)."""
        self.reading: PromReading | None = None
        self.pods: tuple[Pod, ...] = ()
        self.pods_error: str | None = None
        self._aliases = {n.host: n.name for n in cluster.nodes}
        self._discovered: tuple[tuple[str, ...], list[NodeConfig]] = ((), [])

    @classmethod
    def wanted(cls, cluster: Cluster) -> bool:
        return cluster.prometheus is not None or cluster.kube is not None or cluster.nvml is not None

    async def read(self) -> None:
        if self.nvml is not None:
            self.local_gpus = await self.nvml.aread()
        if self.prom is not None:
            self.reading = await self.prom.read([n.name for n in self.cluster.nodes], self._aliases)
        if self.kube is not None:
            pods = await self.kube.read()
            if isinstance(pods, ProbeError):
                self.pods_error = pods.reason
            else:
                self.pods, self.pods_error = pods, None

    def node_state(self, node: NodeConfig) -> NodeState:
        """A node read only from Prometheus."""
        base = NodeState(node.name, NodeStatus.STALE, tags=tuple(node.tags), has_gpu_probe=True)
        reading = self.reading
        if reading is None:
            return replace(base, error="waiting for Prometheus")
        found = reading.node(node.name)
        if found is None:
            return replace(base, error=reading.error or "no series in Prometheus")
        if found.down:
            return replace(base, status=NodeStatus.DOWN, error=found.down_reason)
        host = found.host if isinstance(found.host, HostReading) else None
        gpus: tuple[GpuReading, ...] = found.gpus or ()
        status = NodeStatus.STALE if reading.error else NodeStatus.UP
        error = f"prometheus: {reading.error}" if reading.error else found.down_reason
        return replace(
            base, status=status, error=error, last_ok=reading.last_good or reading.at, host=host, gpus=gpus
        )

    def merged(self, ssh: NodeState) -> NodeState:
        """A node SSH reads that Prometheus also knows: ``prometheus.prefer`` decides, per metric."""
        reading, config = self.reading, self.cluster.prometheus
        if reading is None or config is None or reading.error:
            return ssh
        return merge_node(ssh, reading.node(ssh.name), reading.last_good or reading.at, config)

    def with_local_gpus(self, state: NodeState) -> NodeState:
        """The NVML node's GPUs come from this machine's driver, not from a remote probe."""
        if self.cluster.nvml is None or state.name != self.cluster.nvml.node:
            return state
        if isinstance(self.local_gpus, tuple):
            return replace(state, gpus=self.local_gpus, gpu_error=None, has_gpu_probe=True)
        return state

    def discovered(self) -> list[NodeConfig]:
        """Nodes Prometheus found that ``nodes:`` does not list, sorted by name (Prometheus answers
        series in no useful order); built again only when the set changes (2,000 models a cycle
        would cost more than the rest of the state)."""
        if self.reading is None:
            return []
        names = tuple(sorted(self.reading.discovered))  # Prometheus's series order varies
        if names != self._discovered[0]:
            known = {n.name for n in self.cluster.nodes}
            self._discovered = (
                names,
                [
                    NodeConfig(name=name, host=name, probes=[], tags=["discovered"])
                    for name in names
                    if name not in known and _valid(name)
                ],
            )
        return self._discovered[1]

    def view(self) -> ScaleView:
        alerts: tuple[Alert, ...] = ()
        if self.reading is not None:
            golden = self.rules.update(self.reading.signals, self.reading.panels, now=self._clock())
            alerts = golden + prometheus_alerts(self.reading.alerts)
        if self.pods_error:
            alerts += (Alert("warning", "kubernetes", "kube_probe", f"kubernetes: {self.pods_error}"),)
        if isinstance(self.local_gpus, ProbeError) and self.cluster.nvml is not None:
            node = self.cluster.nvml.node
            alerts += (Alert("warning", node, "nvml", f"{node}: NVML: {self.local_gpus.reason}"),)
        alerts += tuple(_pod_alerts(self.pods))
        return ScaleView(self.reading, self.pods, self.pods_error, alerts)

    async def aclose(self) -> None:
        if self.prom is not None:
            await self.prom.aclose()


def _valid(name: str) -> bool:
    from cockpit.config import NAME_RE

    return bool(NAME_RE.match(name))


def _pod_alerts(pods: tuple[Pod, ...]) -> list[Alert]:
    """Runbook 002/003: CrashLoopBackOff, OOMKilled, CUDA out of memory."""
    out = []
    for pod in pods:
        subject = f"pod:{pod.namespace}/{pod.name}"
        if pod.crash_loop:
            out.append(
                Alert(
                    "critical",
                    subject,
                    "pod_crash_loop",
                    f"{subject}: CrashLoopBackOff ({pod.restarts} restarts)",
                )
            )
        if pod.cuda_oom:
            out.append(
                Alert("critical", subject, "pod_cuda_oom", f"{subject}: CUDA out of memory ({pod.cuda_oom})")
            )
        elif pod.oom_killed:
            out.append(Alert("warning", subject, "pod_oom_killed", f"{subject}: last container OOMKilled"))
    return out
