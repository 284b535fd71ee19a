"""Pilot tests of the dashboard driven by the same StateUpdated message the engine posts."""

from __future__ import annotations

import asyncio
import time
from dataclasses import replace
from pathlib import Path

import pytest
from textual import events

from cockpit.app import CockpitApp, Options, StateUpdated
from cockpit.config import load_cluster
from screens.help import HelpScreen
from screens.node_detail import NodeDetailScreen
from tests.states import sample_state
from widgets.command_line import CommandLine
from widgets.live_table import LiveTable

ROOT = Path(__file__).resolve().parents[2]


def make_app(theme: str = "cockpit-dark") -> CockpitApp:
    return CockpitApp(load_cluster(ROOT / "cluster.yaml"), Options(theme=theme, start_engine=False))


async def _with_state(pilot, state=None) -> None:
    pilot.app.post_message(StateUpdated(state or sample_state()))
    await pilot.pause()


async def test_rows_appear_for_every_node_and_gpu() -> None:
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await _with_state(pilot)
        nodes = app.screen.query_one("#nodes", LiveTable)
        gpus = app.screen.query_one("#gpus", LiveTable)
        assert nodes.row_keys == [
            "hydra-ai",
            "hydra-compute",
            "hydra-storage",
            "vast-5090-a",
            "vast-3070",
            "lambda-h100",
        ]
        assert ("hydra-compute", 1) in gpus.row_keys
        assert nodes.cells("vast-3070")[1] == ("DOWN", "down")
        assert "connection refused" in nodes.cells("vast-3070")[-1][0]


async def test_navigation_with_arrows_and_jk_and_tab() -> None:
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await _with_state(pilot)
        nodes = app.screen.query_one("#nodes", LiveTable)
        assert app.focused is nodes
        await pilot.press("j", "j", "down")
        assert nodes.cursor_key == "vast-5090-a"
        await pilot.press("k")
        assert nodes.cursor_key == "hydra-storage"
        await pilot.press("tab")
        assert app.focused is app.screen.query_one("#gpus", LiveTable)
        await pilot.press("shift+tab")
        assert app.focused is nodes


async def test_enter_on_a_node_opens_its_detail_and_escape_returns() -> None:
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await _with_state(pilot)
        await pilot.press("j", "enter")
        assert isinstance(app.screen, NodeDetailScreen)
        assert app.screen.node == "hydra-compute"
        gpus = app.screen.query_one("#detail-gpus", LiveTable)
        assert gpus.row_keys == [0, 1]
        # A new state reaches the detail screen while it is on top.
        hot = sample_state()
        node = hot.node("hydra-compute")
        hotter = replace(node, gpus=(replace(node.gpus[0], temp_c=91.0), *node.gpus[1:]))
        hot = replace(hot, nodes=tuple(hotter if n.name == node.name else n for n in hot.nodes), _index={})
        await _with_state(pilot, hot)
        assert gpus.cells(0)[4][0] == "91°C"
        await pilot.press("escape")
        assert app.screen is app.dashboard


async def test_cursor_stays_on_its_row_when_rows_change() -> None:
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await _with_state(pilot, sample_state(nodes=6))
        nodes = app.screen.query_one("#nodes", LiveTable)
        await pilot.press("j", "j")
        assert nodes.cursor_key == "hydra-storage"
        await _with_state(pilot, sample_state(nodes=4))
        assert nodes.cursor_key == "hydra-storage"


def _with_cpu(state, cpu: float):
    host = replace(state.nodes[0].host, cpu_pct=cpu)
    return replace(state, nodes=(replace(state.nodes[0], host=host), *state.nodes[1:]), _index={})


