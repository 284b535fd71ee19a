"""The simulated nodes' /metrics pages: node_exporter, dcgm-exporter and vLLM, from the NodeWorlds.

A real cluster's Prometheus scrapes three exporters per GPU node; the demo serves the same three pages
per simulated node, with the real metric names, HELP and TYPE lines, label sets and number formats:

- node_exporter 1.x (``/node/NAME/metrics``, job ``node``): load, memory, per-CPU seconds, filesystems
  (its default mount-point filter drops ``/dev/*``), boot and current time, uname;
- dcgm-exporter 3.x default counters (``/dcgm/NAME/metrics``, job ``dcgm``): label order ``gpu``,
  ``UUID``, ``pci_bus_id``, ``device``, ``modelName``, ``Hostname``, ``DCGM_FI_DRIVER_VERSION``;
- vLLM's OpenAI server with Ray Serve (``/vllm/NAME/metrics``, job ``vllm``) on nodes that run an
  inference process: KV-cache use, running/waiting requests, token counters, TTFT histogram, and Ray
  Serve's replicas, router requests and processing-latency histogram.

Values are the world's, so an SSH probe and a Prometheus query of the same node agree; vLLM counters
are integrated here from the render times (:class:`~cockpit.sim.inference.Inference`).
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from cockpit.sim.inference import Inference
from cockpit.sim.promtext import Labels, family, go_float, sample
from cockpit.sim.smi_table import DRIVER
from cockpit.sim.world import USER_HZ, Clock, NodeWorld

JOBS = ("node", "dcgm", "vllm")
PORTS = {"node": 9100, "dcgm": 9400, "vllm": 8000}
"""The exporters' usual ports, used in each target's ``instance`` label (``NAME:9100``)."""
CPU_MODES = ("user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal")
SKIPPED_MOUNTS = ("/dev", "/proc", "/sys", "/run/credentials/")
"""node_exporter's default ``--collector.filesystem.mount-points-exclude`` (the parts we simulate)."""
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
DCGM_COUNTERS = (
    # (field, type, help) as etc/default-counters.csv of dcgm-exporter words them, in its order.
    ("DCGM_FI_DEV_SM_CLOCK", "gauge", "SM clock frequency (in MHz)."),
    ("DCGM_FI_DEV_MEM_CLOCK", "gauge", "Memory clock frequency (in MHz)."),
    ("DCGM_FI_DEV_GPU_TEMP", "gauge", "GPU temperature (in C)."),
    ("DCGM_FI_DEV_POWER_USAGE", "gauge", "Power draw (in W)."),
    ("DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION", "counter", "Total energy consumption since boot (in mJ)."),
    ("DCGM_FI_DEV_PCIE_REPLAY_COUNTER", "counter", "Total number of PCIe retries."),
    ("DCGM_FI_DEV_GPU_UTIL", "gauge", "GPU utilization (in %)."),
    ("DCGM_FI_DEV_MEM_COPY_UTIL", "gauge", "Memory utilization (in %)."),
    ("DCGM_FI_DEV_XID_ERRORS", "gauge", "Value of the last XID error encountered."),
    ("DCGM_FI_DEV_FB_FREE", "gauge", "Framebuffer memory free (in MiB)."),
    ("DCGM_FI_DEV_FB_USED", "gauge", "Framebuffer memory used (in MiB)."),
    ("DCGM_FI_DEV_POWER_MGMT_LIMIT", "gauge", "Current power limit for the device (in W)."),
)


@dataclass(frozen=True, slots=True)
class Target:
    """One scrape target: which job, which node, and the path on the exporter server."""

    job: str
    node: str

    @property
    def path(self) -> str:
        return f"/{self.job}/{self.node}/metrics"

    @property
    def instance(self) -> str:
        return f"{self.node}:{PORTS[self.job]}"


