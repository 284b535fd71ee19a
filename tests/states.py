"""Hand-built ClusterStates for TUI tests: the same frozen objects the engine publishes."""

from __future__ import annotations

import math
from dataclasses import replace

from cockpit.alerts import AlertTracker
from cockpit.config import Thresholds
from cockpit.model import (
    Container,
    Disk,
    GpuProcess,
    GpuReading,
    HostReading,
    NodeStatus,
    ServiceReading,
    Unit,
)
from cockpit.state import ClusterState, History, HistoryView, NodeState

NOW = 1_763_800_000.0


def _host(load: float, cpu: float, mem_pct: float, disk_pct: float) -> HostReading:
    total = 128 * 2**30
    return HostReading(
        load1=load,
        load5=load * 0.9,
        load15=load * 0.8,
        cpu_pct=cpu,
        mem_total_bytes=total,
        mem_available_bytes=int(total * (1 - mem_pct / 100)),
        uptime_s=86400 * 3,
        disks=(Disk("/", "/dev/nvme0n1p2", 10**12, int(10**12 * disk_pct / 100), 0, disk_pct),),
    )


def _gpu(index: int, name: str, util: float, temp: float, power: float, limit: float) -> GpuReading:
    return GpuReading(
        index=index,
        name=name,
        uuid=f"GPU-{index:08x}-0000-0000-0000-000000000000",
        util_pct=util,
        mem_used_mib=20000.0,
        mem_total_mib=32607.0,
        temp_c=temp,
        power_w=power,
        power_limit_w=limit,
    )


def sample_state(nodes: int = 6, seq: int = 40) -> ClusterState:
    """A fleet with one hot GPU, one stale node and one down node, and 40 cycles of history."""
    history = History(451)
    states: list[NodeState] = [
        NodeState(
            name="hydra-ai",
            status=NodeStatus.UP,
            last_ok=NOW - 0.4,
            host=_host(3.2, 41.0, 62.0, 55.0),
            gpus=(_gpu(0, "NVIDIA GeForce RTX 5090", 97.0, 86.0, 455.0, 575.0),),
            tags=("inference",),
        ),
        NodeState(
            name="hydra-compute",
            status=NodeStatus.UP,
            last_ok=NOW - 0.5,
            host=_host(1.1, 12.0, 35.0, 71.0),
            gpus=(
                _gpu(0, "NVIDIA GeForce RTX 4090", 45.0, 64.0, 210.0, 450.0),
                _gpu(1, "NVIDIA GeForce RTX 5070 Ti", 5.0, 41.0, 22.0, 300.0),
            ),
            tags=("inference",),
        ),
        NodeState(
            name="hydra-storage",
            status=NodeStatus.UP,
            last_ok=NOW - 0.3,
            host=_host(0.4, 71.0, 88.0, 93.0),
            has_gpu_probe=False,
            tags=("storage",),
        ),
        NodeState(
            name="vast-5090-a",
            status=NodeStatus.STALE,
            error="command timed out after 5s",
            last_ok=NOW - 14,
            host=_host(7.9, 88.0, 50.0, 40.0),
            gpus=(_gpu(0, "NVIDIA GeForce RTX 5090", 100.0, 74.0, 430.0, 575.0),),
        ),
        NodeState(name="vast-3070", status=NodeStatus.DOWN, error="connection refused: port 22205"),
        NodeState(
            name="lambda-h100",
            status=NodeStatus.UP,
            last_ok=NOW - 0.2,
            host=_host(12.5, 65.0, 40.0, 20.0),
            gpus=(_gpu(0, "NVIDIA H100 80GB HBM3", 81.0, 58.0, 512.0, 700.0),),
        ),
    ][:nodes]
    for s in range(1, seq + 1):
        for node in states:
            for gpu in node.gpus:
                wave = 0.5 + 0.5 * math.sin(s / 5 + gpu.index)
                history.add((node.name, gpu.index, "util"), s, (gpu.util_pct or 0) * wave)
                history.add((node.name, gpu.index, "temp"), s, 35 + ((gpu.temp_c or 40) - 35) * wave)
    states = [_with_workloads(node) for node in states]
    state = ClusterState(
        cluster="hydra-demo",
        seq=seq,
        at=NOW,
        nodes=tuple(states),
        history=HistoryView(history, seq),
        refresh=2.0,
        services=SERVICES,
        blocked_by={"open-webui": "litellm"},
    )
    return replace(state, alerts=AlertTracker(Thresholds(hold_s=0)).update(state), _index={})


def _cid(n: int) -> str:
    return f"{n:x}" * (64 // len(f"{n:x}"))


CONTAINERS = {
    "hydra-ai": (
        Container(
            _cid(0xA1),
            "open-webui",
            "ghcr.io/open-webui/open-webui:main",
            "running",
            "Up 3 days",
            ports="0.0.0.0:3000->8080/tcp",
            restart_count=0,
        ),
    ),
    "hydra-storage": (
        Container(
            _cid(0xB1),
            "litellm",
            "ghcr.io/berriai/litellm:main-stable",
            "restarting",
            "Restarting (1) 4 seconds ago",
            project="hydra-stack",
            restart_count=17,
            exit_code=1,
        ),
        Container(
            _cid(0xB2),
            "postgres",
            "postgres:16",
            "running",
            "Up 3 days (healthy)",
            project="hydra-stack",
            ports="5432/tcp",
            restart_count=0,
        ),
        Container(
            _cid(0xB3),
            "grafana",
            "grafana/grafana:11.3.0",
            "exited",
            "Exited (137) 2 hours ago",
            project="hydra-stack",
            restart_count=0,
            exit_code=137,
        ),
    ),
}
UNITS = {
    "hydra-ai": (Unit("tabbyapi", "active", "running", since=NOW - 7200),),
    "hydra-compute": (Unit("ollama", "failed", "failed", since=NOW - 300),),
}
PROCS = {
    "hydra-ai": (
        GpuProcess(4242, "python3", 18000.0, "GPU-00000000-0000-0000-0000-000000000000", None),
        GpuProcess(5151, "/usr/bin/ollama", 1500.0, "GPU-00000000-0000-0000-0000-000000000000", _cid(0xA1)),
    ),
}
SERVICES = (
    ServiceReading(
        "tabbyapi", "http://127.0.0.1:25000/v1/model", NOW, True, 200, 0.012, detail="model Qwen2.5-72B"
    ),
    ServiceReading(
        "litellm", "http://127.0.0.1:24000/health", NOW, False, None, None, error="connection refused"
    ),
    ServiceReading("open-webui", "http://127.0.0.1:23000/", NOW, False, 502, 0.004, error="HTTP 502"),
)


def _with_workloads(node: NodeState) -> NodeState:
    containers = CONTAINERS.get(node.name, ())
    return replace(
        node,
        containers=containers,
        crash_looping=frozenset(c.name for c in containers if c.restarting),
        units=UNITS.get(node.name, ()),
        procs=PROCS.get(node.name, ()),
    )