async def test_a_new_summary_line_does_not_lay_the_screen_out_again() -> None:
    """The summary changes most cycles (power, counts); a layout of the whole screen for it cost a
    30-80 ms frame at 16,000 GPU rows."""
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await _with_state(pilot)
        screen = app.screen
        before = str(screen.query_one("#summary").render())
        layouts = []
        for widget in screen.query("*"):

            def spy(*regions, _widget=widget, _refresh=widget.refresh, **kwargs):  # type: ignore[no-untyped-def]
                if kwargs.get("layout"):
                    layouts.append(_widget)
                return _refresh(*regions, **kwargs)

            widget.refresh = spy  # type: ignore[method-assign]
        state = sample_state()
        hot = next(n for n in state.nodes if n.gpus)
        gpus = (replace(hot.gpus[0], power_w=(hot.gpus[0].power_w or 0) + 500), *hot.gpus[1:])
        nodes = tuple(replace(n, gpus=gpus) if n is hot else n for n in state.nodes)
        await _with_state(pilot, replace(state, nodes=nodes, _index={}))
        assert str(screen.query_one("#summary").render()) != before
        assert layouts == []


async def test_repaints_only_changes_that_matter() -> None:
    """Same state: nothing. CPU 41 -> 43 %: inside the deadband, nothing. 41 -> 47 %: one cell.
    41 -> 85 %: the severity changes, so it repaints whatever the distance."""
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await _with_state(pilot)
        nodes = app.screen.query_one("#nodes", LiveTable)
        before = nodes.repaints
        await _with_state(pilot)
        assert nodes.repaints == before
        await _with_state(pilot, _with_cpu(sample_state(), 43.0))
        assert nodes.repaints == before
        assert nodes.cells("hydra-ai")[4][:2] == ("41%", "ok")
        await _with_state(pilot, _with_cpu(sample_state(), 47.0))
        assert nodes.repaints == before + 1
        assert nodes.cells("hydra-ai")[4][:2] == ("47%", "ok")
        await _with_state(pilot, _with_cpu(sample_state(), 85.0))
        assert nodes.cells("hydra-ai")[4][:2] == ("85%", "critical")


async def test_help_opens_and_closes_and_quit_exits() -> None:
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await _with_state(pilot)
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        await pilot.press("escape")
        assert not isinstance(app.screen, HelpScreen)
        await pilot.press("q")
    assert app.return_code == 0


async def test_state_arriving_under_a_modal_is_drawn_on_return() -> None:
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await _with_state(pilot, sample_state(nodes=2))
        await pilot.press("question_mark")
        await _with_state(pilot, sample_state(nodes=6))
        assert len(app.dashboard.query_one("#nodes", LiveTable).row_keys) == 2
        await pilot.press("escape")
        await pilot.pause()
        assert len(app.dashboard.query_one("#nodes", LiveTable).row_keys) == 6


async def test_theme_cycles_through_the_registered_themes() -> None:
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        seen = {app.theme}
        for _ in range(4):
            await pilot.press("t")
            seen.add(app.theme)
        assert seen == {"cockpit-dark", "cockpit-light", "cockpit-contrast", "cockpit-ansi"}


@pytest.mark.parametrize("size", [(80, 24), (120, 40)])
async def test_narrow_terminal_keeps_the_important_columns(size: tuple[int, int]) -> None:
    app = make_app()
    async with app.run_test(size=size) as pilot:
        await _with_state(pilot)
        text = app.export_screenshot()
        for needle in ("NODE", "STATUS", "CPU", "TEMP", "hydra-ai", "DOWN"):
            assert needle in text


async def test_critical_toasts_are_rate_limited_and_count_what_waited() -> None:
    from cockpit.model import Alert

    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        toasts: list[str] = []
        app.dashboard.notify = lambda message, **_: toasts.append(message)  # type: ignore[method-assign]

        def with_alerts(at: float, *subjects: str):
            alerts = tuple(Alert("critical", s, "node_down", f"{s}: down") for s in subjects)
            return replace(sample_state(), at=at, alerts=alerts, _index={})

        await _with_state(pilot, with_alerts(100, "a"))
        await _with_state(pilot, with_alerts(102, "a", "b"))
        await _with_state(pilot, with_alerts(104, "a", "b", "c"))
        assert toasts == ["a: down"], "within 30 s of a toast, new criticals wait"
        await _with_state(pilot, with_alerts(131, "a", "b", "c"))
        assert toasts == ["a: down", "2 new critical alerts, first b: down"]