class SimExporter:
    """Renders the three exporters' pages of every simulated node; ``clock`` is the worlds' clock."""

    def __init__(self, worlds: Mapping[str, NodeWorld], clock: Clock = time.time) -> None:
        self.worlds = dict(worlds)
        self.clock = clock
        self.inference = {
            name: Inference(world) for name, world in self.worlds.items() if _serves_inference(world)
        }
        self.down: set[tuple[str, str]] = set()
        """(job, node) pairs whose exporter answers 503, as one whose collector fails does."""

    def targets(self, nodes: Iterable[str] | None = None) -> list[Target]:
        names = list(self.worlds) if nodes is None else list(nodes)
        out = []
        for name in names:
            out.append(Target("node", name))
            if self.worlds[name].gpus:
                out.append(Target("dcgm", name))
            if name in self.inference:
                out.append(Target("vllm", name))
        return out

    def page(self, path: str) -> str | None:
        """The page at ``/JOB/NODE/metrics``; None for a path no target has."""
        parts = path.strip("/").split("/")
        if len(parts) != 3 or parts[2] != "metrics" or parts[1] not in self.worlds:
            return None
        job, name = parts[0], parts[1]
        if job == "node":
            return self.node_exporter(name)
        if job == "dcgm" and self.worlds[name].gpus:
            return self.dcgm(name)
        if job == "vllm" and name in self.inference:
            return self.vllm(name)
        return None

    # -- node_exporter --------------------------------------------------------------------------

    def node_exporter(self, name: str) -> str:
        world = self.worlds[name]
        now = world.advance()
        mem = world.memory_kb(now)
        l1, l5, l15 = (round(v, 2) for v in world.load)
        out = [family("node_boot_time_seconds", "Node boot time, in unixtime.", "gauge",
                      [sample("node_boot_time_seconds", (), go_float(world.boot_time))])]  # fmt: skip
        out.append(family("node_cpu_seconds_total", "Seconds the CPUs spent in each mode.", "counter",
                          _cpu_samples(world, now)))  # fmt: skip
        disks = [d for d in world.disks(now) if not d.mount.startswith(SKIPPED_MOUNTS)]
        fs = [(d, _fs_labels(d.filesystem, d.mount)) for d in sorted(disks, key=lambda d: d.filesystem)]
        for metric, help_text, value in (
            ("avail", "Filesystem space available to non-root users in bytes.", lambda d: d.avail),
            ("free", "Filesystem free space in bytes.", lambda d: d.blocks - d.used),
            ("size", "Filesystem size in bytes.", lambda d: d.blocks),
        ):
            metric_name = f"node_filesystem_{metric}_bytes"
            rows = [sample(metric_name, labels, go_float(value(d) * 1024.0)) for d, labels in fs]
            out.append(family(metric_name, help_text, "gauge", rows))
        for metric, minutes, value in (("node_load1", "1m", l1), ("node_load15", "15m", l15),
                                       ("node_load5", "5m", l5)):  # fmt: skip
            out.append(
                family(metric, f"{minutes} load average.", "gauge", [sample(metric, (), go_float(value))])
            )
        for field, kb in (("MemAvailable", mem["available"]), ("MemTotal", mem["total"])):
            metric = f"node_memory_{field}_bytes"
            help_text = f"Memory information field {field}_bytes."
            out.append(family(metric, help_text, "gauge", [sample(metric, (), go_float(kb * 1024.0))]))
        out.append(family("node_time_seconds", "System time in seconds since epoch (1970).", "gauge",
                          [sample("node_time_seconds", (), go_float(now))]))  # fmt: skip
        uname = (("domainname", "(none)"), ("machine", "x86_64"), ("nodename", name),
                 ("release", "6.8.0-49-generic"), ("sysname", "Linux"), ("version", "#49-Ubuntu SMP"))  # fmt: skip
        out.append(family("node_uname_info", "Labeled system information as provided by the uname system call.",
                          "gauge", [sample("node_uname_info", uname, "1")]))  # fmt: skip
        return "".join(out)

    # -- dcgm-exporter --------------------------------------------------------------------------

    def dcgm(self, name: str) -> str:
        world = self.worlds[name]
        now = world.advance()
        out = []
        for field, kind, help_text in DCGM_COUNTERS:
            rows = []
            for gpu in world.gpus:
                labels: Labels = (
                    ("gpu", str(gpu.index)), ("UUID", gpu.uuid), ("pci_bus_id", gpu.bus_id),
                    ("device", f"nvidia{gpu.index}"), ("modelName", gpu.spec.name), ("Hostname", name),
                    ("DCGM_FI_DRIVER_VERSION", DRIVER),
                )  # fmt: skip
                rows.append(sample(field, labels, _dcgm_value(field, gpu, world, now)))
            out.append(family(field, help_text, kind, rows))
        return "".join(out)

    # -- vLLM -----------------------------------------------------------------------------------

    def vllm(self, name: str) -> str:
        return self.inference[name].render(self.worlds[name].advance())

    # -- scenario hooks -------------------------------------------------------------------------

    def set_vllm(self, node: str, **values: float | None) -> None:
        """Pin ``kv_cache`` (0-1), ``waiting``, ``running``, ``ttft_s`` or ``healthy`` replicas."""
        self.inference[node].set(**values)


