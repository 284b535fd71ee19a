"""``cockpit snapshot --format table``: the same cycle as the JSON, for a human or a chat paste."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from cockpit.fmt import age, gib, num, pct
from cockpit.sanitize import clean
from cockpit.state import ClusterState


def print_table(state: ClusterState, console: Console | None = None) -> None:
    console = console or Console(markup=False, highlight=False)
    nodes = Table(title=f"{clean(state.cluster)}: nodes", title_justify="left")
    for label in ("node", "status", "age", "load", "cpu", "mem", "disk", "gpus", "info"):
        nodes.add_column(
            label, justify="right" if label in ("age", "load", "cpu", "mem", "disk", "gpus") else "left"
        )
    for node in state.nodes:
        host = node.host
        nodes.add_row(
            node.name,
            node.status.value,
            age(node.age(state.at)),
            num(host.load1 if host else None, 2),
            pct(host.cpu_pct if host else None),
            f"{gib(host.mem_used_bytes)}/{gib(host.mem_total_bytes)}" if host else "–",
            pct(host.worst_disk_pct if host else None),
            str(len(node.gpus)),
            clean(node.error or ""),
        )
    console.print(nodes)
    gpus = Table(title="GPUs", title_justify="left")
    for label in ("node", "#", "model", "util", "memory", "temp", "power"):
        gpus.add_column(label)
    for node, gpu in state.gpus():
        gpus.add_row(
            node.name,
            str(gpu.index),
            clean(gpu.name or "–"),
            pct(gpu.util_pct),
            f"{num(gpu.mem_used_mib)}/{num(gpu.mem_total_mib)} MiB",
            num(gpu.temp_c, 0, "°C"),
            f"{num(gpu.power_w, 0)}/{num(gpu.power_limit_w, 0)} W",
        )
    console.print(gpus)
