"""One node, all of it: GPUs with 15 minutes of history, the processes on them and the container
that owns each, containers, units, disks and the node's alerts. Enter on a node opens it.

The screen draws only the node it shows; the app hands it every state while it is on top.
"""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, Static

from cockpit.state import ClusterState
from widgets.detail_rows import (
    DETAIL_GPU_COLUMNS,
    DISK_COLUMNS,
    detail_gpu_rows,
    disk_rows,
    node_alerts,
    node_header,
)
from widgets.live_table import LiveTable
from widgets.rows import ALERT_COLUMNS, alert_rows
from widgets.workload_rows import (
    CONTAINER_COLUMNS,
    PROC_COLUMNS,
    UNIT_COLUMNS,
    container_rows,
    proc_rows,
    unit_rows,
)

PANES = (
    ("gpus", "GPUs", DETAIL_GPU_COLUMNS),
    ("procs", "GPU processes", PROC_COLUMNS),
    ("containers", "Containers", CONTAINER_COLUMNS[1:]),
    ("units", "Units", UNIT_COLUMNS[1:]),
    ("disks", "Disks", DISK_COLUMNS),
    ("alerts", "Alerts", ALERT_COLUMNS),
)


class NodeDetailScreen(Screen[None]):
    BINDINGS = [
        Binding("escape,backspace", "app.pop_screen", "Back", id="detail.back"),
    ]

    def __init__(self, node: str, state: ClusterState | None = None) -> None:
        super().__init__()
        self.node = node
        self.state = state

    def compose(self) -> ComposeResult:
        yield Static(self.node, id="detail-summary", markup=False)
        with VerticalScroll(id="detail-body"):
            for key, title, columns in PANES:
                with Vertical(id=f"detail-{key}-pane", classes="pane detail-pane") as pane:
                    pane.border_title = title
                    yield LiveTable(columns, id=f"detail-{key}")
        yield Footer()

    def on_mount(self) -> None:
        if self.state is not None:
            self.show_state(self.state)

    def show_node(self, node: str, state: ClusterState) -> None:
        """Point the screen at another node. The screen is built once and reused: building six
        tables of column widgets costs ~150 ms of style work, which an operator would feel."""
        if node != self.node:
            self.node = node
            for table in self.query(LiveTable):
                table.reconcile([])
        if self.is_mounted:
            self.show_state(state)
        else:
            self.state = state

    def on_screen_resume(self) -> None:
        self.query_one("#detail-gpus", LiveTable).focus()

    def show_state(self, state: ClusterState) -> None:
        self.state = state
        node = state.node(self.node)
        if node is None:
            return
        with self.app.batch_update():
            header = self.query_one("#detail-summary", Static)
            text = node_header(state, node)
            if str(header.content) != text:
                header.update(text, layout=False)  # one line, full width (cockpit.tcss)
            tables = {
                "gpus": detail_gpu_rows(state, node),
                "procs": proc_rows(node),
                "containers": [(k, cells[1:]) for k, cells in container_rows(state, self.node)],
                "units": [(k, cells[1:]) for k, cells in unit_rows(state, self.node)],
                "disks": disk_rows(node),
                "alerts": alert_rows(state, node_alerts(state, self.node)),
            }
            for key, rows in tables.items():
                self.query_one(f"#detail-{key}", LiveTable).reconcile(rows)
                self.query_one(f"#detail-{key}-pane").display = bool(rows) or key in ("gpus", "alerts")
