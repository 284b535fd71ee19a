"""From a key on a row to a finished, audited command: menu -> confirm -> run -> log pane.

The app owns one :class:`ActionFlow`. It reads the focused table's cursor row (or its marked rows,
for a bulk run), offers the actions for that subject (an alert's runbook remediations first),
confirms, then runs the invocations on the app's loop over the engine's SSH connections, streaming
each line into the dashboard's log pane. One action runs at a time; ctrl+c cancels it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Hashable
from dataclasses import replace
from typing import TYPE_CHECKING

from textual.worker import Worker

from cockpit.actions.audit import AuditLog
from cockpit.actions.catalog import Catalog, ReadOnlyError
from cockpit.actions.render import Invocation, applies
from cockpit.actions.runner import Outcome, Result, run, run_bulk
from cockpit.actions.schema import ActionConfig
from cockpit.actions.subjects import InstanceTarget, Target, detail_target, remediations, target_for
from cockpit.fleet_actions import (
    DESTROY_INSTANCE,
    STOP_INSTANCE,
    ApiAction,
    ApiInvocation,
    plan_stop_idle,
    render_api,
    run_api,
)
from cockpit.recording import LineKeeper, Recorder, RecordingError
from cockpit.sanitize import clean
from screens.action_menu import ActionMenu, MenuEntry
from screens.confirm import ConfirmScreen
from widgets.live_table import LiveTable
from widgets.log_pane import LogPane

if TYPE_CHECKING:
    from cockpit.app import CockpitApp


class ActionFlow:
    def __init__(self, app: CockpitApp, catalog: Catalog, audit: AuditLog) -> None:
        self.app = app
        self.catalog = catalog
        self.audit = audit
        self.cancel_event: asyncio.Event | None = None
        self.worker: Worker[None] | None = None

    @property
    def running(self) -> bool:
        return self.worker is not None and not self.worker.is_finished

    # -- choosing ---------------------------------------------------------------------------------

    def open_menu(self, only: ActionConfig | None = None) -> None:
        """The actions for the focused row (or its marked rows); ``only`` skips the menu (the
        command palette already named the action)."""
        app = self.app
        state = app.dashboard.state
        if state is None:
            app.notify("no data yet", timeout=2)
            return
        table = app.screen.focused
        if not isinstance(table, LiveTable):
            app.notify("move to a row first (n, g, c, s …)", timeout=3)
            return
        node_screen = getattr(app.screen, "node", None)
        keys: list[Hashable] = sorted(table.marked, key=str) if table.marked else [table.cursor_key]
        entries: list[MenuEntry] = []
        title = ""
        if table.id == "instances":
            self._instance_menu(table, keys)
            return
        if table.id in ("alerts", "detail-alerts") and not table.marked:
            alert = next((a for a in state.alerts if (a.subject, a.metric) == table.cursor_key), None)
            if alert is None:
                return
            for suggestion in remediations(alert, state, app.cluster):
                action = self._visible(suggestion.action)
                if action is not None:
                    entries.append(MenuEntry(action, (suggestion.target,), suggestion.inputs, suggestion.why))
            title = f"alert: {alert.message}"
        else:
            targets = [
                detail_target(state, app.cluster, node_screen, table.id, key)
                if isinstance(node_screen, str)
                else target_for(state, app.cluster, table.id, key)
                for key in keys
                if key is not None
            ]
            found = tuple(t for t in targets if t is not None)
            if not found:
                app.notify("no actions for this row", timeout=2)
                return
            scope = found[0].scope
            found = tuple(t for t in found if t.scope == scope)
            entries = [
                MenuEntry(action, found)
                for action in self.catalog.visible(scope)
                if all(applies(action, t.subject) for t in found)
            ]
            title = found[0].label if len(found) == 1 else f"{len(found)} marked {scope}s"
        if not entries:
            app.notify(
                "no actions for this row" + (" (read-only)" if self.catalog.read_only else ""), timeout=3
            )
            return
        if self.catalog.read_only:
            title += "   [read-only: safe actions only]"
        app.push_screen(ActionMenu(title, entries), self._chosen)

    def _instance_menu(self, table: LiveTable, keys: list[Hashable]) -> None:
        """Cloud instances: stop or destroy through the provider's API; stop every idle one."""
        app = self.app
        state = app.dashboard.state
        fleet = state.fleet if state else None
        engine = app.engine
        if (
            fleet is None
            or fleet.instances is None
            or engine is None
            or engine.fleet is None
            or engine.fleet.vast is None
        ):
            app.notify("no cloud API configured (vast: in the config)", timeout=3)
            return
        by_id = {i.id: i for i in fleet.instances.instances}
        chosen = tuple(InstanceTarget(by_id[k]) for k in keys if k in by_id)
        entries: list[MenuEntry] = []
        if chosen:
            for api_action in (STOP_INSTANCE, DESTROY_INSTANCE):
                if not (self.catalog.read_only and api_action.danger != "safe"):
                    entries.append(MenuEntry(api_action, chosen))  # type: ignore[arg-type]
        plan = plan_stop_idle(fleet.instances.instances, engine.fleet.idle, state.at)
        if plan.instances and not self.catalog.read_only:
            idle_action = replace(STOP_INSTANCE, name="vast-stop-idle", key="I", description=plan.summary)
            targets = tuple(InstanceTarget(i) for i in plan.instances)
            entries.append(MenuEntry(idle_action, targets, why="\n".join(plan.lines())))  # type: ignore[arg-type]
        if not entries:
            app.notify(
                "no actions for this row" + (" (read-only)" if self.catalog.read_only else ""), timeout=3
            )
            return
        title = chosen[0].label if len(chosen) == 1 else f"{len(chosen)} instances"
        app.push_screen(ActionMenu(f"instance: {title}", entries), self._chosen)

    def _visible(self, name: str) -> ActionConfig | None:
        try:
            action = self.catalog.get(name)
        except (KeyError, ReadOnlyError):
            return None
        return action

    def _chosen(self, entry: MenuEntry | None) -> None:
        if entry is None:
            return
        if self.running:
            self.app.notify("an action is already running (ctrl+c cancels it)", severity="warning", timeout=4)
            return
        note = entry.why if isinstance(entry.action, ApiAction) else ""
        screen = ConfirmScreen(entry.action, entry.targets, dict(entry.inputs), self._render, note)
        self.app.push_screen(screen, lambda invocations: self._confirmed(entry.action, invocations))

    def _render(self, action: ActionConfig, target: Target, inputs: dict[str, object]) -> Invocation:
        if isinstance(action, ApiAction) and isinstance(target, InstanceTarget):
            client = self.app.engine.fleet.vast  # type: ignore[union-attr]
            return render_api(action, target.instance, client, read_only=self.catalog.read_only)  # type: ignore[return-value]
        return self.catalog.render(action, target.subject, inputs)

    # -- running ----------------------------------------------------------------------------------

    def _confirmed(self, action: ActionConfig, invocations: list[Invocation] | None) -> None:
        if not invocations:
            return
        app = self.app
        while len(app.screen_stack) > 2 and app.screen is not app.dashboard:
            app.pop_screen()
        self.cancel_event = asyncio.Event()
        self.worker = app.run_worker(
            self._run(action, invocations),
            group="action",
            exclusive=True,
            description=f"action {action.name}",
        )

    def _log(self) -> LogPane:
        return self.app.dashboard.query_one(LogPane)

    async def _run(self, action: ActionConfig, invocations: list[Invocation]) -> None:
        log = self._log()
        pool = self.app.engine.pool if self.app.engine is not None else None
        first = invocations[0]
        where = {"node": f"{first.user}@{first.node}", "api": f"the cloud API ({first.host})"}.get(
            first.run_on, "this machine"
        )
        if len(invocations) > 1:
            where = f"{len(invocations)} targets, {getattr(action, 'concurrency', 4)} at a time"
        log.begin(action.description or action.name, first.display, where)
        if isinstance(first, ApiInvocation):
            await self._run_api(log, action, invocations)  # type: ignore[arg-type]
            return
        recorder = self.app.options.recorder
        started = time.time()
        kept = {id(i): LineKeeper() for i in invocations}
        if len(invocations) == 1:

            def one_line(stream: str, line: str) -> None:
                kept[id(first)](stream, line)
                log.line(stream, line)

            result = await run(
                first,
                pool,
                one_line,
                audit=self.audit,
                cancel=self.cancel_event,
                read_only=self.catalog.read_only,
            )
            log.end(result.summary, result.ok)
            self._record(recorder, [first], [result], kept, started)
            self._reread(invocations)
            return

        def on_line(invocation: Invocation, stream: str, line: str) -> None:
            kept[id(invocation)](stream, line)
            log.line(stream, f"[{invocation.node}] {line}")

        results = await run_bulk(
            invocations,
            pool,
            on_line,
            concurrency=getattr(action, "concurrency", 4),
            audit=self.audit,
            cancel=self.cancel_event,
            read_only=self.catalog.read_only,
        )
        self._bulk_table(log, results)
        self._record(recorder, invocations, results, kept, started)
        self._reread(invocations)

    def _record(
        self,
        recorder: Recorder | None,
        invocations: list[Invocation],
        results: list[Result],
        kept: dict[int, LineKeeper],
        started: float,
    ) -> None:
        """Into the ``--record`` file, for the post-mortem: what ran, where, what it printed."""
        if recorder is None or recorder.closed:
            return
        try:
            for invocation, result in zip(invocations, results, strict=True):
                recorder.record_action(
                    invocation.action,
                    invocation.node,
                    invocation.display,
                    kept[id(invocation)],
                    result,
                    target=invocation.target,
                    started=started,
                )
        except RecordingError as exc:
            recorder.close()
            self.app.notify(clean(f"recording stopped: {exc}"), severity="error", timeout=30, markup=False)

    def _reread(self, invocations: list[Invocation]) -> None:
        """The operator wants to see the effect: re-read those nodes' workloads at once."""
        engine = self.app.engine
        if engine is not None:
            for invocation in invocations:
                if invocation.node:
                    engine.refresh_workloads(invocation.node)

    async def _run_api(self, log: LogPane, action: object, invocations: list[ApiInvocation]) -> None:
        client = self.app.engine.fleet.vast  # type: ignore[union-attr]
        gate = asyncio.Semaphore(4)

        async def one(invocation: ApiInvocation) -> Result:
            async with gate:
                if self.cancel_event is not None and self.cancel_event.is_set():
                    return Result(invocation.action, invocation.target, Outcome.CANCELLED)
                result = await run_api(
                    invocation,
                    client,
                    audit=self.audit,
                    sink=lambda line: log.line("stdout", f"[{invocation.target}] {line}"),
                    read_only=self.catalog.read_only,
                )
                return replace(result, node=invocation.target)

        results = list(await asyncio.gather(*(one(i) for i in invocations)))
        if len(results) == 1:
            log.end(results[0].summary, results[0].ok)
        else:
            self._bulk_table(log, results)

    @staticmethod
    def _bulk_table(log: LogPane, results: list[Result]) -> None:
        log.note("node                 result", "bold")
        for result in results:
            style = "green" if result.ok else "red"
            log.note(f"{(result.node or '-'):<20} {result.summary}", style)
        ok = sum(1 for r in results if r.ok)
        log.end(f"{ok}/{len(results)} ok", ok == len(results))

    def cancel(self) -> bool:
        if not self.running or self.cancel_event is None:
            return False
        self.cancel_event.set()
        self._log().note("cancelling: SIGTERM to the remote process group, SIGKILL after 3 s", "yellow")
        return True
