"""A simulated GPU board and the processes on it: specs, live values, compute apps.

Split from :mod:`cockpit.sim.world` (which re-exports these names) so that the machine's
integration loop and the board's description each stay small.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace


@dataclass(frozen=True, slots=True)
class GpuSpec:
    """What the board can do: memory, power envelope, clocks; ``has_fan`` False prints [N/A]."""

    name: str
    mem_total_mib: int
    pl_default: float
    pl_min: float
    pl_max: float
    sm_max_mhz: int
    sm_idle_mhz: int = 210
    has_fan: bool = True
    datacenter: bool = False


GPU_SPECS: tuple[tuple[str, GpuSpec], ...] = (
    ("5090", GpuSpec("NVIDIA GeForce RTX 5090", 32607, 575, 400, 600, 3090)),
    ("4090", GpuSpec("NVIDIA GeForce RTX 4090", 24564, 450, 150, 600, 3120)),
    ("5070 Ti", GpuSpec("NVIDIA GeForce RTX 5070 Ti", 16303, 300, 250, 350, 3090)),
    ("3070", GpuSpec("NVIDIA GeForce RTX 3070", 8192, 220, 100, 240, 2100)),
    ("H100", GpuSpec("NVIDIA H100 80GB HBM3", 81559, 700, 200, 700, 1980, 345, False, True)),
)


def gpu_spec(model: str) -> GpuSpec:
    """The spec whose key appears in ``model``; unknown boards get a mid-range generic spec."""
    for key, spec in GPU_SPECS:
        if key.lower() in model.lower():
            return replace(spec, name=model)
    return GpuSpec(model, 16384, 300, 150, 350, 2500)


@dataclass(slots=True)
class ComputeApp:
    """One process holding a CUDA context, as ``--query-compute-apps`` lists it."""

    pid: int
    name: str
    used_mib: int
    base_mib: int = 0
    """What the process settles at; ``used_mib`` wobbles around it."""
    owner: str = ""
    """Who runs it: ``unit:ID``, ``container:NAME``, ``session:GPU``; "" for a scripted one."""
    cgroup: str = ""
    """Its cgroup v2 path, as /proc/PID/cgroup shows after ``0::``."""


@dataclass(slots=True)
class Gpu:
    """One simulated GPU; the numeric fields are the latest integrated values."""

    index: int
    spec: GpuSpec
    uuid: str
    bus_id: str
    power_limit: float
    ambient: float
    key: int
    idle_frac: float = 0.1
    util: float = 0.0
    power: float = 0.0
    temp: float = 30.0
    apps: list[ComputeApp] = field(default_factory=list)
    overrides: dict[str, float] = field(default_factory=dict)
    host_mib: int = 0
    """Memory of the node's own inference process on this board (0: none runs here)."""
    host_name: str = "python3"

    @property
    def mem_used_mib(self) -> int:
        if "mem_used" in self.overrides:
            return int(self.overrides["mem_used"])
        return sum(a.used_mib for a in self.apps) + (9 if self.apps else 0)

    @property
    def fan_pct(self) -> int | None:
        if not self.spec.has_fan:
            return None
        return 0 if self.temp < 50 else min(100, int(30 + (self.temp - 50) * 2.5))

    @property
    def sm_clock(self) -> int:
        if self.util < 1:
            return self.spec.sm_idle_mhz
        return int(self.spec.sm_max_mhz * (0.86 + 0.12 * min(1.0, self.util / 100)))

    @property
    def pstate(self) -> str:
        if self.spec.datacenter:
            return "P0"
        return "P2" if self.apps or self.util >= 1 else "P8"

    @property
    def idle_power(self) -> float:
        return self.spec.pl_default * self.idle_frac
