"""The fleet at a glance: a summary line, the node grid and the GPU gauges.

The screen receives each new ClusterState and hands slices to its widgets inside one
``batch_update`` so a cycle reaches the terminal as one frame. While a modal is open the newest
state is kept and drawn when the dashboard is shown again (no work for an invisible screen).
"""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import Screen
from textual.widgets import Footer, Static

from cockpit.model import Alert
from cockpit.sanitize import clean
from cockpit.state import ClusterState
from widgets.live_table import LiveTable
from widgets.rows import ALERT_COLUMNS, GPU_COLUMNS, NODE_COLUMNS, alert_rows, gpu_rows, node_rows, summary

TOAST_EVERY = 30.0


class DashboardScreen(Screen[None]):
    BINDINGS = [
        Binding("n", "focus_pane('nodes')", "Nodes", id="dashboard.nodes"),
        Binding("g", "focus_pane('gpus')", "GPUs", id="dashboard.gpus"),
        Binding("A", "focus_pane('alerts')", "Alerts", id="dashboard.alerts"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self._pending: ClusterState | None = None
        self.state: ClusterState | None = None
        self._critical: set[tuple[str, str]] = set()
        self._unannounced: list[Alert] = []
        self._last_toast = float("-inf")

    def compose(self) -> ComposeResult:
        yield Static("connecting…", id="summary")
        with Vertical(id="alerts-pane", classes="pane") as pane:
            pane.border_title = "Alerts"
            yield LiveTable(ALERT_COLUMNS, id="alerts")
        with Vertical(id="nodes-pane", classes="pane") as pane:
            pane.border_title = "Nodes"
            yield LiveTable(NODE_COLUMNS, id="nodes")
        with Vertical(id="gpus-pane", classes="pane") as pane:
            pane.border_title = "GPUs"
            yield LiveTable(GPU_COLUMNS, id="gpus")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#nodes", LiveTable).focus()

    def show_state(self, state: ClusterState) -> None:
        """Draw ``state`` now if this screen is visible, else when it becomes visible."""
        if self.app.screen is not self:
            self._pending = state
            return
        self._draw(state)

    def on_screen_resume(self) -> None:
        if self._pending is not None:
            state, self._pending = self._pending, None
            self._draw(state)

    def _announce(self, state: ClusterState) -> None:
        """A toast when a new critical alert appears; at most one per TOAST_EVERY seconds, the
        next one counting what the quiet period held (the Alerts pane lists them all)."""
        critical = {(a.subject, a.metric): a for a in state.alerts if a.severity == "critical"}
        self._unannounced.extend(critical[key] for key in sorted(critical.keys() - self._critical))
        self._critical = set(critical)
        if not self._unannounced or state.at - self._last_toast < TOAST_EVERY:
            return
        new, self._unannounced = self._unannounced, []
        self._last_toast = state.at
        first = clean(min(new, key=lambda a: (a.subject, a.metric)).message)
        text = first if len(new) == 1 else f"{len(new)} new critical alerts, first {first}"
        self.notify(text, title="critical", severity="error", timeout=10, markup=False)

    def _draw(self, state: ClusterState) -> None:
        self._announce(state)
        self.state = state
        with self.app.batch_update():
            header = self.query_one("#summary", Static)
            text = summary(state)
            if str(header.content) != text:
                header.update(text)
            self.query_one("#alerts", LiveTable).reconcile(alert_rows(state))
            self.query_one("#nodes", LiveTable).reconcile(node_rows(state))
            self.query_one("#gpus", LiveTable).reconcile(gpu_rows(state))

    def action_focus_pane(self, pane: str) -> None:
        self.query_one(f"#{pane}", LiveTable).focus()

    def on_live_table_row_selected(self, event: LiveTable.RowSelected) -> None:
        """Enter walks the chain down: a node, a GPU or an alert opens that node's detail."""
        node = _node_of(event.table.id, event.key)
        if node and self.state is not None and self.state.node(node) is not None:
            self.app.open_node(node, self.state)


def _node_of(table: str | None, key: object) -> str | None:
    """The node a row is about: the key itself for nodes, its first part for GPUs and alerts."""
    if table == "nodes" and isinstance(key, str):
        return key
    if table in ("gpus", "containers", "units") and isinstance(key, tuple) and key:
        return str(key[0])
    if table == "alerts" and isinstance(key, tuple) and key and isinstance(key[0], str):
        return key[0].partition("/")[0] or None
    return None
