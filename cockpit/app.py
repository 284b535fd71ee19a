"""The Textual App: runs the engine on the app's own event loop and hands each state to the screen.

The engine is an async worker on this loop, not a thread: asyncssh connections belong to the loop
that opened them. Each cycle arrives as one ``StateUpdated`` message carrying a frozen state, the
same message tests post with fixture states.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from textual import events, work
from textual.app import App
from textual.binding import Binding
from textual.message import Message
from textual.timer import Timer
from textual.worker import Worker, WorkerState

from cockpit import collector
from cockpit.actions.audit import AuditLog
from cockpit.actions.catalog import Catalog
from cockpit.actions.schema import ActionConfig
from cockpit.config import Cluster
from cockpit.engine import Engine
from cockpit.fleet_actions import restart_p2p_action
from cockpit.prefs import Prefs
from cockpit.recording import ActionRecord, Recorder
from cockpit.replay import ReplaySource
from cockpit.sanitize import clean
from cockpit.sliced import Sliced
from cockpit.state import ClusterState
from screens.action_flow import ActionFlow
from screens.dashboard import VIEWS, DashboardScreen
from screens.help import HelpScreen
from screens.node_detail import NodeDetailScreen
from screens.palette import PaletteCommand, palette_provider, view_commands
from themes import DEFAULT_THEME, STYLESHEET, THEME_NAMES, THEMES
from widgets.command_line import CommandLine
from widgets.live_table import LiveTable
from widgets.log_pane import LogPane

Hook = Callable[[], Awaitable[None]]
Prepare = Callable[[], Awaitable[Cluster]]

KEYS_FIRST_S = 0.25
"""Input first: when drawing a state takes long enough to be felt (:data:`FELT_S`), a state that
arrives within this long of a key is drawn once the keys pause this long (or a refresh period after
it arrived, whichever is sooner). At 16,000 GPU rows drawing a state takes a few hundred
milliseconds; a cursor move or a filter character queued behind it would wait that long, where the
operator would rather see the data a quarter of a second later."""
FELT_S = 0.03
KEY_FRAME_S = 0.1
"""A draw going on in slices pauses this long after each key, and until the screen was refreshed
after it: the key's frame comes first (Textual's is a few hops and a timer away from the key)."""


class StateUpdated(Message):
    """A new cycle's state; ``can_replace`` lets a burst collapse into the newest one."""

    def __init__(self, state: ClusterState) -> None:
        super().__init__()
        self.state = state

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, StateUpdated)


@dataclass
class Options:
    theme: str = DEFAULT_THEME
    start_engine: bool = True
    prepare: Prepare | None = None
    """Runs on the app's loop before the engine (the demo starts its servers here) and returns
    the cluster to watch, with the ports actually bound."""
    after_stop: Hook | None = None
    read_only: bool = False
    """``--read-only``: non-safe actions are hidden and refused (``read_only: true`` in config too)."""
    audit_path: Path | None = None
    """Where actions are recorded; None: the XDG state dir."""
    prefs: Prefs | None = None
    """Where the theme and command history are remembered; None (tests) remembers nothing."""
    recorder: Recorder | None = None
    """``--record FILE``: every published state (and every action run) is also written there."""
    replay: ReplaySource | None = None
    """``cockpit replay``: states come from a recording instead of the engine; nothing is polled."""