def _serves_inference(world: NodeWorld) -> bool:
    """A node whose GPUs run its own inference process (the world's "host" process)."""
    return any(g.host_mib for g in world.gpus)


def _fs_labels(device: str, mount: str) -> Labels:
    fstype = "tmpfs" if device == "tmpfs" else "fuse.shfs" if device == "shfs" else "ext4"
    if device.startswith("/dev/sd"):
        fstype = "xfs"
    return (("device", device), ("device_error", ""), ("fstype", fstype), ("mountpoint", mount))


def _cpu_samples(world: NodeWorld, now: float) -> list[str]:
    """Per-CPU seconds as /proc/stat's cpuN lines give them (the world's fixed shares of jiffies);
    client_golang sorts a family's series by label values as strings, so cpu 10 comes before 2."""
    agg = world.cpu_jiffies(now)
    rows = [
        [int(v * (idle if f == 3 else busy)) for f, v in enumerate(agg)] for busy, idle in world.cpu_shares
    ]
    order = sorted(range(len(rows)), key=str)
    out = []
    for cpu in order:
        for mode in sorted(CPU_MODES):
            value = rows[cpu][CPU_MODES.index(mode)] / USER_HZ
            out.append(sample("node_cpu_seconds_total", (("cpu", str(cpu)), ("mode", mode)), go_float(value)))
    return out


def _dcgm_value(field: str, gpu, world: NodeWorld, now: float) -> str:
    """dcgm-exporter prints int64 fields with %d and doubles with %f."""
    total = gpu.spec.mem_total_mib
    used = min(total, gpu.mem_used_mib)
    ints = {
        "DCGM_FI_DEV_SM_CLOCK": gpu.sm_clock,
        "DCGM_FI_DEV_MEM_CLOCK": 2619 if gpu.spec.datacenter else 10501,
        "DCGM_FI_DEV_GPU_TEMP": round(gpu.temp),
        "DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION": int(world.uptime(now) * gpu.spec.pl_default * 400),
        "DCGM_FI_DEV_PCIE_REPLAY_COUNTER": 0,
        "DCGM_FI_DEV_GPU_UTIL": round(gpu.util),
        "DCGM_FI_DEV_MEM_COPY_UTIL": round(gpu.util * 0.55),
        "DCGM_FI_DEV_XID_ERRORS": 0,
        "DCGM_FI_DEV_FB_FREE": total - used,
        "DCGM_FI_DEV_FB_USED": used,
    }
    if field in ints:
        return str(int(ints[field]))
    value = gpu.power if field == "DCGM_FI_DEV_POWER_USAGE" else gpu.power_limit
    return f"{value:f}"


__all__ = ["CONTENT_TYPE", "JOBS", "PORTS", "SimExporter", "Target"]
