"""Simulated hardware of one node, moving over time as a pure function of the seed and a clock.

The demo and the tests must see believable, *reproducible* machines: the same seed and the same
sequence of clock readings give the same numbers, so a test can freeze time, step it, and assert.
State advances on a fixed one-second grid (loads, jiffies, GPU temperature are integrated step by
step); the "weather" that drives it (how busy a CPU or GPU is) is smooth value noise hashed from the
seed, so nothing here uses a global RNG or the wall clock unless the caller passes ``time.time``.
"""

from __future__ import annotations

import math
import random
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from cockpit.config import NodeConfig, SimDisk, SimNode
from cockpit.sim.gpu_model import GPU_SPECS, ComputeApp, Gpu, GpuSpec, gpu_spec
from cockpit.sim.noise import _mix, hash01, name_key, smooth_noise
from cockpit.sim.services_catalog import node_services, unit_id
from cockpit.sim.services_world import ServicesWorld

__all__ = [
    "GPU_SPECS",
    "Clock",
    "ComputeApp",
    "DiskState",
    "Gpu",
    "GpuSpec",
    "NodeWorld",
    "gpu_spec",
    "hash01",
]

Clock = Callable[[], float]
MAX_STEPS = 900
"""A clock jump longer than this (seconds) is integrated over its last MAX_STEPS seconds only."""
USER_HZ = 100
LOAD_DECAY = tuple(math.exp(-5.0 / (60.0 * m)) for m in (1, 5, 15))
GIB_KB = 1024 * 1024


@dataclass(slots=True)
class Faults:
    """Per-node switches the server and scenario tests flip at run time."""

    nvidia_smi: str = "ok"
    smi_delay: float = 0.0


@dataclass(frozen=True, slots=True)
class DiskState:
    """One mount as df reports it, in 1K blocks."""

    filesystem: str
    mount: str
    blocks: int
    used: int
    avail: int


PROCESS_NAMES = {"ollama": "/usr/local/bin/ollama", "tabbyapi": "python3", "vllm": "python3"}


