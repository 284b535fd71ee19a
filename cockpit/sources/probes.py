"""What we ask a node, and pure parsers for what it answers.

One poll of a node is one round trip: a single ``sh`` script whose parts are fenced by marker lines
carrying a per-process nonce (a hostile program's output cannot forge a fence it cannot guess).
Each part's exit status is captured so a missing ``nvidia-smi`` (127) reads as "no GPUs" while a
broken driver reads as an error with nvidia-smi's own words.
"""

from __future__ import annotations

import math
import re
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from cockpit.model import CpuSample, Disk, GpuReading, HostReading, ProbeError
from cockpit.sources.containers import DOCKER_PS
from cockpit.sources.gpu_procs import COMPUTE_APPS, cgroup_command
from cockpit.sources.units import systemctl_show

GPU_FIELDS = (
    "index",
    "name",
    "uuid",
    "utilization.gpu",
    "memory.used",
    "memory.total",
    "temperature.gpu",
    "power.draw",
    "power.limit",
    # Read so a "set power limit" action can check its input against what the card accepts.
    "power.min_limit",
    "power.max_limit",
)
BASE_FIELDS = 9
"""Answers to the older, narrower query (and the captures of it) still parse."""
GPU_QUERY = f"nvidia-smi --query-gpu={','.join(GPU_FIELDS)} --format=csv,noheader,nounits"
HOST_PARTS = {
    "loadavg": "cat /proc/loadavg",
    "uptime": "cat /proc/uptime",
    # Only the lines we read: a full meminfo is ~50 lines to ship and parse every cycle.
    "meminfo": "grep -E '^(MemTotal|MemFree|MemAvailable|Buffers|Cached):' /proc/meminfo",
    "df": "df -P -k",
}
PIPELINES = frozenset({"docker_inspect"})
DOCKER_IDS = "docker ps -aq --no-trunc"
DOCKER_COUNTS = "docker inspect --type container --format '{{.Id}} {{.RestartCount}} {{.State.ExitCode}}'"
STAT = "grep '^cpu ' /proc/stat"
FIRST_STAT = f"{STAT}; sleep 0.25; {STAT}"
NO_SUCH_COMMAND = 127
TIMED_OUT = 124
UNAVAILABLE = {"[n/a]", "[not supported]", "n/a", "[unknown error]", "[gpu is lost]", ""}


def _is_count(text: str) -> bool:
    """ASCII digits only: ``str.isdigit`` also says yes to '²', which ``int`` then refuses."""
    return text.isascii() and text.isdigit()


def new_nonce() -> str:
    return secrets.token_hex(6)


@dataclass(frozen=True, slots=True)
class Part:
    """One fenced part of a node's answer."""

    text: str
    rc: int | None


def build_script(
    probes: Iterable[str],
    nonce: str,
    *,
    first: bool,
    gpu_timeout: float | None = None,
    units: Sequence[str] = (),
    pids: Iterable[int] = (),
    workloads: bool = True,
) -> str:
    """The whole poll as one script; ``first`` samples /proc/stat twice so CPU % exists at once.

    ``gpu_timeout`` wraps the commands that can hang in coreutils ``timeout``: nvidia-smi on a
    wedged driver, df on a stale NFS mount, docker on a hung daemon. Closing our channel does not
    stop a process on the node, so without it every poll would leave one more hung process (and
    sshd session) behind. ``units`` are the systemd units to show; ``pids`` are the GPU processes
    seen last time, whose cgroups name the container that owns each. ``workloads`` False leaves
    out containers, units and GPU processes: they change slowly and are read less often.
    """

    def bounded(command: str) -> str:
        if gpu_timeout is None:
            return command
        return f"timeout -k 2 {max(1.0, gpu_timeout):g} {command}"

    parts: list[tuple[str, str]] = []
    wanted = set(probes)
    if "host" in wanted:
        parts.extend((name, bounded(cmd) if name == "df" else cmd) for name, cmd in HOST_PARTS.items())
        parts.append(("stat", FIRST_STAT if first else STAT))
    # A part that hung (exit 124 from timeout) skips the parts that would hang the same way:
    # a wedged driver or docker daemon must cost one timeout per poll, not two.
    if "gpus" in wanted:
        parts.append(("gpus", bounded(GPU_QUERY)))
    if "gpus" in wanted and workloads:
        parts.append(("procs", f'[ "$rc_gpus" = {TIMED_OUT} ] || {bounded(COMPUTE_APPS)}'))
        cgroups = cgroup_command(pids)
        if cgroups:
            parts.append(("cgroups", cgroups))
    if "containers" in wanted and workloads:
        parts.append(("docker_ps", bounded(DOCKER_PS)))
        parts.append(
            ("docker_inspect", f"{bounded(DOCKER_IDS)} 2>/dev/null | xargs -r {bounded(DOCKER_COUNTS)}")
        )
    if units and workloads:
        parts.append(("units", bounded(systemctl_show(units))))
    lines = []
    for name, command in parts:
        lines.append(f"echo @@{nonce}:begin:{name}")
        # stdin from /dev/null: the poll may run in a shell that reads its script from stdin.
        # Braces, so the redirections cover a whole pipeline, not only its last command.
        grouped = name in PIPELINES
        lines.append(f"{{ {command}; }} 2>&1 </dev/null" if grouped else f"{command} 2>&1 </dev/null")
        lines.append(f"rc_{name}=$?")
        lines.append(f"echo @@{nonce}:end:{name}:$rc_{name}")
    return "\n".join(lines) + "\n"