async def test_alert_rows_moving_repaint_only_rows_that_differ() -> None:
    from cockpit.model import Alert

    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        alerts = [Alert("warning", f"n{i}", "cpu", f"n{i}: CPU 65% ≥ 60%", since=0) for i in range(4)]
        await _with_state(pilot, replace(sample_state(), at=1, alerts=tuple(alerts), _index={}))
        table = app.screen.query_one("#alerts", LiveTable)
        before = table.repaints
        # The last alert clears: one screen row changes (it becomes blank), the three above do not.
        await _with_state(pilot, replace(sample_state(), at=1, alerts=tuple(alerts[:3]), _index={}))
        assert table.row_keys == [("n0", "cpu"), ("n1", "cpu"), ("n2", "cpu")]
        assert table.repaints == before + 1


async def test_filter_on_the_dashboard_shows_in_the_pane_title_and_esc_clears() -> None:
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await _with_state(pilot)
        nodes = app.screen.query_one("#nodes", LiveTable)
        await pilot.press("slash", *"!tag:inference", "enter")
        assert nodes.row_keys == ["hydra-storage", "vast-5090-a", "vast-3070", "lambda-h100"]
        assert app.screen.query_one("#nodes-pane").border_title.endswith("/!tag:inference")
        # The filter survives a new state: the operator's view does not reset every cycle.
        await _with_state(pilot, sample_state(seq=41))
        assert nodes.row_keys == ["hydra-storage", "vast-5090-a", "vast-3070", "lambda-h100"]
        await pilot.press("escape")
        assert len(nodes.row_keys) == 6
        assert app.screen.query_one("#nodes-pane").border_title == "Nodes"


async def test_command_mode_switches_views_and_reports_unknown_commands() -> None:
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await _with_state(pilot)
        await pilot.press("colon", *"co", "enter")
        assert app.screen.view == "containers"
        assert app.focused is app.screen.query_one("#containers", LiveTable)
        await pilot.press("colon", *"gpu", "enter")
        assert app.screen.view == "gpus"
        await pilot.press("colon", *"bogus", "enter")
        line = app.screen.query_one(CommandLine)
        assert line.is_open, "an unknown command keeps the line open, with the reason beside it"
        await pilot.press("escape")
        assert not line.is_open and app.screen.view == "gpus"


async def test_space_marks_rows_and_the_count_shows() -> None:
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await _with_state(pilot)
        nodes = app.screen.query_one("#nodes", LiveTable)
        await pilot.press("space", "space")
        assert nodes.marked == frozenset({"hydra-ai", "hydra-compute"})
        assert app.screen.query_one("#nodes-pane").border_subtitle == "2 marked"
        await _with_state(pilot, sample_state(seq=41))
        assert nodes.marked == frozenset({"hydra-ai", "hydra-compute"})


async def test_sort_keys_order_the_gpus_by_a_column() -> None:
    app = make_app()
    async with app.run_test(size=(160, 50)) as pilot:
        await _with_state(pilot)
        await pilot.press("g")
        gpus = app.screen.query_one("#gpus", LiveTable)
        for _ in range(9):
            await pilot.press("greater_than_sign")
            if gpus.sort_column == "temp":
                break
        assert gpus.sort_column == "temp"
        temps = [gpus.cells(k)[5][2] for k in gpus.row_keys]
        assert temps == sorted(temps, key=lambda t: (t is None, t))
        await pilot.press("r")
        assert gpus.sort_reverse


async def test_theme_key_cycles_and_is_remembered(tmp_path) -> None:
    from cockpit.prefs import Prefs

    prefs = Prefs(tmp_path / "prefs.json")
    app = CockpitApp(load_cluster(ROOT / "cluster.yaml"), Options(start_engine=False, prefs=prefs))
    async with app.run_test(size=(120, 40)) as pilot:
        first = app.theme
        await pilot.press("t")
        assert app.theme != first
        assert Prefs(tmp_path / "prefs.json").get("theme") == app.theme


