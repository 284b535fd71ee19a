"""One node read by both SSH and Prometheus: per metric the configured winner, the other filling in.

``prometheus.prefer`` names the winner (``ssh`` or ``prometheus``, for all metrics or per metric:
``{gpus: prometheus}``). The loser fills in when the winner has nothing for that metric: the GPU
probe failed, or SSH could not reach the node at all. A node that SSH cannot reach while its
exporters still answer is *up* (it is running and serving GPUs), and the SSH failure stays on it as a
probe warning: the operator learns that actions over SSH will not work without a false "node down".

Workloads (containers, units, GPU processes) are SSH's alone; Prometheus has no such vocabulary.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TypeVar

import cockpit.config  # noqa: F401  (config imports prom_config at its end: load it first)
from cockpit.model import GpuReading, HostReading, NodeStatus
from cockpit.prom_config import PrometheusConfig
from cockpit.sources.prom_model import PromNode
from cockpit.state import NodeState

T = TypeVar("T", HostReading | None, tuple[GpuReading, ...])


def merge_node(ssh: NodeState, prom: PromNode | None, prom_at: float, config: PrometheusConfig) -> NodeState:
    """``ssh`` as the SSH engine judged it, ``prom`` as Prometheus last read it (``prom_at``)."""
    if prom is None or prom.down:
        return ssh
    prom_host = prom.host if isinstance(prom.host, HostReading) else None
    prom_gpus = prom.gpus or ()
    ssh_up = ssh.status is NodeStatus.UP
    ssh_host = ssh.host if ssh_up else None
    ssh_gpus = ssh.gpus if ssh_up and not ssh.gpu_error else ()
    host = _pick(config.winner("host") == "prometheus", ssh_host, prom_host)
    gpus = _pick(config.winner("gpus") == "prometheus", ssh_gpus, prom_gpus)
    gpu_error = None if gpus and gpus is prom_gpus else ssh.gpu_error
    if ssh_up:
        return replace(ssh, host=host, gpus=gpus, gpu_error=gpu_error)
    if host is None and not gpus:
        return ssh
    return replace(
        ssh,
        status=NodeStatus.UP,
        error=None,
        last_ok=prom_at,
        host=host,
        gpus=gpus,
        gpu_error=gpu_error if not gpus else None,
        probe_errors=(*ssh.probe_errors, f"ssh: {ssh.error or ssh.status.value} (readings from Prometheus)"),
    )


def _pick(prom_wins: bool, ssh: T, prom: T) -> T:
    first, second = (prom, ssh) if prom_wins else (ssh, prom)
    return first if first else second