def split_parts(output: str, nonce: str) -> dict[str, Part]:
    """Cut the script's output back into its fenced parts; an unclosed part keeps rc ``None``.

    A command whose output lacks a final newline leaves the end fence mid-line; the nonce makes
    the fence unforgeable, so it is looked for anywhere in the line, not only at its start.
    """
    begin, end = f"@@{nonce}:begin:", f"@@{nonce}:end:"
    parts: dict[str, Part] = {}
    current: str | None = None
    lines: list[str] = []
    for line in output.splitlines():
        if current is not None and end in line and not line.startswith(end):
            before, _, after = line.partition(end)
            lines.append(before)
            line = end + after
        if line.startswith(begin):
            if current is not None:
                parts[current] = Part("\n".join(lines), None)
            current, lines = line[len(begin) :].strip(), []
        elif line.startswith(end) and current is not None:
            name, _, rc = line[len(end) :].strip().rpartition(":")
            parts[name] = Part("\n".join(lines), int(rc) if _is_count(rc.removeprefix("-")) else None)
            current = None
        elif current is not None:
            lines.append(line)
    if current is not None:
        parts[current] = Part("\n".join(lines), None)
    return parts


def _number(text: str) -> float | None:
    cleaned = text.strip()
    if cleaned.lower() in UNAVAILABLE:
        return None
    cleaned = re.sub(r"\s*(%|MiB|W|C|MHz)$", "", cleaned)
    try:
        value = float(cleaned)
    except ValueError:
        return None
    return value if math.isfinite(value) else None  # "nan" parses; JSON cannot carry it


def _text(text: str) -> str | None:
    cleaned = text.strip()
    return None if cleaned.lower() in UNAVAILABLE else cleaned


def _one_line(text: str, limit: int = 160) -> str:
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 1] + "…"


def parse_loadavg(text: str) -> tuple[float, float, float] | ProbeError:
    fields = text.split()
    try:
        values = float(fields[0]), float(fields[1]), float(fields[2])
    except (IndexError, ValueError):
        values = None
    if values is None or not all(math.isfinite(v) for v in values):
        return ProbeError("host", f"unreadable /proc/loadavg: {_one_line(text)!r}")
    return values


def parse_uptime(text: str) -> float | None:
    try:
        value = float(text.split()[0])
    except (IndexError, ValueError):
        return None
    return value if math.isfinite(value) else None


def parse_cpu_samples(text: str) -> list[CpuSample]:
    """Every ``cpu`` summary line of /proc/stat: user nice system idle iowait irq softirq steal..."""
    samples = []
    for line in text.splitlines():
        fields = line.split()
        if len(fields) < 5 or fields[0] != "cpu":
            continue
        try:
            values = [int(v) for v in fields[1:]]
        except ValueError:
            continue
        # guest and guest_nice are already counted in user and nice.
        counted = values[:8]
        idle = values[3] + (values[4] if len(values) > 4 else 0)
        samples.append(CpuSample(total=sum(counted), idle=idle))
    return samples


def cpu_percent(before: CpuSample | None, after: CpuSample | None) -> float | None:
    if before is None or after is None:
        return None
    total = after.total - before.total
    idle = after.idle - before.idle
    if total <= 0 or idle < 0 or idle > total:
        return None
    return round(100.0 * (total - idle) / total, 1)


def parse_meminfo(text: str) -> tuple[int | None, int | None]:
    """(MemTotal, MemAvailable) in bytes; MemAvailable is estimated on kernels older than 3.14."""
    values: dict[str, int] = {}
    for line in text.splitlines():
        key, _, rest = line.partition(":")
        parts = rest.split()
        if parts and _is_count(parts[0]):
            scale = 1024 if len(parts) > 1 and parts[1] == "kB" else 1
            values[key.strip()] = int(parts[0]) * scale
    total = values.get("MemTotal")
    available = values.get("MemAvailable")
    if available is None and total is not None and "MemFree" in values:
        available = values["MemFree"] + values.get("Buffers", 0) + values.get("Cached", 0)
    return total, available