async def test_a_submitted_filter_is_remembered_without_the_loop_waiting_for_the_disk(tmp_path) -> None:
    """History is written from a thread: on a busy disk one write took 1.3 s, and the next key
    waited for it."""
    from cockpit.prefs import Prefs

    prefs = Prefs(tmp_path / "prefs.json")
    app = CockpitApp(load_cluster(ROOT / "cluster.yaml"), Options(start_engine=False, prefs=prefs))
    async with app.run_test(size=(120, 40)) as pilot:
        await _with_state(pilot, sample_state())
        await pilot.press("slash", *"hydra", "enter")
        for _ in range(100):
            saved = Prefs(tmp_path / "prefs.json").get("history") or {}
            if "hydra" in saved.get("filter", []):
                break
            await pilot.pause(0.05)
        assert "hydra" in saved.get("filter", []), saved


async def test_palette_lists_views_as_noun_verb() -> None:
    app = make_app()
    titles = [c.title for c in app.palette_commands()]
    assert "view: containers" in titles and "theme: next" in titles
    assert "container: restart the container" in titles and "gpu: set the GPU's power limit" in titles


async def test_keys_from_the_config_rebind_and_unknown_ids_are_named() -> None:
    cluster = load_cluster(ROOT / "cluster.yaml")
    cluster = cluster.model_copy(update={"keys": {"dashboard.containers": "f2", "dashboard.nope": "x"}})
    app = CockpitApp(cluster, Options(start_engine=False))
    async with app.run_test(size=(120, 40)) as pilot:
        await _with_state(pilot)
        await pilot.press("f2")
        assert app.screen.view == "containers"
        assert any("dashboard.nope" in n.message for n in list(app._notifications))


async def test_keys_typed_right_after_slash_land_in_the_prompt_and_slash_is_text_there() -> None:
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await _with_state(pilot)
        for key in ("slash", *"hydra-a", "slash", "x"):  # no pause between keys: one terminal read
            app.post_message(events.Key(key, "/" if key == "slash" else key))
        await pilot.pause()
        line = app.screen.query_one(CommandLine)
        assert line.is_open and line.input.value == "hydra-a/x"


async def test_a_filter_character_and_the_rows_it_leaves_reach_the_screen_in_one_frame() -> None:
    """No frame shows a character in the prompt with the rows of the filter before it: at 16,000
    rows that frame cost a keystroke 1/60 s more before the rows it asked for."""
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await _with_state(pilot)
        nodes = app.screen.query_one("#nodes", LiveTable)
        line = app.screen.query_one(CommandLine)
        pane = app.screen.query_one("#nodes-pane")
        frames: list[tuple[str, str]] = []
        display = app._display

        def recorded(screen, update) -> None:  # type: ignore[no-untyped-def]
            if line.is_open:
                frames.append((line.input.value, str(pane.border_title)))
            display(screen, update)

        app._display = recorded  # type: ignore[method-assign]
        await pilot.press("slash")
        for char in "hydra-a":
            await pilot.press(char)
            await pilot.pause(0.05)  # the screen's next frame is due
        assert frames and {value for value, _ in frames} >= {"hydra", "hydra-a"}
        assert all(title.endswith(f"/{value}") for value, title in frames if value), frames
        line.input.value = "vast"  # set, not typed: applied as it is set, too
        assert nodes.row_keys == ["vast-5090-a", "vast-3070"]


async def test_a_table_filled_after_the_screen_settled_grows_to_its_rows() -> None:
    """Rows that arrive long after mount (a demo whose Prometheus takes seconds to start) must
    still give the node grid its height: the columns' cached heights are refreshed too."""
    app = make_app()
    async with app.run_test(size=(160, 45)) as pilot:
        await pilot.pause(1.0)
        await _with_state(pilot, sample_state(nodes=3))
        await pilot.pause(0.3)
        nodes = app.screen.query_one("#nodes", LiveTable)
        assert nodes.size.height == 4


