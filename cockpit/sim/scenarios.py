"""Incidents to practise on: each puts the demo cluster into one of the runbooks' failure states.

``cockpit demo --scenario NAME`` applies one after the simulated nodes start. Every scenario is
fixable from the cockpit with the runbook's own remedy (the simulator answers the commands for
real): a lower power limit cools the hot GPU, a restart ends the crash loop, a prune frees the disk,
a unit restart brings the service back. ``expect`` lists the alerts the cockpit must raise, so the
tests hold each scenario to being spotted from the dashboard.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from cockpit.config import Cluster
from cockpit.sim import SimCluster, SimError


@dataclass(frozen=True, slots=True)
class Scenario:
    name: str
    description: str
    apply: Callable[[SimCluster], Awaitable[None]]
    expect: tuple[tuple[str, str], ...]
    """(subject, metric) of the alerts that show it, in the demo cluster."""


async def _gpu_overheat(sim: SimCluster) -> None:
    # Runbook 000 "GPU Overheating": a card at full load with poor cooling.
    sim.set_gpu("hydra-ai", 0, util=100, heat=1.18)


async def _crash_loop(sim: SimCluster) -> None:
    # Runbook 000 "Service Crash Loop": the gateway dies on start, docker keeps restarting it.
    sim.set_container("hydra-storage", "litellm", "crash-loop")


async def _disk_full(sim: SimCluster) -> None:
    # Runbook 000 "Disk Full": the docker pool fills up with images and logs.
    world = sim.world("hydra-storage")
    sim.set_disk("hydra-storage", world.docker_mount(), 93)


async def _node_down(sim: SimCluster) -> None:
    # Runbook 000 "Node Down" / 001 instances that vanish: the port refuses connections.
    await sim.stop_node("vast-3070")


async def _service_down(sim: SimCluster) -> None:
    # Runbook 000 "Inference down": tabbyapi's unit failed; its health check refuses.
    sim.set_unit("hydra-ai", "tabbyapi", "failed")


async def _dns_down(sim: SimCluster) -> None:
    # Runbook 000 "Service Dependencies": AdGuard is at the root; when it goes, everything under
    # it fails too. The cockpit must name AdGuard, not raise ten unrelated criticals.
    await sim.set_service("adguard", "down")
    below = _dependents(sim, "adguard")
    for name in below:
        await sim.set_service(name, "error")


async def _k8s(sim: SimCluster) -> None:
    # Runbook 002 "Application Startup Failures" and "CUDA Out of Memory": a serving pod is
    # OOMKilled over and over (CrashLoopBackOff), a training pod dies with torch's CUDA OOM.
    # Seen with a config whose kube: runs kubectl on a node (examples/hdc-k8s.yaml); the remedy,
    # kubectl delete pod or rollout undo, is answered by the simulated kubectl.
    serving = sorted(p.name for p in sim.kube.pods.values() if p.kind == "serve")
    training = sorted(p.name for p in sim.kube.pods.values() if p.kind == "train")
    if not serving or not training:
        raise SimError("scenario k8s needs a node with GPUs (its pods run there)")
    sim.set_pod(serving[0], "crash-loop")
    sim.set_pod(training[0], "cuda-oom")


async def _kv_cache(sim: SimCluster) -> None:
    # Runbook 004 "KV Cache Saturation" and "Waiting Requests": the first vLLM server runs out of
    # KV cache and requests queue; the golden-signal alerts fire after their for: (5 m and 2 m).
    # Seen only through prometheus: (examples/gpu-platform.yaml); see NEEDS.
    serving = list(sim.exporter.inference)
    if not serving:
        raise SimError("scenario kv-cache needs a node that runs an inference server")
    sim.set_vllm(serving[0], kv_cache=0.93, waiting=6, ttft_p95_s=2.6)


def _fleet(scenario: str) -> Callable[[SimCluster], Awaitable[None]]:
    """Runbook 001's incidents need its fleet (a config with ``p2p:``/``vast:``, such as
    examples/ringrift.yaml)."""

    async def switch(sim: SimCluster) -> None:
        if sim.fleet is None:
            raise SimError(
                f"scenario {scenario} needs a config with p2p: or vast: (try examples/ringrift.yaml)"
            )
        await sim.fleet.set_scenario(scenario)

    return switch


def _dependents(sim: SimCluster, root: str) -> list[str]:
    services = sim.cluster.services
    out: list[str] = []
    frontier = [root]
    while frontier:
        current = frontier.pop()
        for service in services:
            if current in service.depends_on and service.name not in out:
                out.append(service.name)
                frontier.append(service.name)
    return out


SCENARIOS: dict[str, Scenario] = {
    s.name: s
    for s in (
        Scenario(
            "gpu-overheat",
            "hydra-ai's RTX 5090 at full load with failing cooling (runbook 000: GPU Overheating)",
            _gpu_overheat,
            (("hydra-ai/gpu0", "gpu_temp"),),
        ),
        Scenario(
            "crash-loop",
            "litellm on hydra-storage crash-loops; open-webui behind it fails (runbook 000: Service Crash Loop)",
            _crash_loop,
            (("hydra-storage/container:litellm", "crash_loop"), ("service:litellm", "service_down")),
        ),
        Scenario(
            "disk-full",
            "hydra-storage's docker pool at 93 % (runbook 000: Disk Full)",
            _disk_full,
            (("hydra-storage", "disk"),),
        ),
        Scenario(
            "node-down",
            "vast-3070 stops answering (runbook 000: Node Down)",
            _node_down,
            (("vast-3070", "node_down"),),
        ),
        Scenario(
            "service-down",
            "the tabbyapi unit on hydra-ai failed; inference is down (runbook 000: Restart Services)",
            _service_down,
            (("hydra-ai/unit:tabbyapi", "unit_failed"), ("service:tabbyapi", "service_down")),
        ),
        Scenario(
            "dns-down",
            "AdGuard (DNS) is down and everything under it fails (runbook 000: Service Dependencies)",
            _dns_down,
            (("service:adguard", "service_down"),),
        ),
        Scenario(
            "partition",
            "the mesh splits: two nodes claim leadership (runbook 001: P2P partition)",
            _fleet("partition"),
            (("p2p", "p2p_partition"),),
        ),
        Scenario(
            "not-joining",
            "a running Vast instance never joins the mesh (runbook 001: Scenario 1)",
            _fleet("not-joining"),
            (),
        ),
        Scenario(
            "cost-spike",
            "expensive instances started and several idle (runbook 001: Hourly cost > $10)",
            _fleet("cost-spike"),
            (("cost", "hourly_cost"),),
        ),
        Scenario(
            "k8s",
            "a vLLM pod crash-loops (OOMKilled) and trainer-0 dies of CUDA out of memory (runbook 002)",
            _k8s,
            (),
        ),
        Scenario(
            "kv-cache",
            "vLLM's KV cache at 93 % with requests waiting (runbook 004: Golden Signals, Saturation)",
            _kv_cache,
            (),
        ),
    )
}
FLEET_SCENARIOS = ("partition", "not-joining", "cost-spike")
NEEDS: dict[str, tuple[str, str]] = {
    "k8s": ("kube", "examples/hdc-k8s.yaml"),
    "kv-cache": ("prometheus", "examples/gpu-platform.yaml"),
}
"""Scenarios that apply to any demo cluster but show only with this config section (and an example
that has it): the demo can say so instead of showing nothing."""


def hint(cluster: Cluster, name: str) -> str | None:
    """One line for a scenario the cluster will not show (its config lacks the section), else None."""
    need = NEEDS.get(name)
    if need is None or getattr(cluster, need[0]) is not None:
        return None
    return f"scenario {name} shows only with {need[0]}: in the config (try {need[1]})"


async def apply(sim: SimCluster, name: str) -> Scenario:
    scenario = SCENARIOS.get(name)
    if scenario is None:
        raise SimError(f"no scenario {name!r} (expected one of {', '.join(SCENARIOS)})")
    await scenario.apply(sim)
    return scenario