PSEUDO_FS = ("tmpfs", "devtmpfs", "overlay", "shm", "udev", "none", "efivarfs")
DF_LINE = re.compile(r"^(.+?)\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)%\s+(.+)$")
"""Both ends may hold spaces: a CIFS share ``//nas/F50 Pro`` and a mount point ``/media/My Drive``."""


def parse_df(text: str) -> tuple[Disk, ...]:
    """``df -P -k``: one line per filesystem; pseudo filesystems and snap images are skipped, except
    a container's root, an ``overlay`` that is the disk that fills up on a rented GPU instance."""
    disks = []
    for line in text.splitlines()[1:]:
        match = DF_LINE.match(line)
        if not match:
            continue
        fs, size, used, avail, pct, mount = match.groups()
        if (fs in PSEUDO_FS and mount != "/") or mount.startswith(("/proc", "/sys", "/dev", "/run")):
            continue
        if fs.startswith("/dev/loop") and "/snap/" in mount:
            continue  # a snap package: a read-only squashfs image, 100 % full by design
        disks.append(
            Disk(
                mount=mount,
                filesystem=fs,
                size_bytes=int(size) * 1024,
                used_bytes=int(used) * 1024,
                avail_bytes=int(avail) * 1024,
                used_pct=float(pct),
            )
        )
    return tuple(disks)


def parse_host(parts: dict[str, Part], previous: CpuSample | None) -> HostReading | ProbeError:
    """The host probe from its parts; CPU % needs the previous cycle's sample (or two in one)."""
    load = parse_loadavg(parts["loadavg"].text) if "loadavg" in parts else None
    if isinstance(load, ProbeError):
        return load
    if load is None:
        return ProbeError("host", "no answer from the host probe")
    samples = parse_cpu_samples(parts["stat"].text) if "stat" in parts else []
    sample = samples[-1] if samples else None
    before = samples[0] if len(samples) > 1 else previous
    total, available = parse_meminfo(parts["meminfo"].text) if "meminfo" in parts else (None, None)
    return HostReading(
        load1=load[0],
        load5=load[1],
        load15=load[2],
        cpu_pct=cpu_percent(before, sample),
        cpu_sample=sample,
        mem_total_bytes=total,
        mem_available_bytes=available,
        uptime_s=parse_uptime(parts["uptime"].text) if "uptime" in parts else None,
        disks=parse_df(parts["df"].text) if "df" in parts else (),
        warnings=("df timed out (a stale NFS mount?)",)
        if "df" in parts and parts["df"].rc == TIMED_OUT
        else (),
    )


def parse_gpus(text: str, rc: int | None) -> tuple[GpuReading, ...] | ProbeError:
    """``nvidia-smi --query-gpu=GPU_FIELDS --format=csv,noheader,nounits``.

    Missing nvidia-smi is not an error: the node simply has no GPUs. Anything nvidia-smi says
    instead of CSV (driver not loaded, no devices) becomes a ProbeError in its own words.
    """
    if rc == NO_SUCH_COMMAND:
        if re.search(r"\btimeout: (not found|command not found)", text):
            return ProbeError("gpus", "the node has no `timeout` command (coreutils) to bound nvidia-smi")
        return ()
    if rc == TIMED_OUT:
        return ProbeError("gpus", "nvidia-smi timed out (a hung driver?)")
    rows: list[GpuReading] = []
    problems: list[str] = []
    for line in text.splitlines():
        if not line.strip():
            continue
        fields = [f.strip() for f in line.split(", ")]
        if len(fields) not in (len(GPU_FIELDS), BASE_FIELDS) or not _is_count(fields[0]):
            problems.append(line.strip())
            continue
        values = dict(zip(GPU_FIELDS, fields, strict=False))
        rows.append(
            GpuReading(
                index=int(values["index"]),
                name=_text(values["name"]),
                uuid=_text(values["uuid"]),
                util_pct=_number(values["utilization.gpu"]),
                mem_used_mib=_number(values["memory.used"]),
                mem_total_mib=_number(values["memory.total"]),
                temp_c=_number(values["temperature.gpu"]),
                power_w=_number(values["power.draw"]),
                power_limit_w=_number(values["power.limit"]),
                power_min_w=_number(values.get("power.min_limit", "")),
                power_max_w=_number(values.get("power.max_limit", "")),
            )
        )
    if problems and not rows:
        return ProbeError("gpus", f"nvidia-smi: {_one_line(problems[0])}")
    if rc not in (0, None) and not rows:
        return ProbeError("gpus", f"nvidia-smi exited with status {rc}")
    if rc is None and not rows:
        return ProbeError("gpus", "nvidia-smi did not finish")
    return tuple(rows)
