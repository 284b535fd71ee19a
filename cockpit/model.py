"""The cockpit's vocabulary: frozen readings about the cluster, and why one could not be read.

Everything here is a plain frozen dataclass so that a state built from them can be handed to the UI
thread, recorded, or compared in a test without anyone being able to change it underneath.
A value the source reports as unavailable (``[N/A]``, ``[Not Supported]``, missing) is ``None``,
never 0: an operator must be able to tell "idle" from "unknown".
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class NodeStatus(StrEnum):
    """How much the cockpit currently knows about a node."""

    UP = "up"
    STALE = "stale"
    DOWN = "down"


class DownReason(StrEnum):
    """Why a node could not be reached, in the words an operator searches for."""

    REFUSED = "connection refused"
    TIMEOUT = "timeout"
    AUTH = "auth failed"
    HOST_KEY_UNKNOWN = "host key unknown"
    HOST_KEY_CHANGED = "host key changed"
    DNS = "DNS lookup failed"
    UNREACHABLE = "unreachable"
    DISCONNECTED = "disconnected"
    JUMP = "jump host down"
    ERROR = "error"


@dataclass(frozen=True, slots=True)
class ProbeError:
    """A probe ran but its output could not be turned into a reading; ``reason`` is one line."""

    probe: str
    reason: str


@dataclass(frozen=True, slots=True)
class CpuSample:
    """Cumulative jiffies from the ``cpu`` line of /proc/stat; CPU % needs two of them."""

    total: int
    idle: int


@dataclass(frozen=True, slots=True)
class Disk:
    """One mounted filesystem as ``df -P`` reports it (sizes in bytes)."""

    mount: str
    filesystem: str
    size_bytes: int | None
    used_bytes: int | None
    avail_bytes: int | None
    used_pct: float | None


@dataclass(frozen=True, slots=True)
class HostReading:
    """Load, CPU, memory, disks and uptime of one node at one moment."""

    load1: float | None = None
    load5: float | None = None
    load15: float | None = None
    cpu_pct: float | None = None
    cpu_sample: CpuSample | None = None
    mem_total_bytes: int | None = None
    mem_available_bytes: int | None = None
    uptime_s: float | None = None
    disks: tuple[Disk, ...] = ()
    warnings: tuple[str, ...] = ()
    """Parts of the probe that failed while the rest answered (a df stuck on NFS, say)."""

    @property
    def mem_used_bytes(self) -> int | None:
        if self.mem_total_bytes is None or self.mem_available_bytes is None:
            return None
        return self.mem_total_bytes - self.mem_available_bytes

    @property
    def mem_pct(self) -> float | None:
        used = self.mem_used_bytes
        if used is None or not self.mem_total_bytes:
            return None
        return 100.0 * used / self.mem_total_bytes

    @property
    def worst_disk_pct(self) -> float | None:
        values = [d.used_pct for d in self.disks if d.used_pct is not None]
        return max(values) if values else None


@dataclass(frozen=True, slots=True)
class GpuReading:
    """One GPU as ``nvidia-smi --query-gpu`` (or NVML, or DCGM) reports it."""

    index: int
    name: str | None = None
    uuid: str | None = None
    util_pct: float | None = None
    mem_used_mib: float | None = None
    mem_total_mib: float | None = None
    temp_c: float | None = None
    power_w: float | None = None
    power_limit_w: float | None = None
    power_min_w: float | None = None
    power_max_w: float | None = None

    @property
    def mem_pct(self) -> float | None:
        if self.mem_used_mib is None or not self.mem_total_mib:
            return None
        return 100.0 * self.mem_used_mib / self.mem_total_mib

    @property
    def power_pct(self) -> float | None:
        """Power drawn, in percent of the power limit; None without both."""
        if self.power_w is None or not self.power_limit_w:
            return None
        return 100.0 * self.power_w / self.power_limit_w


@dataclass(frozen=True, slots=True)
class Container:
    """One container as ``docker ps -a --format '{{json .}}'`` and ``docker inspect`` report it."""

    id: str
    name: str
    image: str
    state: str
    """Docker's State: created, running, restarting, paused, exited, dead (``""`` if docker is too old)."""
    status: str
    """Docker's human Status: "Up 2 hours", "Restarting (1) 5 seconds ago", "Exited (137) 3 min ago"."""
    created: str | None = None
    ports: str = ""
    project: str | None = None
    """The compose project (label ``com.docker.compose.project``), if any."""
    restart_count: int | None = None
    exit_code: int | None = None
    ref: str | None = None
    """What a docker command names it by: its name when docker could have made that name, else its
    id; empty when neither is safe (None: not read from docker, the name is used). A hostile ``web\x1b[0m`` is shown as ``web`` once cleaned, and
    ``docker restart web`` would restart the real ``web``; its id cannot alias another."""

    @property
    def restarting(self) -> bool:
        return self.state == "restarting" or self.status.startswith("Restarting")


@dataclass(frozen=True, slots=True)
class Unit:
    """One systemd unit as ``systemctl show -p Id,LoadState,ActiveState,SubState,...`` reports it."""

    name: str
    active: str
    """active, failed, activating, deactivating, inactive, reloading."""
    sub: str = ""
    load: str = "loaded"
    """loaded, or not-found when the unit does not exist on the node."""
    since: float | None = None
    """ActiveEnterTimestamp (or InactiveEnter for a stopped unit) as epoch seconds; None if never."""


@dataclass(frozen=True, slots=True)
class GpuProcess:
    """A compute process on a GPU, with the container that owns it (from /proc/PID/cgroup)."""

    pid: int
    name: str
    used_mib: float | None
    gpu_uuid: str | None
    container_id: str | None = None
    """Full container id found in the process's cgroup path; None for a host process."""


@dataclass(frozen=True, slots=True)
class ServiceReading:
    """One HTTP health probe of a service: what came back, how fast, and what was wrong with it."""

    name: str
    url: str
    at: float
    ok: bool
    status_code: int | None = None
    latency_s: float | None = None
    error: str | None = None
    """One line: "connection refused", "timeout after 5s", "HTTP 503", "model_name is empty"."""
    detail: str | None = None
    """What the body said that matters (the loaded model, "3 models"), sanitized by the prober."""


@dataclass(frozen=True, slots=True)
class NodeReading:
    """Everything one poll of one node produced: a reading or an error per probe."""

    at: float
    host: HostReading | ProbeError | None = None
    gpus: tuple[GpuReading, ...] | ProbeError | None = None
    extra_errors: tuple[ProbeError, ...] = field(default=())


@dataclass(frozen=True, slots=True)
class Alert:
    """A value past a runbook threshold, or a node that cannot be read, and since when."""

    severity: str
    """``warning`` or ``critical``."""
    subject: str
    """``node``, ``node/gpuN`` or ``cluster``."""
    metric: str
    message: str
    value: float | str | None = None
    threshold: float | None = None
    since: float | None = None
    actions: tuple[str, ...] = ()
