"""GPU compute processes and the containers that own them.

``nvidia-smi --query-compute-apps`` gives host PIDs (the driver ignores PID namespaces), so the
owning container is read from ``/proc/PID/cgroup`` on the same node, in a second part of the poll
built from the first reading's PIDs. nvidia-smi does not quote CSV fields: a process name may hold
", " ("C:\\Program Files\\NVIDIA Corporation\\NVIDIA App\\CEF\\NVIDIA Overlay.exe" has spaces; a
workload can name itself anything), so a row is read outside-in: pid from the left, GPU UUID and
memory from the right, the name is whatever lies between.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import replace

from cockpit.model import GpuProcess, ProbeError
from cockpit.sanitize import clean

PROBE = "gpu_procs"
COMPUTE_APPS = (
    "nvidia-smi --query-compute-apps=pid,process_name,used_memory,gpu_uuid --format=csv,noheader,nounits"
)
NO_SUCH_COMMAND = 127
TIMED_OUT = 124
UNAVAILABLE = {"[n/a]", "n/a", "[not supported]", "[insufficient permissions]", "[unknown error]", ""}
MAX_PIDS = 512
"""A node with more GPU processes than this gets the first ones attributed, not a huge command line."""

_UUID = re.compile(r"^(?:GPU|MIG)-[0-9A-Fa-f-]+$|^MIG-GPU-[0-9A-Fa-f-]+/\d+/\d+$")
_GREP_LINE = re.compile(r"^/proc/(\d+)/cgroup:(.*)$")
# The container id is 64 hex characters, after "docker-", "cri-containerd-", "crio-", "libpod-",
# a slash (cgroupfs driver: /docker/<id>, /kubepods/.../pod<uid>/<id>) or a colon (containerd's
# "slice:cri-containerd:<id>" form on cgroup v1), and before ".scope", a slash or the end.
_CONTAINER_ID = re.compile(r"(?:^|[/:-])([0-9a-f]{64})(?=\.scope|/|$)")
# libpod-conmon-<id>.scope holds podman's monitor process, not the container.
_CONMON = re.compile(r"conmon-[0-9a-f]{64}")


def _memory(text: str) -> float | None:
    cleaned = text.strip()
    if cleaned.lower() in UNAVAILABLE:
        return None
    cleaned = cleaned.removesuffix("MiB").strip()
    try:
        value = float(cleaned)
    except ValueError:
        return None
    return value if math.isfinite(value) and value >= 0 else None


def _row(line: str) -> GpuProcess | None:
    fields = line.split(", ")
    if len(fields) < 4:
        return None
    pid_text, uuid, memory = fields[0].strip(), fields[-1].strip(), fields[-2]
    if not (pid_text.isascii() and pid_text.isdigit()) or len(pid_text) > 10:
        return None
    name = ", ".join(fields[1:-2]).strip()
    return GpuProcess(
        pid=int(pid_text),
        name=clean(name, limit=256),
        used_mib=_memory(memory),
        gpu_uuid=clean(uuid, limit=96) if _UUID.match(uuid) else None,
    )


def parse_compute_apps(text: str, rc: int | None) -> tuple[GpuProcess, ...] | ProbeError:
    """``COMPUTE_APPS`` output: one GpuProcess per row; none when idle (an empty answer, or "No
    running processes found" on drivers that print it) or when the node has no nvidia-smi.
    A ``[N/A]`` memory (Windows WDDM, some MIG and vGPU setups) is None, not 0."""
    if rc == NO_SUCH_COMMAND:
        return ()
    if rc == TIMED_OUT:
        return ProbeError(PROBE, "nvidia-smi timed out (a hung driver?)")
    rows: list[GpuProcess] = []
    problems: list[str] = []
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped or "no running processes found" in stripped.lower():
            continue
        if stripped.startswith("pid,"):  # a header, should the format ever lose "noheader"
            continue
        row = _row(stripped)
        if row is None:
            problems.append(stripped)
        else:
            rows.append(row)
    if not rows and problems:
        return ProbeError(PROBE, f"nvidia-smi: {clean(' '.join(problems[0].split()), limit=160)}")
    if not rows and rc not in (0, None):
        return ProbeError(PROBE, f"nvidia-smi exited with status {rc}")
    if not rows and rc is None and text.strip():
        return ProbeError(PROBE, "nvidia-smi did not finish")
    return tuple(rows)


def cgroup_command(pids: Iterable[int]) -> str | None:
    """``grep -H '' /proc/PID/cgroup ...``: every line prefixed by its file, so one call answers for
    all PIDs; a PID gone since nvidia-smi saw it is silently missing (grep then exits 2)."""
    unique = sorted({int(p) for p in pids if isinstance(p, int) and 0 < p < 2**31})[:MAX_PIDS]
    if not unique:
        return None
    files = " ".join(f"/proc/{pid}/cgroup" for pid in unique)
    return f"grep -H '' {files} 2>/dev/null"


def container_id_of(cgroup_lines: Iterable[str]) -> str | None:
    """The 64-hex container id in a process's cgroup lines, or None for a host process.

    On a hybrid v1 host the unified ``0::`` line may name only ``docker.service`` while the
    controllers name the container, so every line is looked at and any id found wins; podman's
    ``libpod-conmon-<id>`` (the monitor, on the host) does not count.
    """
    for line in cgroup_lines:
        path = line.split(":", 2)[-1] if line.count(":") >= 2 else line
        if _CONMON.search(path):
            continue
        match = _CONTAINER_ID.search(path.strip())
        if match:
            return match.group(1)
    return None


def parse_cgroups(text: str) -> dict[int, str | None]:
    """``cgroup_command`` output: pid -> container id (None for a host process). A PID whose file
    could not be read is absent, so "gone" and "host" stay different answers."""
    lines: dict[int, list[str]] = {}
    for line in text.splitlines():
        match = _GREP_LINE.match(line)
        if match:
            lines.setdefault(int(match.group(1)), []).append(match.group(2))
    return {pid: container_id_of(found) for pid, found in lines.items()}


def with_containers(procs: Iterable[GpuProcess], mapping: Mapping[int, str | None]) -> tuple[GpuProcess, ...]:
    """The processes with ``container_id`` filled from :func:`parse_cgroups`."""
    return tuple(replace(p, container_id=mapping.get(p.pid)) for p in procs)
