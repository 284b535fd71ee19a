"""The fleet at a glance: a summary line, the alerts, the node grid, and one lower view at a time
(GPUs, containers, units or services), switched with a key or ``:name``; services also sit beside
the GPUs when the terminal is wide enough for both.

The screen receives each new ClusterState and hands slices to its widgets inside one
``batch_update`` so a cycle reaches the terminal as one frame. While a modal is open the newest
state is kept and drawn when the dashboard is shown again (no work for an invisible screen).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.content import Content
from textual.events import Resize
from textual.screen import Screen
from textual.widgets import ContentSwitcher, Footer, Static

from cockpit.commands import resolve_command
from cockpit.config import ServiceConfig
from cockpit.model import Alert
from cockpit.query import Query
from cockpit.sanitize import clean
from cockpit.state import ClusterState
from widgets.command_line import CommandLine
from widgets.fleet_rows import (
    COST_COLUMNS,
    INSTANCE_COLUMNS,
    PEER_COLUMNS,
    cost_rows,
    instance_rows,
    peer_rows,
)
from widgets.live_table import LiveTable
from widgets.log_pane import LogPane
from widgets.rows import (
    ALERT_COLUMNS,
    GPU_COLUMNS,
    NODE_COLUMNS,
    alert_rows,
    iter_gpu_rows,
    iter_node_rows,
    summary,
)
from widgets.scale_rows import POD_COLUMNS, SIGNAL_COLUMNS, pod_rows, signal_rows
from widgets.table_model import Row
from widgets.workload_rows import (
    CONTAINER_COLUMNS,
    SERVICE_COLUMNS,
    UNIT_COLUMNS,
    container_rows,
    service_rows,
    unit_rows,
)

TOAST_EVERY = 30.0
SLICE_ROWS = 16
"""Rows built and fed between two chances for the app to take a key (a millisecond or two)."""
SIDE_SERVICES_MIN_WIDTH = 170
"""From this width the services pane sits beside the lower view instead of being one of them."""
VIEWS = {
    "gpus": ("GPUs", GPU_COLUMNS),
    "containers": ("Containers", CONTAINER_COLUMNS),
    "units": ("Units", UNIT_COLUMNS),
    "services": ("Services", SERVICE_COLUMNS),
    "peers": ("P2P mesh", PEER_COLUMNS),
    "instances": ("Cloud instances", INSTANCE_COLUMNS),
    "cost": ("Cost", COST_COLUMNS),
    "signals": ("Inference golden signals", SIGNAL_COLUMNS),
    "pods": ("Kubernetes pods", POD_COLUMNS),
}


_PROMPT_TEXT = frozenset({"open_line", "show_view", "focus_pane"})
"""The dashboard's actions whose keys are text while the prompt is open."""


