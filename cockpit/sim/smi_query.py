"""``nvidia-smi -q [-d SECTION,...]``: the indented "NVSMI LOG" report, for the sections we model.

Only the sections an operator reads during an incident are produced (memory, utilisation,
temperature, power, clocks, performance, processes), in the real order and layout: keys padded
to column 55, then ``: value``; unsupported values read ``N/A``.
"""

from __future__ import annotations

import time

from cockpit.sim.smi_fields import reserved_mib
from cockpit.sim.smi_table import CUDA, DRIVER
from cockpit.sim.world import Gpu

SECTIONS = ("MEMORY", "UTILIZATION", "TEMPERATURE", "POWER", "CLOCK", "PERFORMANCE", "PIDS")


def _kv(depth: int, key: str, value: object) -> str:
    return f"{'    ' * depth + key:<55}: {value}"


def _section(gpu: Gpu, name: str) -> list[str]:
    na = "N/A"
    total, used = gpu.spec.mem_total_mib, gpu.mem_used_mib
    reserved = reserved_mib(gpu)
    bar1 = 131072 if gpu.spec.datacenter else 32768
    if name == "MEMORY":
        return [
            "    FB Memory Usage",
            _kv(2, "Total", f"{total} MiB"),
            _kv(2, "Reserved", f"{reserved} MiB"),
            _kv(2, "Used", f"{used} MiB"),
            _kv(2, "Free", f"{max(0, total - reserved - used)} MiB"),
            "    BAR1 Memory Usage",
            _kv(2, "Total", f"{bar1} MiB"),
            _kv(2, "Used", "1 MiB"),
            _kv(2, "Free", f"{bar1 - 1} MiB"),
            "    Conf Compute Protected Memory Usage",
            _kv(2, "Total", "0 MiB"),
            _kv(2, "Used", "0 MiB"),
            _kv(2, "Free", "0 MiB"),
        ]
    if name == "UTILIZATION":
        util = round(gpu.util)
        return [
            "    Utilization",
            _kv(2, "GPU", f"{util} %"),
            _kv(2, "Memory", f"{round(util * 0.55)} %"),
            _kv(2, "Encoder", "0 %"),
            _kv(2, "Decoder", "0 %"),
            _kv(2, "JPEG", "0 %"),
            _kv(2, "OFA", "0 %"),
        ]
    if name == "TEMPERATURE":
        mem = f"{round(gpu.temp + 6)} C" if gpu.spec.datacenter else na
        return [
            "    Temperature",
            _kv(2, "GPU Current Temp", f"{round(gpu.temp)} C"),
            _kv(2, "GPU Shutdown Temp", "92 C"),
            _kv(2, "GPU Slowdown Temp", "89 C"),
            _kv(2, "GPU Target Temperature", na if gpu.spec.datacenter else "83 C"),
            _kv(2, "Memory Current Temp", mem),
        ]
    if name == "POWER":
        w = "{:.2f} W".format
        return [
            "    GPU Power Readings",
            _kv(2, "Average Power Draw", w(gpu.power)),
            _kv(2, "Instantaneous Power Draw", w(gpu.power * 0.98)),
            _kv(2, "Current Power Limit", w(gpu.power_limit)),
            _kv(2, "Requested Power Limit", w(gpu.power_limit)),
            _kv(2, "Default Power Limit", w(gpu.spec.pl_default)),
            _kv(2, "Min Power Limit", w(gpu.spec.pl_min)),
            _kv(2, "Max Power Limit", w(gpu.spec.pl_max)),
        ]
    if name == "CLOCK":
        mem_clock = 2619 if gpu.spec.datacenter else 14001
        return [
            "    Clocks",
            _kv(2, "Graphics", f"{gpu.sm_clock} MHz"),
            _kv(2, "SM", f"{gpu.sm_clock} MHz"),
            _kv(2, "Memory", f"{mem_clock} MHz"),
            "    Max Clocks",
            _kv(2, "Graphics", f"{gpu.spec.sm_max_mhz} MHz"),
            _kv(2, "SM", f"{gpu.spec.sm_max_mhz} MHz"),
            _kv(2, "Memory", f"{mem_clock} MHz"),
        ]
    if name == "PERFORMANCE":
        idle = "Active" if gpu.util < 1 else "Not Active"
        return [
            _kv(1, "Performance State", gpu.pstate),
            "    Clocks Event Reasons",
            _kv(2, "Idle", idle),
            _kv(2, "SW Power Cap", "Not Active"),
            _kv(2, "HW Slowdown", "Not Active"),
        ]
    if not gpu.apps:
        return [_kv(1, "Processes", "None")]
    lines = ["    Processes"]
    for app in gpu.apps:
        lines += [
            _kv(2, "GPU instance ID", na),
            _kv(2, "Compute instance ID", na),
            _kv(2, "Process ID", app.pid),
            _kv(3, "Type", "C"),
            _kv(3, "Name", app.name),
            _kv(3, "Used GPU Memory", f"{app.used_mib} MiB"),
        ]
    return lines


def render_query(gpus: list[Gpu], count: int, now: float, display: str | None) -> str | None:
    """The report for ``-d display`` (comma list) or everything we model; None if a name is bad."""
    wanted = [d.strip().upper() for d in display.split(",")] if display else list(SECTIONS)
    if any(d not in SECTIONS for d in wanted):
        return None
    lines = [
        "",
        "==============NVSMI LOG==============",
        "",
        _kv(0, "Timestamp", time.strftime("%a %b %d %H:%M:%S %Y", time.localtime(now))),
        _kv(0, "Driver Version", DRIVER),
        _kv(0, "CUDA Version", CUDA),
        "",
        _kv(0, "Attached GPUs", count),
    ]
    for gpu in gpus:
        lines.append(f"GPU {gpu.bus_id}")
        if not display:
            lines += [
                _kv(1, "Product Name", gpu.spec.name),
                _kv(1, "GPU UUID", gpu.uuid),
                _kv(1, "Minor Number", gpu.index),
                _kv(1, "Fan Speed", "N/A" if gpu.fan_pct is None else f"{gpu.fan_pct} %"),
            ]
        for name in SECTIONS:
            if name in wanted:
                lines += _section(gpu, name)
        lines.append("")
    return "\n".join(lines) + "\n"
