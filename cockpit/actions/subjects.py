"""What a row on screen is, as something an action can act on, and what an alert's runbook says to do.

Pure: a state, the cluster config and a row's key in, :class:`Subject` values and suggestions out.
The PIDs of "kill GPU processes" and the power range of "set power limit" come from what the
cockpit read and showed, never from a fresh, unseen query at run time.
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass, field

from cockpit.actions.render import GpuTarget, NodeTarget, Subject
from cockpit.actions.schema import Scope
from cockpit.config import Cluster
from cockpit.fleet_model import Instance
from cockpit.model import Alert, GpuReading
from cockpit.sources.kube import action_argv
from cockpit.state import ClusterState, NodeState

RUNBOOK_POWER_W = {"RTX 5090": 350, "RTX 5070 Ti": 180}
"""Runbook 000 "GPU Overheating": ``nvidia-smi -pl 350`` on the 5090, ``-pl 180`` on the 5070 Ti."""
POWER_STEP = 0.8
"""Other cards: start from 80 % of the current limit (the runbook's 450 -> 350 is 78 %)."""


@dataclass(frozen=True, slots=True)
class Target:
    """A row as an action subject: its scope and what fills the action's placeholders."""

    scope: Scope
    subject: Subject
    label: str


@dataclass(frozen=True, slots=True)
class InstanceTarget:
    """A rented cloud instance: acted on through the provider's API, not over SSH."""

    instance: Instance
    scope: str = "instance"

    @property
    def label(self) -> str:
        return self.instance.label or str(self.instance.id)


@dataclass(frozen=True, slots=True)
class Suggestion:
    """A runbook remediation for an alert, values pre-filled."""

    action: str
    target: Target
    inputs: dict[str, object] = field(default_factory=dict)
    why: str = ""


def _node(cluster: Cluster, name: str) -> NodeTarget | None:
    try:
        return NodeTarget.from_config(cluster.node(name), cluster)
    except KeyError:
        return None


def gpu_target(node: NodeState, gpu: GpuReading) -> GpuTarget:
    pids = tuple(sorted(p.pid for p in node.procs if gpu.uuid and p.gpu_uuid == gpu.uuid))
    return GpuTarget(gpu.index, gpu.power_min_w, gpu.power_max_w, pids)


def node_target(state: ClusterState, cluster: Cluster, name: str) -> Target | None:
    node = _node(cluster, name)
    return None if node is None else Target("node", Subject(node=node), name)


def target_for(state: ClusterState, cluster: Cluster, table: str | None, key: Hashable) -> Target | None:
    """The subject of the row ``key`` in the table ``table`` (a dashboard or node-detail table)."""
    table = (table or "").removeprefix("detail-").removeprefix("side-")
    if table == "nodes" and isinstance(key, str):
        return node_target(state, cluster, key)
    if table == "services" and isinstance(key, str):
        return service_target(state, cluster, key)
    if table == "pods" and isinstance(key, tuple) and len(key) == 2:
        return pod_target(state, cluster, str(key[0]), str(key[1]))
    if not isinstance(key, tuple) or len(key) != 2:
        return None
    name, item = key
    node = _node(cluster, str(name))
    reading = state.node(str(name))
    if node is None or reading is None:
        return None
    if table == "gpus" and isinstance(item, int):
        gpu = next((g for g in reading.gpus if g.index == item), None)
        if gpu is None:
            return None
        return Target("gpu", Subject(node=node, gpu=gpu_target(reading, gpu)), f"{name}/gpu{item}")
    if table == "containers":
        container = next((c for c in reading.containers if c.name == item), None)
        project = container.project if container else None
        stacks = cluster.node(str(name)).stacks
        # The container as docker names it: its id when its name is not one docker could make.
        ref = str(item) if container is None or container.ref is None else container.ref
        subject = Subject(node=node, container=ref, project=project, stack_dir=stacks.get(project or ""))
        return Target("container", subject, f"{name}/{item}")
    if table == "units":
        return Target("unit", Subject(node=node, unit=str(item)), f"{name}/{item}")
    return None


def detail_target(
    state: ClusterState, cluster: Cluster, node: str, table: str | None, key: Hashable
) -> Target | None:
    """Rows of the node detail screen are keyed without the node (GPU index, container name)."""
    table = (table or "").removeprefix("detail-")
    if table in ("gpus", "containers", "units"):
        return target_for(state, cluster, table, (node, key))
    if table == "procs":
        reading = state.node(node)
        proc = next((p for p in reading.procs if p.pid == key), None) if reading else None
        gpu = next((g for g in reading.gpus if proc and g.uuid == proc.gpu_uuid), None) if reading else None
        return target_for(state, cluster, "gpus", (node, gpu.index)) if gpu else None
    return node_target(state, cluster, node)


def pod_target(state: ClusterState, cluster: Cluster, namespace: str, name: str) -> Target | None:
    """A pod the cockpit listed, acted on with kubectl where it was listed (``kube.via_node`` or here)."""
    kube, scale = cluster.kube, state.scale
    if kube is None or scale is None:
        return None
    pod = next((p for p in scale.pods if p.namespace == namespace and p.name == name), None)
    node = _node(cluster, kube.via_node) if kube.via_node else None
    if pod is None or (kube.via_node and node is None):
        return None
    subject = Subject(
        node=node,
        pod=pod.name,
        namespace=pod.namespace,
        deployment=pod.deployment,
        kubectl=action_argv(kube, local=kube.via_node is None),
    )
    return Target("pod", subject, f"{pod.namespace}/{pod.name}")


def service_target(state: ClusterState, cluster: Cluster, name: str) -> Target | None:
    """A service is acted on through what runs it: its unit or its container, on its node."""
    service = next((s for s in cluster.services if s.name == name), None)
    if service is None or service.node is None:
        return None
    node = _node(cluster, service.node)
    if node is None:
        return None
    if service.unit:
        return Target(
            "unit", Subject(node=node, unit=service.unit, service=name), f"{service.node}/{service.unit}"
        )
    if service.container:
        subject = Subject(node=node, container=service.container, service=name)
        return Target("container", subject, f"{service.node}/{service.container}")
    return Target("node", Subject(node=node, service=name), service.node)


def suggested_watts(gpu: GpuReading) -> int | None:
    """The runbook's figure for the card, else 80 % of its limit; inside what the card accepts."""
    name = gpu.name or ""
    watts = next((w for model, w in RUNBOOK_POWER_W.items() if model in name), None)
    if watts is None and gpu.power_limit_w:
        watts = round(gpu.power_limit_w * POWER_STEP / 10) * 10
    if watts is None:
        return None
    if gpu.power_min_w is not None:
        watts = max(watts, int(gpu.power_min_w))
    if gpu.power_max_w is not None:
        watts = min(watts, int(gpu.power_max_w))
    return int(watts)


def remediations(alert: Alert, state: ClusterState, cluster: Cluster) -> list[Suggestion]:
    """The runbook's answer to ``alert``, first things first (runbook 000's procedures)."""
    subject = alert.subject
    metric = alert.metric
    if subject.startswith("service:"):
        target = service_target(state, cluster, subject.removeprefix("service:"))
        if target is None:
            return []
        prefix = "unit" if target.scope == "unit" else "container"
        if target.scope == "node":
            return []
        why = "runbook 000: Restart Services"
        return [
            Suggestion(f"{prefix}-logs", target, why=why),
            Suggestion(f"{prefix}-restart", target, why=why),
        ]
    if subject.startswith("pod:"):
        return _pod_remediations(alert, state, cluster)
    node_name, _, part = subject.partition("/")
    reading = state.node(node_name)
    if reading is None:
        return []
    if part.startswith("gpu") and metric in ("gpu_temp", "gpu_power"):
        gpu = next((g for g in reading.gpus if f"gpu{g.index}" == part), None)
        target = target_for(state, cluster, "gpus", (node_name, gpu.index)) if gpu else None
        if gpu is None or target is None:
            return []
        watts = suggested_watts(gpu)
        out = [
            Suggestion(
                "gpu-power-limit",
                target,
                {"watts": watts} if watts is not None else {},
                "runbook 000: GPU Overheating, reduce the power limit",
            )
        ]
        if target.subject.gpu and target.subject.gpu.pids:
            out.append(Suggestion("gpu-kill-processes", target, why="runbook 000: kill runaway GPU process"))
        return out
    if part.startswith("container:"):
        target = target_for(state, cluster, "containers", (node_name, part.removeprefix("container:")))
        if target is None:
            return []
        why = "runbook 000: Service Crash Loop, check logs then restart"
        return [
            Suggestion("container-logs", target, why=why),
            Suggestion("container-restart", target, why=why),
        ]
    if part.startswith("unit:"):
        target = target_for(state, cluster, "units", (node_name, part.removeprefix("unit:")))
        if target is None:
            return []
        why = "runbook 000: Service Crash Loop, journalctl then restart"
        return [Suggestion("unit-logs", target, why=why), Suggestion("unit-restart", target, why=why)]
    target = node_target(state, cluster, node_name)
    if target is None:
        return []
    if metric == "disk":
        why = "runbook 000: Disk Full"
        return [
            Suggestion("docker-system-prune", target, why=why),
            Suggestion("logs-truncate", target, why=why),
        ]
    if metric == "ram":
        return [Suggestion("drop-caches", target, why="runbook 000: High Memory Usage")]
    if metric in ("node_down", "stale"):
        return [Suggestion("node-ping", target, why="runbook 000: Node Down, is it reachable?")]
    return []


def _pod_remediations(alert: Alert, state: ClusterState, cluster: Cluster) -> list[Suggestion]:
    """Runbook 002: read why it crashed first, then restart the pod; roll a crash-looping
    Deployment back ("Startup Failures": reset to known good state)."""
    namespace, _, name = alert.subject.removeprefix("pod:").partition("/")
    target = pod_target(state, cluster, namespace, name)
    if target is None:
        return []
    out = [Suggestion("pod-logs-previous", target, why="runbook 002: review the crashed container's logs")]
    if alert.metric in ("pod_crash_loop", "pod_cuda_oom"):
        out.append(Suggestion("pod-delete", target, why="runbook 002: restart affected pods"))
    if alert.metric == "pod_crash_loop" and target.subject.deployment:
        out.append(
            Suggestion("deployment-rollout-undo", target, why="runbook 002: Startup Failures, roll back")
        )
    return out