class NodeWorld:
    """The simulated machine behind one node: call :meth:`advance` before reading it."""

    def __init__(self, node: NodeConfig, seed: int, clock: Clock) -> None:
        self.node = node
        self.sim: SimNode = node.sim or SimNode()
        self.clock = clock
        self.key = _mix(seed ^ name_key(node.name))
        self.faults = Faults(nvidia_smi=self.sim.nvidia_smi)
        self.disk_overrides: dict[str, float] = {}
        start = clock()
        self.boot_time = float(int(start - 86400 * (2 + 38 * hash01(self.key, 1))))
        self.jiffies = [0.0] * 10
        self.load = [0.0, 0.0, 0.0]
        self.last_pid = 1000 + int(30000 * hash01(self.key, 2))
        raw = [0.85 + 0.3 * hash01(self.key, 80, i) for i in range(self.sim.cpus)]
        weights = [w * len(raw) / sum(raw) for w in raw]
        nominal = min(0.8, 0.02 + 0.8 * self.sim.busy)
        self.cpu_shares = [(w / len(raw), (1 - nominal * w) / (len(raw) * (1 - nominal))) for w in weights]
        """Each CPU's fixed share of the (busy, idle) jiffies: uneven work, near-equal totals; fixed
        shares keep every per-cpu counter of /proc/stat monotonic."""
        rng = random.Random(f"{seed}:{node.name}")
        models = self.sim.gpus if self.sim.gpus is not None else _default_gpus(node)
        ambient = 24.0 + 6.0 * hash01(self.key, 3)
        self.gpus = [self._make_gpu(i, m, rng, ambient) for i, m in enumerate(models)]
        self.init = "sysv" if "unraid" in node.tags else "container" if "vast" in node.tags else "systemd"
        """PID 1: systemd; Unraid's Slackware init (no systemctl); or a vast.ai container's shell."""
        self.systemd = self.init == "systemd"
        self.host_owner = f"unit:{unit_id(node.units[0])}" if node.units and self.systemd else "session:"
        """Who runs the node's own GPU work: its first unit, else a login session."""
        self.login_uid = 0 if node.user == "root" else 1000
        self.killed_sessions: set[int] = set()
        self.disk_freed: dict[str, int] = {}
        self._app_sig: tuple = ()
        services = node_services(node, self.systemd)
        self.services = ServicesWorld(
            services,
            self.key,
            self.boot_time,
            start,
            cgroupfs=self.init == "sysv",
            pid_for=self._unit_gpu_pid,
        )
        self._t = math.floor(start)
        self._warm_up(start)
        self.sync_apps(start)

    def _make_gpu(self, index: int, model: str, rng: random.Random, ambient: float) -> Gpu:
        spec = gpu_spec(model)
        gpu_uuid = "GPU-" + str(uuid.UUID(int=rng.getrandbits(128), version=4))
        bus = f"00000000:00:{index + 6:02X}.0" if spec.datacenter else f"00000000:{index + 1:02X}:00.0"
        key = _mix(self.key ^ index)
        idle = 0.08 + 0.07 * hash01(key, 7)
        gpu = Gpu(index, spec, gpu_uuid, bus, float(spec.pl_default), ambient, key, idle)
        if self.sim.busy >= 0.05:
            unit = self.node.units[0] if self.node.units else ""
            gpu.host_mib = int(spec.mem_total_mib * (0.45 + 0.45 * hash01(gpu.key, 12)))
            gpu.host_name = PROCESS_NAMES.get(unit, "python3")
        return gpu

    def _warm_up(self, now: float) -> None:
        """Start in a steady state, as a machine that has been up for days would be."""
        up = now - self.boot_time
        busy = self.cpu_busy(now)
        total = self.cpus * USER_HZ * up
        self.jiffies = self._split_jiffies(total, busy * 0.9)
        runnable = self.cpus * busy
        self.load = [runnable * (0.8 + 0.4 * hash01(self.key, 43, i)) for i in range(3)]
        for gpu in self.gpus:
            self._step_gpu(gpu, now, dt=None)

    # -- the weather ---------------------------------------------------------------------------

    @property
    def cpus(self) -> int:
        return self.sim.cpus

    def cpu_busy(self, t: float) -> float:
        b = self.sim.busy
        x = (
            0.02
            + 0.8 * b
            + 0.12 * smooth_noise(self.key ^ 21, t, 20)
            + 0.04 * smooth_noise(self.key ^ 22, t, 4)
        )
        return min(0.97, max(0.005, x))

    def gpu_util_target(self, gpu: Gpu, t: float) -> float:
        if "util" in gpu.overrides:
            return gpu.overrides["util"]
        b = self.sim.busy
        if b < 0.05:
            return 0.0
        x = 100 * b + 22 * smooth_noise(gpu.key ^ 31, t, 15) + 8 * smooth_noise(gpu.key ^ 32, t, 3)
        return min(100.0, max(0.0, x))

    def _split_jiffies(self, total: float, busy: float) -> list[float]:
        """user nice system idle iowait irq softirq steal guest guest_nice for ``total`` jiffies."""
        steal = 0.015 if "rented" in self.node.tags else 0.0
        io = 0.004
        parts = [busy * 0.78, busy * 0.01, busy * 0.17, 0.0, io, busy * 0.003, busy * 0.02]
        parts.append(steal * busy)
        parts[3] = max(0.0, 1.0 - sum(parts))
        return [p * total for p in parts] + [0.0, 0.0]

    # -- integration ---------------------------------------------------------------------------

    def advance(self) -> float:
        """Integrate up to the clock's current second; returns the clock reading."""
        now = self.clock()
        target = math.floor(now)
        if target - self._t > MAX_STEPS:
            skipped = target - MAX_STEPS - self._t
            self._add_jiffies(self._t, skipped)
            self._t = target - MAX_STEPS
        while self._t < target:
            t = self._t
            self._add_jiffies(t, 1.0)
            if t % 5 == 0:
                self._step_load(t)
            for gpu in self.gpus:
                self._step_gpu(gpu, t, dt=1.0)
            self._t = t + 1
        self.services.sync(now)
        self.sync_apps(now)
        return now

    def _add_jiffies(self, t: float, seconds: float) -> None:
        add = self._split_jiffies(self.cpus * USER_HZ * seconds, self.cpu_busy(t))
        self.jiffies = [a + b for a, b in zip(self.jiffies, add, strict=True)]

    def _step_load(self, t: float) -> None:
        runnable = self.cpus * self.cpu_busy(t) + 0.3 * hash01(self.key, 41, int(t))
        self.load = [ld * e + runnable * (1 - e) for ld, e in zip(self.load, LOAD_DECAY, strict=True)]
        self.last_pid += 1 + int(4 * hash01(self.key, 42, int(t)))

    def _step_gpu(self, gpu: Gpu, t: float, dt: float | None) -> None:
        gpu.util = self.gpu_util_target(gpu, t)
        gpu.power = self.power_for(gpu, t)
        # ``heat`` > 1 is a clogged heatsink or a dead fan: the same watts run hotter, so a lower
        # power limit still cools the card (the runbook's remedy works in the demo too).
        heat = gpu.overrides.get("heat", 1.0)
        target = gpu.ambient + (80.0 - gpu.ambient) * gpu.power / gpu.spec.pl_default * heat
        if "temp" in gpu.overrides:
            gpu.temp = gpu.overrides["temp"]
        elif dt is None:
            gpu.temp = target
        else:
            gpu.temp = target + (gpu.temp - target) * math.exp(-dt / 25.0)
        _wobble(gpu, t)

    def power_for(self, gpu: Gpu, t: float) -> float:
        """Idle draw plus a share of the headroom that grows with utilisation, under the limit."""
        if "power" in gpu.overrides:
            return gpu.overrides["power"]
        idle = gpu.idle_power
        ripple = 0.94 + 0.06 * smooth_noise(gpu.key ^ 33, t, 2)
        draw = idle + (gpu.power_limit - idle) * (gpu.util / 100.0) ** 0.85 * ripple
        return min(gpu.power_limit, max(idle * 0.9, draw * (0.97 + 0.03 * ripple)))

    # -- processes on the GPUs -----------------------------------------------------------------

    def _host_pid(self, gpu: Gpu, gen: int) -> int:
        return 1000 + int(60000 * (hash01(gpu.key, 11) if gen == 0 else hash01(gpu.key, 11, gen)))

    def _unit_gpu_pid(self, unit: str, gen: int) -> int | None:
        """A unit that runs the node's GPU work has the first board's process as its MainPID."""
        hosts = [g for g in self.gpus if g.host_mib]
        return self._host_pid(hosts[0], gen) if hosts and self.host_owner == f"unit:{unit}" else None

    def _host_gen(self, gpu: Gpu) -> int | None:
        """Generation of the host process on ``gpu`` now, or None while it is not running."""
        kind, _, name = self.host_owner.partition(":")
        if kind == "session":
            return None if gpu.index in self.killed_sessions else 0
        unit = self.services.units.get(name)
        return unit.gen if unit is not None and unit.state in ("active", "activating") else None

    def sync_apps(self, now: float) -> None:
        """Make each board's process list match who is running; scripted apps are left alone."""
        wanted: list[list[ComputeApp]] = []
        session = f"/user.slice/user-{self.login_uid}.slice/session-{1 + int(9 * hash01(self.key, 90))}.scope"
        if self.init == "container":
            session = "/"  # inside a container's own cgroup namespace
        for gpu in self.gpus:
            apps = []
            gen = self._host_gen(gpu) if gpu.host_mib else None
            if gen is not None:
                owner = self.host_owner if self.host_owner != "session:" else f"session:{gpu.index}"
                cgroup = session if owner.startswith("session") else f"/system.slice/{owner[5:]}"
                apps.append(
                    ComputeApp(
                        self._host_pid(gpu, gen), gpu.host_name, gpu.host_mib, gpu.host_mib, owner, cgroup
                    )
                )
            for c, pid in self.services.gpu_containers(gpu.index, now):
                mib = min(c.spec.gpu_mib, gpu.spec.mem_total_mib // 10)
                apps.append(
                    ComputeApp(
                        pid, c.spec.proc, mib, mib, f"container:{c.spec.name}", self.services.cgroup(c)
                    )
                )
            wanted.append(apps)
        sig = tuple(tuple(a.pid for a in apps) for apps in wanted)
        if sig == self._app_sig:
            return
        self._app_sig = sig
        for gpu, apps in zip(self.gpus, wanted, strict=True):
            gpu.apps = apps + [a for a in gpu.apps if not a.owner]
            _wobble(gpu, self._t)

    # -- scenario hooks ------------------------------------------------------------------------

    def set_gpu(self, index: int, **values: float | None) -> None:
        """Pin ``temp``, ``util``, ``power``, ``mem_used`` (MiB) or ``heat`` (cooling trouble, 1 is
        normal); ``None`` releases one."""
        gpu = self.gpus[index]
        for name, value in values.items():
            if name not in ("temp", "util", "power", "mem_used", "heat"):
                raise TypeError(f"set_gpu got an unknown value {name!r}")
            if value is None:
                gpu.overrides.pop(name, None)
            else:
                gpu.overrides[name] = float(value)
        self._step_gpu(gpu, self._t, dt=0.0)

    def free_disk(self, mount: str, kib: int) -> None:
        """Space given back on ``mount`` (docker prune): a pinned use drops with it."""
        spec = next((d for d in self.sim.disks or [] if d.mount == mount), None)
        if mount in self.disk_overrides and spec is not None:
            pct = self.disk_overrides[mount] - 100.0 * kib / (spec.size_gib * GIB_KB)
            self.disk_overrides[mount] = max(0.0, pct)
        else:
            self.disk_freed[mount] = self.disk_freed.get(mount, 0) + kib

    def docker_mount(self) -> str:
        """The mount holding docker's data: Unraid keeps docker.img on the cache pool."""
        mounts = [d.mount for d in self.sim.disks or []] or ["/"]
        if not self.systemd:
            return next((m for m in ("/mnt/cache", "/mnt/user") if m in mounts), mounts[0])
        under = [m for m in mounts if "/var/lib/docker".startswith(m.rstrip("/") + "/") or m == "/"]
        return max(under, key=len) if under else mounts[0]

    def set_disk(self, mount: str, used_pct: float | None) -> None:
        """Pin a mount's use (percent), or release it with ``None``."""
        if used_pct is None:
            self.disk_overrides.pop(mount, None)
        else:
            self.disk_overrides[mount] = used_pct

    # -- readings at "now" ---------------------------------------------------------------------

    def uptime(self, now: float) -> float:
        return max(0.0, now - self.boot_time)

    def cpu_jiffies(self, now: float) -> list[int]:
        """Aggregate cpu-line counters at ``now`` (the partial second included), as integers.

        The partial second uses the busy fraction of the step it belongs to, so every counter is
        continuous across the one-second grid and never goes backwards.
        """
        extra = self._split_jiffies(self.cpus * USER_HZ * max(0.0, now - self._t), self.cpu_busy(self._t))
        return [int(a + b) for a, b in zip(self.jiffies, extra, strict=True)]

    def memory_kb(self, now: float) -> dict[str, int]:
        """The handful of /proc/meminfo values everything else is derived from."""
        total = int(self.sim.mem_gib * GIB_KB * 0.985)
        used_frac = 0.12 + 0.55 * self.sim.busy + 0.05 * smooth_noise(self.key ^ 61, now, 60)
        available = int(total * (1.0 - min(0.97, max(0.03, used_frac))))
        cached = int(available * (0.25 + 0.2 * hash01(self.key, 62)))
        buffers = int(total * 0.004)
        free = max(0, available - cached - buffers // 2)
        swap = 8 * GIB_KB - 4 if hash01(self.key, 63) < 0.5 else 0
        return {
            "total": total, "free": free, "available": available, "buffers": buffers,
            "cached": cached, "shmem": int(total * 0.003), "swap_total": swap,
            "swap_free": swap - int(swap * 0.01 * hash01(self.key, 64)),
        }  # fmt: skip

    def disks(self, now: float) -> list[DiskState]:
        """Mounted filesystems in df's order: the configured disks, then the usual tmpfs."""
        specs = self.sim.disks or [SimDisk(mount="/", size_gib=1863, used_pct=38)]
        out, extra = [], iter(range(1, 64))
        for d in specs:
            blocks = int(d.size_gib * GIB_KB)
            pct = self.disk_overrides.get(d.mount, d.used_pct)
            used = max(0, int(blocks * pct / 100.0) - self.disk_freed.get(d.mount, 0))
            out.append(DiskState(_device_for(d.mount, extra), d.mount, blocks, used, blocks - used))
        mem = int(self.sim.mem_gib * GIB_KB * 0.985)
        out.insert(0, DiskState("tmpfs", "/run", mem // 10, 2100 + self.cpus * 10, mem // 10 - 2100))
        out.append(DiskState("tmpfs", "/dev/shm", mem // 2, 0, mem // 2))
        return out


def _wobble(gpu: Gpu, t: float) -> None:
    """Each process's memory drifts around what it settled at, smoothly in time."""
    for i, app in enumerate(gpu.apps):
        if app.base_mib:
            app.used_mib = int(app.base_mib * (1.0 + 0.01 * smooth_noise(gpu.key ^ (50 + i), t, 30)))


def _device_for(mount: str, extra: Iterator[int]) -> str:
    """Believable device names: the system NVMe for / and /boot, Unraid's shfs, then data disks."""
    if mount == "/":
        return "/dev/nvme0n1p2"
    if mount == "/boot" or mount.startswith("/boot/"):
        return "/dev/nvme0n1p1"
    if mount == "/mnt/user":
        return "shfs"
    i = next(extra)
    return f"/dev/nvme{i}n1p1" if "cache" in mount else f"/dev/sd{chr(ord('a') + i - 1)}1"


def _default_gpus(node: NodeConfig) -> list[str]:
    """No ``sim.gpus``: one board matching ``gpu_model`` if given, else a machine without GPUs."""
    if not node.gpu_model:
        return []
    for key, known in GPU_SPECS:
        if key.lower() in node.gpu_model.lower():
            return [known.name]
    return [node.gpu_model]