class DashboardScreen(Screen[None]):
    BINDINGS = [
        # Priority, all of them: they are handled in the order typed. A plain binding waits in the
        # focused widget's queue while a priority one runs at once, so "g/" typed ahead (one tmux
        # read) filtered the table focused before "g". The prompt takes focus before the keys typed
        # right after ":" or "/" are handed on (tmux delivers "/hydra" in one read); while it is
        # open, these keys are text in it (check_action).
        Binding("n", "focus_pane('nodes')", "Nodes", priority=True, id="dashboard.nodes"),
        Binding("g", "show_view('gpus')", "GPUs", priority=True, id="dashboard.gpus"),
        Binding("c", "show_view('containers')", "Containers", priority=True, id="dashboard.containers"),
        Binding("u", "show_view('units')", "Units", show=False, priority=True, id="dashboard.units"),
        Binding("s", "show_view('services')", "Services", priority=True, id="dashboard.services"),
        Binding("A", "focus_pane('alerts')", "Alerts", priority=True, id="dashboard.alerts"),
        Binding("p", "show_view('peers')", "Peers", show=False, priority=True, id="dashboard.peers"),
        Binding(
            "i", "show_view('instances')", "Instances", show=False, priority=True, id="dashboard.instances"
        ),
        Binding("S", "show_view('signals')", "Signals", show=False, priority=True, id="dashboard.signals"),
        Binding("O", "show_view('pods')", "Pods", show=False, priority=True, id="dashboard.pods"),
        Binding(
            "dollar_sign",
            "show_view('cost')",
            "Cost",
            show=False,
            key_display="$",
            priority=True,
            id="dashboard.cost",
        ),
        Binding(
            "colon", "open_line('command')", "Command", key_display=":", priority=True, id="dashboard.command"
        ),
        Binding(
            "slash", "open_line('filter')", "Filter", key_display="/", priority=True, id="dashboard.filter"
        ),
    ]

    def __init__(
        self, services: Sequence[ServiceConfig] = (), history: Mapping[str, Iterable[str]] | None = None
    ) -> None:
        super().__init__()
        self._history = history
        self._filters: dict[str, str] = {}
        """The filter text of each table, shown in its pane's title."""
        self._table: LiveTable | None = None
        """The table the open filter line applies to (focus moves to the line while it is open)."""
        self._services = {s.name: s for s in services}
        self._pending: ClusterState | None = None
        self._draws = 0
        """Draws started, and the number of the last one shown (:meth:`draw_steps`)."""
        self._drawn = 0
        self.state: ClusterState | None = None
        self._critical: set[tuple[str, str]] = set()
        self._unannounced: list[Alert] = []
        self._last_toast = float("-inf")

    def compose(self) -> ComposeResult:
        yield Static("connecting…", id="summary", markup=False)
        with Vertical(id="alerts-pane", classes="pane") as pane:
            pane.border_title = "Alerts"
            yield LiveTable(ALERT_COLUMNS, id="alerts")
        with Vertical(id="nodes-pane", classes="pane") as pane:
            pane.border_title = "Nodes"
            yield LiveTable(NODE_COLUMNS, id="nodes")
        with Horizontal(id="lower"):
            with ContentSwitcher(initial="gpus-pane", id="views"):
                for key, (title, columns) in VIEWS.items():
                    with Vertical(id=f"{key}-pane", classes="pane view") as pane:
                        pane.border_title = title
                        yield LiveTable(columns, id=key)
            with Vertical(id="side-services-pane", classes="pane") as pane:
                pane.border_title = "Services"
                yield LiveTable(SERVICE_COLUMNS[:3] + SERVICE_COLUMNS[-1:], id="side-services")
        yield LogPane(id="log")
        yield Footer()
        yield CommandLine(self._history, on_filter=self._filter_changed, id="cmd")

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
        for _ in self.draw_steps(state):
            pass

    def draw_steps(self, state: ClusterState) -> Iterator[None]:
        """Draw ``state``, yielding every :data:`SLICE_ROWS` rows: at 16,000 GPUs building and
        loading the rows that changed takes a few hundred milliseconds, and the app draws in
        slices between keys (cockpit/app.py). Nothing on screen changes until the last step,
        which shows every table at once, in one frame. A draw that finishes after a later one
        started and finished is dropped."""
        self._draws += 1
        ticket = self._draws
        view = self.view
        loads = []
        for key, rows in (
            ("alerts", alert_rows(state)),
            ("nodes", iter_node_rows(state)),
            (view, self._view_rows(state, view)),
        ):
            table = self.query_one(f"#{key}", LiveTable)
            loading = table.start_load()
            for count, row in enumerate(rows, 1):
                loading.feed(row)
                if not count % SLICE_ROWS:
                    yield
            yield from loading.prejudge()
            loads.append((table, loading))
        text = summary(state)  # every GPU: a step of its own, not part of the last one
        yield
        if ticket < self._drawn:
            return
        self._drawn = ticket
        self._announce(state)
        self.state = state
        with self.app.batch_update():
            header = self.query_one("#summary", Static)
            if str(header.content) != text:
                header.update(text, layout=False)  # one line, full width (cockpit.tcss): a new layout
                # of the whole screen for each state cost a frame of 30-80 ms at 16,000 GPU rows
            for table, loading in loads:
                table.take(loading)
            if self.view != view:  # switched while the rows were built
                self._draw_view(state, self.view)
            self._draw_side(state)

    def _draw_side(self, state: ClusterState) -> None:
        side = self.query_one("#side-services-pane")
        side.display = bool(state.services) and self.size.width >= SIDE_SERVICES_MIN_WIDTH
        if side.display:
            rows = service_rows(state, self._services)
            self.query_one("#side-services", LiveTable).reconcile(
                [(k, cells[:3] + cells[-1:]) for k, cells in rows]
            )

    def _draw_view(self, state: ClusterState, view: str) -> None:
        """Only the view on screen is drawn; the others catch up when shown."""
        self.query_one(f"#{view}", LiveTable).reconcile(self._view_rows(state, view))

    def _view_rows(self, state: ClusterState, view: str) -> Iterable[Row]:
        if view == "gpus":
            return iter_gpu_rows(state)
        if view == "containers":
            return container_rows(state)
        if view == "units":
            return unit_rows(state)
        if view in ("peers", "instances", "cost"):
            return self._fleet_rows(state, view)
        if view == "signals":
            return signal_rows(state)
        if view == "pods":
            return pod_rows(state)
        return service_rows(state, self._services)

    @staticmethod
    def _fleet_rows(state: ClusterState, view: str) -> list:  # type: ignore[type-arg]
        if state.fleet is None:
            return []
        if view == "peers":
            return peer_rows(state.fleet, state.at)
        if view == "instances":
            return instance_rows(state.fleet, state.at)
        return cost_rows(state)

    @property
    def view(self) -> str:
        current = self.query_one("#views", ContentSwitcher).current or "gpus-pane"
        return current.removesuffix("-pane")

    def action_show_view(self, view: str) -> None:
        if view not in VIEWS:
            return
        self.query_one("#views", ContentSwitcher).current = f"{view}-pane"
        if self.state is not None:
            self._draw_view(self.state, view)
        # Focus now, not on the next loop turn (what focus() does): a "/" typed right after must
        # filter this table.
        self.set_focus(self.query_one(f"#{view}", LiveTable))

    def on_resize(self, event: Resize) -> None:
        if self.state is not None:
            self._draw_side(self.state)

    # -- k9s-style navigation: ``/`` filters the focused table, ``:`` switches views --------------

    def _focused_table(self) -> LiveTable:
        focused = self.focused
        if isinstance(focused, LiveTable):
            return focused
        return self.query_one("#nodes", LiveTable)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        # While the prompt is open, the dashboard's keys are text in it.
        return not (action in _PROMPT_TEXT and self.query_one(CommandLine).is_open)

    def action_open_line(self, kind: str) -> None:
        self._table = self._focused_table()
        text = self._filters.get(self._table.id or "", "") if kind == "filter" else ""
        self.query_one(CommandLine).open(kind, text)  # type: ignore[arg-type]

    def _filter_changed(self, text: str, query: Query) -> None:
        table = self._table or self._focused_table()
        table.set_filter(None if query.is_empty else query.matches)
        self._set_filter_title(table, text)

    def _set_filter_title(self, table: LiveTable, text: str) -> None:
        key = table.id or ""
        self._filters[key] = text
        pane = table.parent
        if pane is not None and isinstance(pane, Vertical):
            base = str(pane.border_title or "").split("  /", 1)[0]
            # The typed text is the operator's, not markup: "[/]" is a valid filter.
            pane.border_title = Content(f"{base}  /{text}") if text else base

    def on_command_line_submitted(self, event: CommandLine.Submitted) -> None:
        table = self._table
        self._table = None
        if event.kind == "filter":
            if table is not None:
                table.focus()
            return
        command = resolve_command(event.text)
        if command is None:
            self.notify(
                f"unknown command: {clean(event.text)} (try :nodes, :gpus, :containers)",
                timeout=4,
                markup=False,
            )
            if table is not None:
                table.focus()
            return
        self.run_command(command)

    def run_command(self, command: str) -> None:
        if command == "quit":
            self.app.exit()
        elif command in ("nodes", "alerts"):
            self.query_one(f"#{command}", LiveTable).focus()
        elif command in VIEWS:
            self.action_show_view(command)
        elif command == "log":
            log = self.query_one(LogPane)
            log.display = True
            log.query_one("RichLog").focus()
        else:
            self.notify(f":{command} is not available yet", timeout=3)

    def on_command_line_cancelled(self, event: CommandLine.Cancelled) -> None:
        table, self._table = self._table, None
        if table is not None:
            table.focus()

    def on_live_table_cleared(self, event: LiveTable.Cleared) -> None:
        self._set_filter_title(event.table, "")

    def on_live_table_marks_changed(self, event: LiveTable.MarksChanged) -> None:
        pane = event.table.parent
        if isinstance(pane, Vertical):
            pane.border_subtitle = f"{len(event.marked)} marked" if event.marked else ""

    def action_focus_pane(self, pane: str) -> None:
        if pane in VIEWS:
            self.action_show_view(pane)
            return
        self.set_focus(self.query_one(f"#{pane}", LiveTable))  # now: as in action_show_view

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