async def _post_forever(app: CockpitApp) -> None:
    while True:
        app.post_message(StateUpdated(sample_state()))
        await asyncio.sleep(0)


async def test_a_state_that_arrives_while_the_app_shuts_down_is_dropped() -> None:
    """The engine keeps posting while Textual prunes the screens at shutdown: never a traceback."""
    for _ in range(2):
        app = make_app()
        async with app.run_test(size=(120, 40)) as pilot:
            await _with_state(pilot)

            poster = asyncio.create_task(_post_forever(app))
            await pilot.pause()
        poster.cancel()
        assert app.return_code in (None, 0)


async def test_rows_arriving_above_a_cursor_on_the_first_row_keep_it_on_top() -> None:
    """Nodes discovered a few at a time must not scroll the list away from its top; a cursor the
    operator moved down stays on its row."""
    app = make_app()
    full = sample_state()
    later = replace(full, nodes=full.nodes[2:], _index={})
    async with app.run_test(size=(120, 40)) as pilot:
        await _with_state(pilot, later)
        nodes = app.screen.query_one("#nodes", LiveTable)
        assert nodes.cursor_key == later.nodes[0].name
        await _with_state(pilot, full)
        assert nodes.cursor_key == full.nodes[0].name and nodes.cursor == 0
        await _with_state(pilot, later)
        await pilot.press("j")
        moved = nodes.cursor_key
        await _with_state(pilot, full)
        assert nodes.cursor_key == moved and nodes.cursor == 3


async def test_keys_come_first_when_drawing_a_state_is_slow(monkeypatch: pytest.MonkeyPatch) -> None:
    """When drawing a state takes long enough to be felt, one arriving while keys are pressed waits
    until they pause (and never more than a refresh period): the cursor does not queue behind it."""
    from cockpit import app as app_module

    pause = 1.0  # wide, so a loaded machine's slow event loop cannot blur the two cases
    monkeypatch.setattr(app_module, "KEYS_FIRST_S", pause)
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await _with_state(pilot, sample_state(nodes=2))
        nodes = app.dashboard.query_one("#nodes", LiveTable)
        app._draw_s = 1.0  # as if the last state took a second to draw
        await pilot.press("j")
        await _with_state(pilot, sample_state(nodes=6))
        pressed = app._last_key  # when the app saw the key (a loaded machine returns from press late)
        if time.monotonic() - pressed < pause:
            assert len(nodes.row_keys) == 2, "drawn while a key was just pressed"
        while len(nodes.row_keys) != 6:
            assert time.monotonic() - pressed < pause + 5, "never drawn once the keys paused"
            await pilot.pause(0.02)
        assert time.monotonic() - pressed >= pause * 0.9, "drawn before the keys paused"

        app._draw_s = 1.0
        refresh = sample_state(nodes=3).refresh
        await pilot.press("k")
        started = time.monotonic()
        await _with_state(pilot, sample_state(nodes=3))
        while len(nodes.row_keys) != 3:  # keys never pause: drawn after a refresh period anyway
            assert time.monotonic() - started < refresh + 5, "a state waited far past a refresh period"
            await pilot.press("k")
            await pilot.pause(0.05)

        app._draw_s = 0.0  # drawing is cheap: no waiting at all
        await pilot.press("j")
        await _with_state(pilot, sample_state(nodes=5))
        assert len(nodes.row_keys) == 5