class CockpitApp(App[None]):
    TITLE = "gpu-cockpit"
    CSS_PATH = str(STYLESHEET)
    ENABLE_COMMAND_PALETTE = True
    BINDINGS = [
        Binding("q", "quit", "Quit", id="app.quit"),
        Binding("question_mark", "help", "Help", key_display="?", id="app.help"),
        Binding("t", "next_theme", "Theme", id="app.theme"),
        Binding("a", "actions", "Actions", id="app.actions"),
        Binding("L", "toggle_log", "Log", show=False, id="app.log"),
        Binding("ctrl+c", "cancel_action", "Cancel action", show=False, priority=True, id="app.cancel"),
        Binding("tab", "focus_next", "Next pane", show=False, id="app.next"),
        Binding("shift+tab", "focus_previous", "Previous pane", show=False, id="app.previous"),
    ]
    REPLAY_BINDINGS = [
        Binding("P", "replay('toggle')", "Play/pause", id="replay.toggle"),
        Binding("right_square_bracket", "replay('skip', 10)", "+10 s", key_display="]", id="replay.forward"),
        Binding("left_square_bracket", "replay('skip', -10)", "-10 s", key_display="[", id="replay.back"),
        Binding("full_stop", "replay('step', 1)", "Next state", key_display=".", id="replay.next"),
        Binding("comma", "replay('step', -1)", "Previous state", key_display=",", id="replay.previous"),
        Binding("plus", "replay('faster')", "Faster", key_display="+", id="replay.faster"),
        Binding("minus", "replay('slower')", "Slower", key_display="-", id="replay.slower"),
    ]
    """Only in ``cockpit replay``; keys clear of the screens' (p is peers, space marks, arrows move)."""

    def __init__(self, cluster: Cluster, options: Options | None = None) -> None:
        super().__init__()
        self.cluster = cluster
        self.options = options or Options()
        self.engine: Engine | None = None
        prefs = self.options.prefs
        history = prefs.get("history") if prefs is not None else None
        self.dashboard = DashboardScreen(cluster.services, history if isinstance(history, dict) else None)
        self.COMMANDS = App.COMMANDS | {palette_provider(self.palette_commands)}
        read_only = self.options.read_only or cluster.read_only
        configured = list(cluster.actions)
        if cluster.p2p and not any(a.name == "p2p-restart" for a in configured):
            configured.append(restart_p2p_action(cluster.p2p))  # runbook 001, peers from the config
        self.catalog = Catalog.from_config(configured, read_only=read_only, kube=cluster.kube)
        self.actions = ActionFlow(self, self.catalog, AuditLog(self.options.audit_path))
        if self.options.replay is not None:
            for b in self.REPLAY_BINDINGS:
                self.bind(b.key, b.action, description=b.description, key_display=b.key_display)
        if cluster.keys:
            self.set_keymap(dict(cluster.keys))
        self.detail: NodeDetailScreen | None = None
        self._last_key = float("-inf")
        self._collecting: Timer | None = None
        self._waiting: tuple[ClusterState, float] | None = None
        """The newest state not drawn yet, and when the first of those waiting arrived."""
        self._waiting_timer: Timer | None = None
        self._drawing: Sliced[None] | None = None
        """A draw under way in slices, between keys (cockpit/sliced.py)."""
        self._draw_s = 0.0
        """How long drawing the last state took."""
        for theme in THEMES:
            self.register_theme(theme)
        self.theme = self.options.theme if self.options.theme in THEME_NAMES else DEFAULT_THEME

    def on_mount(self) -> None:
        collector.hold()  # released in on_unmount
        self._collecting = self.set_interval(1.0, self._collect)
        self.push_screen(self.dashboard)
        unknown = sorted(set(self.cluster.keys) - self.binding_ids())
        if unknown:
            self.notify(
                f"keys: no binding {', '.join(unknown)} (see ? for the ids)", severity="warning", timeout=10
            )
        if self.options.start_engine:
            self.run_engine()

    @work(group="engine", exit_on_error=False, description="engine")
    async def run_engine(self) -> None:
        replay = self.options.replay
        if replay is not None:
            self.sub_title = replay.describe()
            await replay.run(self._publish_replayed, on_action=self._replayed_action)
            return
        cluster = await self.options.prepare() if self.options.prepare else self.cluster
        self.engine = Engine(cluster)
        self.engine.wait_for_keys = self._keys_paused
        self.engine.between_slices = self._keys_first
        self.post_message(StateUpdated(self.engine.initial_state()))
        publish = self._publish
        if self.options.recorder is not None:
            publish = self.options.recorder.tee(publish, self._recording_stopped)
        await self.engine.run(publish)

    def _publish_replayed(self, state: ClusterState) -> None:
        self._publish(state)
        if self.options.replay is not None:
            self.sub_title = self.options.replay.describe()

    def _replayed_action(self, action: ActionRecord) -> None:
        where = f" on {action.node}" if action.node else ""
        outcome = action.result.summary if action.result else "?"
        self.notify(clean(f"{action.action}{where}: {outcome}"), timeout=5, markup=False)

    def _recording_stopped(self, reason: str) -> None:
        self.notify(clean(f"recording stopped: {reason}"), severity="error", timeout=30, markup=False)

    def action_replay(self, verb: str, amount: float = 0) -> None:
        replay = self.options.replay
        if replay is None:
            return
        if verb == "toggle":
            replay.toggle()
        elif verb == "skip":
            replay.skip(amount)
        elif verb == "step":
            replay.step(int(amount))
        elif verb == "faster":
            replay.set_speed(replay.speed * 2)
        elif verb == "slower":
            replay.set_speed(replay.speed / 2)
        self.sub_title = replay.describe()

    def _publish(self, state: ClusterState) -> None:
        self.post_message(StateUpdated(state))

    def open_node(self, node: str, state: ClusterState) -> None:
        if self.detail is None:
            self.detail = NodeDetailScreen(node, state)
            self.install_screen(self.detail, "node-detail")
        self.detail.show_node(node, state)
        self.push_screen("node-detail")

    def _hold_s(self) -> float:
        """How much longer work on this loop should wait for the keys to pause (:data:`KEYS_FIRST_S`);
        0 when they have, or when drawing a state is too quick to be felt."""
        if self._draw_s < FELT_S:
            return 0.0
        return max(0.0, KEYS_FIRST_S - (time.monotonic() - self._last_key))

    async def _keys_paused(self) -> None:
        """The engine reads Prometheus and builds a state (a few hundred milliseconds at 16,000
        GPUs, on this loop) once the keys pause, as :meth:`_draw_waiting` draws one; never later
        than a refresh period."""
        deadline = time.monotonic() + self.cluster.refresh
        while (hold := self._hold_s()) > 0 and time.monotonic() < deadline:
            await asyncio.sleep(hold)

    async def on_event(self, event: events.Event) -> None:
        if isinstance(event, events.Key):
            self._last_key = time.monotonic()
        await super().on_event(event)

    def _collect(self) -> None:
        """The cyclic collector's work, where no key waits on it (cockpit/collector.py)."""
        collector.collect_if_due(time.monotonic() - self._last_key >= KEYS_FIRST_S)

    def on_state_updated(self, message: StateUpdated) -> None:
        since = self._waiting[1] if self._waiting is not None else time.monotonic()
        self._waiting = (message.state, since)
        if self._waiting_timer is None and self._drawing is None:  # else the timer or the draw does
            self._draw_waiting()

    def _draw_waiting(self) -> None:
        """Draw the newest state, unless keys are being pressed (:data:`KEYS_FIRST_S`)."""
        self._waiting_timer = None
        if self._waiting is None or self._drawing is not None:
            return
        if not self.is_running:
            # Shutting down: Textual prunes the screens while this queue still drains the
            # engine's last states, which have nowhere left to be drawn.
            self._waiting = None
            return
        state, since = self._waiting
        now = time.monotonic()
        hold = self._hold_s()
        if hold > 0 and now - since < state.refresh:
            self._waiting_timer = self.set_timer(hold, self._draw_waiting)
            return
        self._waiting = None
        if self.screen is not self.dashboard:
            self.dashboard.show_state(state)  # kept for when it is shown again
            self._drawn(state, 0.0)
            return
        draw = Sliced(self.dashboard.draw_steps(state))
        if draw.run():
            self._drawn(state, draw.spent)
        else:
            self._drawing = draw
            self.run_worker(self._draw_rest(state, draw, now), group="draw", exit_on_error=False)

    async def _draw_rest(self, state: ClusterState, draw: Sliced[None], started: float) -> None:
        """The rest of a draw that did not fit in one slice (cockpit/sliced.py)."""
        try:
            await draw.finish(lambda: self._keys_first(started + state.refresh))
        finally:
            if not draw.done:
                draw.close()
            self._drawing = None
        self._drawn(state, draw.spent)

    async def _keys_first(self, until: float | None = None) -> None:
        """Between two slices of work on this loop: a key's frame comes first. Waits until the
        screen was refreshed after the last key and the keys paused :data:`KEY_FRAME_S`, or
        until ``until`` (keys held down must not stop the data for long)."""
        await asyncio.sleep(0)  # a key that came during the slice is taken now
        while time.monotonic() - self._last_key < KEY_FRAME_S:
            if until is not None and time.monotonic() > until:
                return
            key = self._last_key
            await self.wait_for_refresh()
            await asyncio.sleep(max(0.0, KEY_FRAME_S - (time.monotonic() - key)))

    def _drawn(self, state: ClusterState, spent: float) -> None:
        if isinstance(self.screen, NodeDetailScreen):
            self.screen.show_state(state)
        self._draw_s = spent
        self._collect()  # what this state replaced, while the loop is busy anyway
        if self._waiting is not None and self._waiting_timer is None:
            self._draw_waiting()  # a state that arrived while this one was drawn in slices

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        """Every failed worker lands here: one line to the operator, never a traceback."""
        if event.state is WorkerState.ERROR and event.worker.error is not None:
            error = event.worker.error
            self.notify(
                clean(f"{event.worker.description} stopped: {type(error).__name__}: {error}"),
                severity="error",
                timeout=30,
                markup=False,
            )

    async def on_unmount(self) -> None:
        if self._collecting is not None:
            self._collecting.stop()
            self._collecting = None
            collector.release()
        # Stop the loop first, so it cannot reopen connections while the pool closes them.
        for worker in [w for w in self.workers if w.group == "engine"]:
            worker.cancel()
        if self.engine is not None:
            await self.engine.close()
        if self.options.after_stop is not None:
            await self.options.after_stop()

    def palette_commands(self) -> list[PaletteCommand]:
        """What ctrl+p offers, as "noun: verb"; read each time the palette opens."""
        views = ["nodes", "alerts", *VIEWS]
        commands = view_commands(views, self._palette_view)
        commands.append(PaletteCommand("theme", "next", self.action_next_theme, "also t"))
        commands.append(PaletteCommand("keys", "help", self.action_help, "also ?"))
        commands.append(PaletteCommand("cockpit", "quit", self.exit, "also q or :quit"))
        for action in self.catalog.visible():
            verb = action.description or action.name
            key = f"a then {action.key}" if action.key else "a"
            commands.append(
                PaletteCommand(
                    action.scope,
                    verb[:1].lower() + verb[1:],
                    self._palette_action(action),
                    f"{action.danger}; also {key} on a {action.scope} row",
                )
            )
        return commands

    def _palette_action(self, action: ActionConfig) -> Callable[[], None]:
        return lambda: self.actions.open_menu(only=action)

    def _palette_view(self, view: str) -> None:
        while self.screen is not self.dashboard and len(self.screen_stack) > 2:
            self.pop_screen()
        self.dashboard.run_command(view)

    def on_command_line_submitted(self, event: CommandLine.Submitted) -> None:
        """Remember what was typed, so tomorrow's shift has yesterday's filters one arrow away."""
        if self.options.prefs is not None:
            line = event.control
            self.options.prefs.remember("history", {k: list(h.entries) for k, h in line.histories.items()})
            self.run_worker(
                self.options.prefs.save, thread=True, group="prefs", description="saving preferences"
            )

    def action_actions(self) -> None:
        self.actions.open_menu()

    def action_cancel_action(self) -> None:
        if not self.actions.cancel():
            self.notify("no action is running (q quits)", timeout=2)

    def action_toggle_log(self) -> None:
        log = self.dashboard.query_one(LogPane)
        log.display = not log.display

    def action_help(self) -> None:
        self.push_screen(HelpScreen(self.key_help()))

    def action_next_theme(self) -> None:
        index = THEME_NAMES.index(self.theme) if self.theme in THEME_NAMES else -1
        self.theme = THEME_NAMES[(index + 1) % len(THEME_NAMES)]
        if self.options.prefs is not None:
            self.options.prefs.set("theme", self.theme)
        self.notify(f"theme: {self.theme}", timeout=2)

    def binding_ids(self) -> set[str]:
        """Every binding id a ``keys:`` entry in the config may rebind."""
        owners = (App, LiveTable, DashboardScreen, CockpitApp, NodeDetailScreen, CommandLine)
        return {b.id for owner in owners for b in owner.BINDINGS if isinstance(b, Binding) and b.id}

    def key_help(self) -> list[tuple[str, str]]:
        """(keys, what they do) from the same bindings the footer shows."""
        rows: list[tuple[str, str]] = []
        for owner in (LiveTable, DashboardScreen, CockpitApp):
            for binding in owner.BINDINGS:
                if not isinstance(binding, Binding) or not binding.description:
                    continue
                keys = " ".join(
                    binding.key_display or self.get_key_display(Binding(k, binding.action))
                    for k in binding.key.split(",")
                )
                rows.append(
                    (keys, f"{binding.description}  ({binding.id})" if binding.id else binding.description)
                )
        rows.append(("ctrl+p", "Command palette"))
        return rows
