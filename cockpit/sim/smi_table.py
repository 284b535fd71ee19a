"""The table plain ``nvidia-smi`` prints, laid out column for column like driver 580's.

Kept apart from :mod:`cockpit.sim.nvidia_smi` because it is pure layout: operators see it in the
node detail pane and in action output, so the widths must match the real one exactly.
"""

from __future__ import annotations

import time

from cockpit.sim.world import Gpu, NodeWorld

DRIVER, CUDA = "580.159.04", "13.0"
RULE = "+" + "-" * 89 + "+"
GRID = "+" + "-" * 41 + "+" + "-" * 24 + "+" + "-" * 22 + "+"
HEAD = [
    "| GPU  Name                 Persistence-M | Bus-Id          Disp.A | Volatile Uncorr. ECC |",
    "| Fan  Temp   Perf          Pwr:Usage/Cap |           Memory-Usage | GPU-Util  Compute M. |",
    "|                                         |                        |               MIG M. |",
    "|=========================================+========================+======================|",
]
PROC_HEAD = [
    "| Processes:                                                                              |",
    "|  GPU   GI   CI              PID   Type   Process name                        GPU Memory |",
    "|        ID   ID                                                               Usage      |",
    "|=========================================================================================|",
]
NO_PROCS = "|  No running processes found" + " " * 61 + "|"


def _gpu_rows(gpu: Gpu) -> list[str]:
    name = gpu.spec.name if len(gpu.spec.name) <= 29 else gpu.spec.name[:26] + "..."
    ecc = "0" if gpu.spec.datacenter else "Off"
    fan = "N/A" if gpu.fan_pct is None else f"{gpu.fan_pct}%"
    mig = "Disabled" if gpu.spec.datacenter else "N/A"
    used = gpu.mem_used_mib
    persist = "On" if gpu.spec.datacenter else "Off"
    return [
        f"|{gpu.index:>4}  {name:<31}{persist:<3} |{gpu.bus_id:>19} {'Off':>3} |{ecc:>21} |",
        f"|{fan:>4}{round(gpu.temp):>5}C{gpu.pstate:>6}{round(gpu.power):>15}W / "
        f"{round(gpu.power_limit):>4}W |{used:>8}MiB / {gpu.spec.mem_total_mib:>6}MiB "
        f"|{round(gpu.util):>7}%{'Default':>13} |",
        f"|{'':41}|{'':24}|{mig:>21} |",
        GRID,
    ]


def _proc_row(gpu: Gpu, pid: int, name: str, used: int) -> str:
    if len(name) > 35:
        name = "..." + name[-32:]
    return f"|{gpu.index:>5}   N/A  N/A{pid:>16}{'C':>7}   {name:<36}{f'{used}MiB':>10} |"


def render_table(world: NodeWorld, gpus: list[Gpu], now: float) -> str:
    """The whole default output for ``gpus`` at ``now`` (local time, as the real tool prints)."""
    lines = [time.strftime("%a %b %d %H:%M:%S %Y", time.localtime(now)) + " " * 7, RULE]
    lines.append(f"| NVIDIA-SMI {DRIVER:<23}Driver Version: {DRIVER:<15}CUDA Version: {CUDA:<9}|")
    lines += [GRID, *HEAD]
    for gpu in gpus:
        lines += _gpu_rows(gpu)
    lines += ["", RULE, *PROC_HEAD]
    procs = [_proc_row(g, a.pid, a.name, a.used_mib) for g in gpus for a in g.apps]
    lines += procs or [NO_PROCS]
    lines.append(RULE)
    return "\n".join(lines) + "\n"