async def test_the_collector_runs_after_a_draw_and_never_in_a_key(monkeypatch: pytest.MonkeyPatch) -> None:
    """A middle collection at 16,000 GPUs is 50-150 ms: while the app runs, allocation sets off
    young ones only; the app runs the others after drawing a state, or from a timer once the keys
    pause, and hands the collector back as it was when it exits."""
    import gc

    from cockpit import app as app_module
    from cockpit import collector

    collected: list[tuple[bool, float]] = []
    real = collector.collect_if_due

    def spy(keys_paused: bool = True, now: float | None = None) -> int | None:
        collected.append((keys_paused, time.monotonic()))
        return real(keys_paused, now)

    monkeypatch.setattr(app_module.collector, "collect_if_due", spy)
    app = make_app()
    thresholds = gc.get_threshold()
    async with app.run_test(size=(120, 40)) as pilot:
        assert gc.isenabled() and gc.get_threshold() == (collector.YOUNG, collector._NEVER, collector._NEVER)
        collected.clear()
        await _with_state(pilot, sample_state(nodes=2))
        assert collected, "nothing collected after a draw"
        await pilot.press("j")
        pressed = app._last_key
        collected.clear()
        while not any(paused for paused, _ in collected):
            assert time.monotonic() - pressed < 10, "the timer never collected"
            await pilot.pause(0.1)
        first = next(at for paused, at in collected if paused)
        assert first - pressed >= app_module.KEYS_FIRST_S * 0.9, "collected before the keys paused"
    assert gc.isenabled() and gc.get_threshold() == thresholds, "the collector was not handed back"


async def test_a_view_key_and_a_filter_typed_ahead_filter_that_view() -> None:
    """``g/hy`` arriving in one read (tmux over a slow link): the filter is the GPU table's, not
    the table focused before ``g``; while the prompt is open, view keys are text in it."""
    from textual import events

    app = make_app()
    async with app.run_test(size=(160, 50)) as pilot:
        await _with_state(pilot, sample_state())
        assert app._driver is not None
        for key, char in [("g", "g"), ("slash", "/"), ("h", "h"), ("y", "y"), ("g", "g")]:
            event = events.Key(key, char)
            event.set_sender(app)
            app._driver.send_message(event)  # all queued before the first is handled
        await pilot.pause()
        dashboard = app.dashboard
        assert dashboard._filters == {"gpus": "hyg"}, dashboard._filters
        assert dashboard.query_one("#gpus", LiveTable).filtered
        assert not dashboard.query_one("#nodes", LiveTable).filtered


async def test_a_filter_submitted_and_a_key_typed_ahead_move_the_table() -> None:
    """``/hy``, ``enter``, ``j`` arriving in one read: ``j`` moves the filtered table's cursor; it
    used to land in the closing line, because the line closed a message later than ``enter``."""
    from textual import events

    app = make_app()
    async with app.run_test(size=(160, 50)) as pilot:
        await _with_state(pilot, sample_state())
        assert app._driver is not None
        keys = [("slash", "/"), ("h", "h"), ("y", "y"), ("enter", "\r"), ("j", "j")]
        for key, char in keys:
            event = events.Key(key, char)
            event.set_sender(app)
            app._driver.send_message(event)  # all queued before the first is handled
        await pilot.pause()
        nodes = app.dashboard.query_one("#nodes", LiveTable)
        line = app.dashboard.query_one(CommandLine)
        assert not line.is_open and app.focused is nodes
        assert app.dashboard._filters == {"nodes": "hy"}, app.dashboard._filters
        assert nodes.row_keys == ["hydra-ai", "hydra-compute", "hydra-storage"]
        assert nodes.cursor_key == "hydra-compute", "j moved the cursor"


async def test_keys_typed_ahead_in_one_read_run_in_the_order_typed() -> None:
    """Over a slow link tmux hands several keys over in one read: erasing must come after the
    characters typed before it, and a mark before the move typed after it."""
    from textual import events

    app = make_app()
    async with app.run_test(size=(160, 50)) as pilot:
        await _with_state(pilot, sample_state())
        assert app._driver is not None

        def typed(*keys: tuple[str, str | None]) -> None:
            for key, char in keys:
                event = events.Key(key, char)
                event.set_sender(app)
                app._driver.send_message(event)  # all queued before the first is handled

        typed(("slash", "/"), ("h", "h"), ("x", "x"), ("backspace", None), ("y", "y"))
        await pilot.pause()
        line = app.dashboard.query_one(CommandLine)
        assert line.input.value == "hy"
        await pilot.press("escape")
        nodes = app.dashboard.query_one("#nodes", LiveTable)
        assert app.focused is nodes and not nodes.filtered
        typed(("space", " "), ("j", "j"), ("space", " "))
        await pilot.pause()
        # space marks the row and steps down, j steps again, space marks the third row
        assert nodes.marked == {"hydra-ai", "hydra-storage"}


