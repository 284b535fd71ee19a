"""Every ``--query-gpu`` / ``--query-compute-apps`` field nvidia-smi knows, and how we answer it.

The names, header spellings and units come from real captures: our H100 (driver 580) and the
published full-field captures of an RTX 2080 SUPER (595) and an H100 with MIG (590) in
tests/fixtures. Fields we model have a getter; every other known field answers ``[N/A]`` with the
right header, exactly as a board that does not support it would. Unknown names are invalid.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from cockpit.sim.smi_table import DRIVER
from cockpit.sim.world import ComputeApp, Gpu

DEPRECATED = "[Requested functionality has been deprecated]"
COMPUTE_CAP = {"5090": "12.0", "5070": "12.0", "4090": "8.9", "3070": "8.6", "H100": "9.0"}
Getter = Callable[[Gpu, float], object]


def reserved_mib(gpu: Gpu) -> int:
    """Memory the driver keeps for itself (480 MiB on the captured H100)."""
    return gpu.spec.mem_total_mib * 59 // 10000 // 32 * 32


def _dc(value: object, otherwise: object = None) -> Getter:
    """A value only datacenter boards report (consumer boards print ``[N/A]`` or ``otherwise``)."""

    def get(gpu: Gpu, now: float) -> object:
        if not gpu.spec.datacenter:
            return otherwise
        return value(gpu) if callable(value) else value

    return get


MODELED: dict[str, tuple[str, Getter]] = {
    "timestamp": ("", lambda g, now: time.strftime("%Y/%m/%d %H:%M:%S", time.localtime(now))
                  + f".{int(now % 1 * 1000):03d}"),
    "driver_version": ("", lambda g, now: DRIVER),
    "kmd_version": ("", lambda g, now: DRIVER),
    "name": ("", lambda g, now: g.spec.name),
    "serial": ("", _dc(lambda g: str(1650000000000 + g.key % 9999999))),
    "uuid": ("", lambda g, now: g.uuid),
    "pci.bus_id": ("", lambda g, now: g.bus_id),
    "pci.domain": ("", lambda g, now: "0x0000"),
    "pci.bus": ("", lambda g, now: "0x" + g.bus_id[9:11]),
    "pci.device": ("", lambda g, now: "0x" + g.bus_id[12:14]),
    "pcie.link.gen.current": ("", lambda g, now: 5 if g.util >= 1 or g.spec.datacenter else 1),
    "pcie.link.gen.max": ("", lambda g, now: 5),
    "pcie.link.width.current": ("", lambda g, now: 16),
    "pcie.link.width.max": ("", lambda g, now: 16),
    "index": ("", lambda g, now: g.index),
    "display_mode": ("", lambda g, now: DEPRECATED),
    "display_active": ("", lambda g, now: "Disabled"),
    "persistence_mode": ("", _dc("Enabled", "Disabled")),
    "addressing_mode": ("", _dc("None", "HMM")),
    "accounting.mode": ("", lambda g, now: "Disabled"),
    "vbios_version": ("", _dc("96.00.CF.00.01", "98.02.2E.00.01")),
    "fan.speed": ("%", lambda g, now: g.fan_pct),
    "pstate": ("", lambda g, now: g.pstate),
    "clocks_event_reasons.supported": ("", lambda g, now: "0x00000000000001FF"),
    "clocks_event_reasons.active": ("", lambda g, now: f"0x{0 if g.util >= 1 else 1:016X}"),
    "clocks_event_reasons.gpu_idle": ("", lambda g, now: "Not Active" if g.util >= 1 else "Active"),
    "memory.total": ("MiB", lambda g, now: g.spec.mem_total_mib),
    "memory.reserved": ("MiB", lambda g, now: reserved_mib(g)),
    "memory.used": ("MiB", lambda g, now: g.mem_used_mib),
    "memory.free": ("MiB", lambda g, now: max(0, g.spec.mem_total_mib - reserved_mib(g) - g.mem_used_mib)),
    "compute_mode": ("", lambda g, now: "Default"),
    "compute_cap": ("", lambda g, now: next((v for k, v in COMPUTE_CAP.items() if k in g.spec.name), "8.9")),
    "utilization.gpu": ("%", lambda g, now: round(g.util)),
    "utilization.memory": ("%", lambda g, now: round(g.util * 0.55)),
    "ecc.mode.current": ("", _dc("Enabled")),
    "ecc.mode.pending": ("", _dc("Enabled")),
    "temperature.gpu": ("", lambda g, now: round(g.temp)),
    "temperature.gpu.tlimit": ("", _dc(lambda g: 87 - round(g.temp))),
    "temperature.memory": ("", _dc(lambda g: round(g.temp + 6), "N/A")),
    "power.management": ("", lambda g, now: DEPRECATED),
    "power.draw": ("W", lambda g, now: g.power),
    "power.draw.average": ("W", _dc(lambda g: g.power)),
    "power.draw.instant": ("W", lambda g, now: g.power * 0.98),
    "power.limit": ("W", lambda g, now: g.power_limit),
    "enforced.power.limit": ("W", lambda g, now: g.power_limit),
    "power.default_limit": ("W", lambda g, now: float(g.spec.pl_default)),
    "power.min_limit": ("W", lambda g, now: float(g.spec.pl_min)),
    "power.max_limit": ("W", lambda g, now: float(g.spec.pl_max)),
    "clocks.current.graphics": ("MHz", lambda g, now: g.sm_clock),
    "clocks.current.sm": ("MHz", lambda g, now: g.sm_clock),
    "clocks.current.memory": ("MHz", _dc(2619, 14001)),
    "clocks.current.video": ("MHz", lambda g, now: int(g.sm_clock * 0.78)),
    "clocks.max.graphics": ("MHz", lambda g, now: g.spec.sm_max_mhz),
    "clocks.max.sm": ("MHz", lambda g, now: g.spec.sm_max_mhz),
    "clocks.max.memory": ("MHz", _dc(2619, 14001)),
    "utilization.encoder": ("%", lambda g, now: 0),
    "utilization.decoder": ("%", lambda g, now: 0),
    "utilization.jpeg": ("%", lambda g, now: 0),
    "utilization.ofa": ("%", lambda g, now: 0),
    "encoder.stats.sessionCount": ("", lambda g, now: 0),
    "encoder.stats.averageFps": ("", lambda g, now: 0),
    "encoder.stats.averageLatency": ("", lambda g, now: 0),
    "accounting.buffer_size": ("", lambda g, now: 4000),
    "gpu_recovery_action": ("", lambda g, now: "None"),
    "inforom.checksum_validation": ("", lambda g, now: "valid"),
    "pcie.link.gen.gpucurrent": ("", lambda g, now: 5 if g.util >= 1 or g.spec.datacenter else 1),
    "pcie.link.gen.gpumax": ("", lambda g, now: 5),
    "gsp.mode.current": ("", lambda g, now: "Enabled"),
    "gsp.mode.default": ("", lambda g, now: "Enabled"),
    "protected_memory.total": ("MiB", lambda g, now: 0),
    "protected_memory.used": ("MiB", lambda g, now: 0),
    "protected_memory.free": ("MiB", lambda g, now: 0),
    "clocks.applications.graphics": ("MHz", lambda g, now: DEPRECATED),
    "clocks.applications.memory": ("MHz", lambda g, now: DEPRECATED),
    "clocks.default_applications.graphics": ("MHz", lambda g, now: DEPRECATED),
    "clocks.default_applications.memory": ("MHz", lambda g, now: DEPRECATED),
    "mig.mode.current": ("", _dc("Disabled")),
    "mig.mode.pending": ("", _dc("Disabled")),
}  # fmt: skip

_ECC = [
    f"ecc.errors.{kind}.{scope}.{part}"
    for kind in ("corrected", "uncorrected")
    for scope in ("volatile", "aggregate")
    for part in ("device_memory", "dram", "register_file", "l1_cache", "l2_cache", "texture_memory",
                 "cbu", "sram", "total")
]  # fmt: skip
_UNMODELED = """
vgpu_driver_capability.heterogenous_multivGPU pci.baseClass pci.subClass pci.device_id
pci.sub_device_id vgpu_device_capability.fractional_multiVgpu
vgpu_device_capability.heterogeneous_timeSlice_profile vgpu_device_capability.heterogeneous_timeSlice_sizes
vgpu_device_capability.homogeneous_placements vgpu_device_capability.mig_timeSlicing
vgpu_device_capability.mig_timeSlicing_mode pcie.link.gen.gpucurrent pcie.link.gen.gpumax
pcie.link.gen.hostmax display_attached accounting.buffer_size driver_model.current driver_model.pending
inforom.img inforom.oem inforom.ecc inforom.pwr inforom.checksum_validation gpu_recovery_action
gom.current gom.pending clocks_event_reasons.applications_clocks_setting clocks_event_reasons.sw_power_cap
clocks_event_reasons.hw_slowdown clocks_event_reasons.hw_thermal_slowdown
clocks_event_reasons.hw_power_brake_slowdown clocks_event_reasons.sw_thermal_slowdown
clocks_event_reasons.sync_boost encoder.stats.sessionCount encoder.stats.averageFps
encoder.stats.averageLatency dramEncryption.mode.current dramEncryption.mode.pending
ecc.errors.uncorrected.volatile.sram.parity ecc.errors.uncorrected.volatile.sram.secded
ecc.errors.uncorrected.aggregate.sram.parity ecc.errors.uncorrected.aggregate.sram.secded
ecc.errors.uncorrected.aggregate.sram.thresholdExceeded ecc.errors.uncorrected.aggregate.sram.l2
ecc.errors.uncorrected.aggregate.sram.sm ecc.errors.uncorrected.aggregate.sram.mcu
ecc.errors.uncorrected.aggregate.sram.pcie ecc.errors.uncorrected.aggregate.sram.other
retired_pages.single_bit_ecc.count retired_pages.double_bit.count retired_pages.pending
remapped_rows.correctable remapped_rows.correctable_inactive remapped_rows.uncorrectable
remapped_rows.uncorrectable_inactive remapped_rows.pending remapped_rows.failure
remapped_rows.histogram.max remapped_rows.histogram.high remapped_rows.histogram.partial
remapped_rows.histogram.low remapped_rows.histogram.none gsp.mode.current gsp.mode.default c2c.mode
fabric.state fabric.status fabric.cliqueId fabric.clusterUuid fabric.health.summary fabric.health.bandwidth
fabric.health.route_recovery_in_progress fabric.health.route_unhealthy
fabric.health.access_timeout_recovery fabric.health.incorrect_configuration
fabric.health.partition_assigned platform.chassis_serial_number platform.slot_number platform.tray_index
platform.host_id platform.peer_type platform.module_id platform.gpu_fabric_guid hostname
power_smoothing.delayed_power_smoothing_supported
power_smoothing.curr_profile.primary_floor_act_window_multiplier
power_smoothing.curr_profile.primary_floor_tar_window_multiplier
power_smoothing.admin_override.primary_floor_act_window_multiplier
power_smoothing.admin_override.primary_floor_tar_window_multiplier
%: utilization.encoder utilization.decoder utilization.jpeg utilization.ofa edpp_multiplier
us: clocks_event_reasons_counters.sw_power_cap clocks_event_reasons_counters.sync_boost
us: clocks_event_reasons_counters.sw_thermal_slowdown clocks_event_reasons_counters.hw_thermal_slowdown
us: clocks_event_reasons_counters.hw_power_brake_slowdown
MiB: protected_memory.total protected_memory.used protected_memory.free
W: module.power.draw.average module.power.draw.instant module.power.limit module.enforced.power.limit
W: module.power.default_limit module.power.min_limit module.power.max_limit
W: power_smoothing.primary_power_floor power_smoothing.secondary_power_floor
W: power_smoothing.min_primary_floor_activation_offset power_smoothing.min_primary_floor_activation_point
W: power_smoothing.curr_profile.secondary_power_floor power_smoothing.curr_profile.primary_floor_act_offset
W: power_smoothing.admin_override.secondary_power_floor
W: power_smoothing.admin_override.primary_floor_act_offset
MHz: clocks.applications.graphics clocks.applications.memory clocks.default_applications.graphics
MHz: clocks.default_applications.memory
ms: power_smoothing.window_multiplier
"""


def _unmodeled() -> dict[str, str]:
    """name -> unit for the known fields we answer with ``[N/A]`` (a line may start ``unit:``)."""
    units: dict[str, str] = dict.fromkeys(_ECC, "")
    for line in _UNMODELED.strip().splitlines():
        unit, sep, rest = line.partition(": ")
        units.update(dict.fromkeys((rest if sep else line).split(), unit if sep else ""))
    return units


UNITS: dict[str, str] = {**_unmodeled(), **{name: unit for name, (unit, _) in MODELED.items()}, "count": ""}
ALIASES = {
    "gpu_name": "name", "gpu_serial": "serial", "gpu_uuid": "uuid", "gpu_bus_id": "pci.bus_id",
    "clocks.gr": "clocks.current.graphics", "clocks.sm": "clocks.current.sm",
    "clocks.mem": "clocks.current.memory", "clocks.video": "clocks.current.video",
    "clocks.max.gr": "clocks.max.graphics", "clocks.max.mem": "clocks.max.memory",
    "clocks.applications.gr": "clocks.applications.graphics",
    "clocks.applications.mem": "clocks.applications.memory",
    "clocks.default_applications.gr": "clocks.default_applications.graphics",
    "clocks.default_applications.mem": "clocks.default_applications.memory",
    "inforom.image": "inforom.img", "inforom.power": "inforom.pwr",
    "gpu_operation_mode.current": "gom.current", "gpu_operation_mode.pending": "gom.pending",
}  # fmt: skip
APP_FIELDS: dict[str, tuple[str, Callable[[Gpu, ComputeApp], object]]] = {
    "timestamp": ("", lambda g, a: time.strftime("%Y/%m/%d %H:%M:%S.000")),
    "gpu_name": ("", lambda g, a: g.spec.name),
    "gpu_bus_id": ("", lambda g, a: g.bus_id),
    "gpu_serial": ("", lambda g, a: None),
    "gpu_uuid": ("", lambda g, a: g.uuid),
    "pid": ("", lambda g, a: a.pid),
    "process_name": ("", lambda g, a: a.name),
    "used_gpu_memory": ("MiB", lambda g, a: a.used_mib),
}
APP_ALIASES = {"name": "process_name", "used_memory": "used_gpu_memory"}


def canonical(field: str) -> str | None:
    """The name nvidia-smi prints in the header for a query field, or None if it is invalid."""
    name = ALIASES.get(field, field).replace("clocks_throttle_reasons", "clocks_event_reasons")
    return name if name in UNITS else None


def header(name: str) -> str:
    unit = UNITS[name]
    return f"{name} [{unit}]" if unit else name


def value(name: str, gpu: Gpu, now: float, count: int) -> object:
    """The value for one GPU; None prints ``[N/A]``."""
    if name == "count":
        return count
    if name in MODELED:
        return MODELED[name][1](gpu, now)
    if name.startswith("clocks_event_reasons."):
        return "Not Active"
    if name.startswith("clocks_event_reasons_counters."):
        return 0
    if name.startswith("ecc.errors."):
        return 0 if gpu.spec.datacenter else None
    return None


def cell(unit: str, val: object, nounits: bool) -> str:
    """How nvidia-smi prints one value: watts with two decimals, ``[N/A]`` when unavailable."""
    if val is None:
        return "[N/A]"
    text = f"{val:.2f}" if isinstance(val, float) else str(val)
    return text if nounits or not unit or text == "N/A" or text.startswith("[") else f"{text} {unit}"