async def test_enter_on_a_command_word_that_is_none_takes_the_suggestion_shown() -> None:
    """``:cont`` shows ``ainers`` in grey; enter runs ``:containers`` (it said "unknown command")."""
    app = make_app()
    async with app.run_test(size=(160, 50)) as pilot:
        await _with_state(pilot, sample_state())
        await pilot.press("colon", *"cont", "enter")
        await pilot.pause()
        assert app.dashboard.view == "containers"
        assert app.focused is app.dashboard.query_one("#containers", LiveTable)
        await pilot.press("colon", *"zzz", "enter")  # no suggestion: still unknown
        line = app.dashboard.query_one(CommandLine)
        assert line.is_open and "unknown command: zzz" in str(line.query_one("#hint").render())


async def _until(pilot, check) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 10
    while not check():
        assert loop.time() < deadline, "timed out"
        await pilot.pause(0.01)


def _gate_slices(app: CockpitApp, monkeypatch: pytest.MonkeyPatch) -> asyncio.Event:
    """A step a row, a slice a step, and the slices wait for the returned event (as for keys)."""
    from cockpit import sliced
    from screens import dashboard

    gate = asyncio.Event()

    async def between(until: float | None = None) -> None:
        await gate.wait()

    monkeypatch.setattr(sliced, "SLICE_S", 0.0)
    monkeypatch.setattr(dashboard, "SLICE_ROWS", 1)
    monkeypatch.setattr(app, "_keys_first", between)
    return gate


async def test_a_state_drawn_in_slices_lets_keys_through_and_shows_at_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """At 16,000 GPUs a state takes a few hundred milliseconds to draw; drawn in slices, a key
    that arrives meanwhile is handled at once, and the new state appears in one step when the
    draw ends (a small state is drawn in many slices here)."""
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await _with_state(pilot, _with_cpu(sample_state(), 41.0))
        nodes = app.screen.query_one("#nodes", LiveTable)
        assert nodes.cells("hydra-ai")[4][0] == "41%"
        gate = _gate_slices(app, monkeypatch)
        app.post_message(StateUpdated(_with_cpu(sample_state(), 97.0)))
        await _until(pilot, lambda: app._drawing is not None)  # a draw going on in slices
        await pilot.press("j")
        assert nodes.cursor == 1, "the key did not wait for the draw"
        assert nodes.cells("hydra-ai")[4][0] == "41%", "nothing shows before the draw ends"
        gate.set()
        await _until(pilot, lambda: app._drawing is None)
        assert nodes.cells("hydra-ai")[4][:2] == ("97%", "critical")
        assert app.dashboard.state is not None and app.dashboard.state.node("hydra-ai").host.cpu_pct == 97.0
        assert nodes.cursor == 1


async def test_a_draw_in_slices_overtaken_by_a_newer_one_is_dropped(monkeypatch: pytest.MonkeyPatch) -> None:
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await _with_state(pilot, _with_cpu(sample_state(), 41.0))
        nodes = app.screen.query_one("#nodes", LiveTable)
        gate = _gate_slices(app, monkeypatch)
        app.post_message(StateUpdated(_with_cpu(sample_state(), 60.0)))
        await _until(pilot, lambda: app._drawing is not None)
        app.dashboard.show_state(_with_cpu(sample_state(), 80.0))  # drawn at once (a screen resumed)
        assert nodes.cells("hydra-ai")[4][0] == "80%"
        gate.set()
        await _until(pilot, lambda: app._drawing is None)
        assert nodes.cells("hydra-ai")[4][0] == "80%", "the older state must not replace the newer"
