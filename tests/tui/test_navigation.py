"""Pilot tests of k9s-style navigation on a small app: the ``/`` filter, ``:`` commands, sort keys,
marks, ``esc``, and the command palette, wired the way the dashboard is meant to wire them."""

from __future__ import annotations

from collections.abc import Hashable

from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.command import CommandList
from textual.widgets import Input, Label

from screens.palette import PaletteCommand, palette_provider, view_commands
from tests.states import sample_state
from themes import DEFAULT_THEME, THEMES
from widgets.column_view import ColumnView
from widgets.command_line import CommandLine
from widgets.live_table import LiveTable
from widgets.rows import NODE_COLUMNS, node_rows
from widgets.table_model import Column, Row

ALL = ["hydra-ai", "hydra-compute", "hydra-storage", "vast-5090-a", "vast-3070", "lambda-h100"]


def rows_for(nodes: int = 6) -> list[Row]:
    """Node rows as the dashboard builds them, fields (tags, hottest temperature) included."""
    return node_rows(sample_state(nodes=nodes))


class NavApp(App[None]):
    """The wiring the dashboard needs: ``:``/``/`` open the line, its messages reach the table."""

    BINDINGS = [
        Binding("colon", "open('command')", "Command"),
        Binding("slash", "open('filter')", "Filter"),
        Binding("q", "quit", "Quit"),
    ]

    def __init__(self, table: LiveTable | None = None, rows: list[Row] | None = None) -> None:
        super().__init__()
        for theme in THEMES:
            self.register_theme(theme)
        self.theme = DEFAULT_THEME
        self.table = table or LiveTable(NODE_COLUMNS, id="table")
        self.first_rows = rows if rows is not None else rows_for()
        self.filter_text = ""
        self.submitted: list[tuple[str, str]] = []
        self.cancelled: list[str] = []
        self.marks_seen: list[frozenset[Hashable]] = []
        self.cleared = 0

    def compose(self) -> ComposeResult:
        yield self.table
        yield CommandLine(id="line")

    def on_mount(self) -> None:
        self.table.reconcile(self.first_rows)
        self.table.focus()

    @property
    def line(self) -> CommandLine:
        return self.query_one(CommandLine)

    def action_open(self, kind: str) -> None:
        self.line.open(kind, self.filter_text if kind == "filter" else "")  # type: ignore[arg-type]

    def on_command_line_filter_changed(self, event: CommandLine.FilterChanged) -> None:
        self.filter_text = event.text
        self.table.set_filter(None if event.query.is_empty else event.query.matches)

    def on_command_line_submitted(self, event: CommandLine.Submitted) -> None:
        self.submitted.append((event.kind, event.text))

    def on_command_line_cancelled(self, event: CommandLine.Cancelled) -> None:
        self.cancelled.append(event.kind)

    def on_live_table_marks_changed(self, event: LiveTable.MarksChanged) -> None:
        self.marks_seen.append(event.marked)

    def on_live_table_cleared(self, event: LiveTable.Cleared) -> None:
        self.filter_text = ""
        self.cleared += 1


async def _filter(pilot, text: str, submit: bool = True) -> None:
    await pilot.press("slash", *text)
    if submit:
        await pilot.press("enter")
    await pilot.pause()


def _header(table: LiveTable) -> str:
    return "".join(table.render_cell_line(view, 0).text for view in table.query(ColumnView) if view.display)


async def test_filter_narrows_as_typed_and_esc_on_the_table_clears_it() -> None:
    app = NavApp()
    async with app.run_test(size=(120, 30)) as pilot:
        table = app.table
        await pilot.press("j")
        assert table.cursor_key == "hydra-compute"
        await pilot.press("slash", *"hyd")
        assert app.line.is_open and app.focused is app.line.input
        assert table.row_keys == ["hydra-ai", "hydra-compute", "hydra-storage"], "live, before enter"
        assert table.cursor_key == "hydra-compute", "the cursor stays on its row"
        await pilot.press("enter")
        assert not app.line.is_open and app.focused is table
        assert app.submitted == [("filter", "hyd")]
        assert table.filtered and table.total_rows == 6
        await pilot.press("escape")
        assert table.row_keys == ALL
        assert app.cleared == 1 and app.filter_text == ""
        await pilot.press("escape")
        assert app.cleared == 1, "nothing to clear: esc passes on"


async def test_invert_and_field_predicates() -> None:
    app = NavApp()
    async with app.run_test(size=(120, 30)) as pilot:
        table = app.table
        await _filter(pilot, "!hydra")
        assert table.row_keys == ["vast-5090-a", "vast-3070", "lambda-h100"]
        await pilot.press("escape")
        await _filter(pilot, "temp>70")
        assert table.row_keys == ["hydra-ai", "vast-5090-a"]
        await pilot.press("escape")
        await _filter(pilot, "status:down")
        assert table.row_keys == ["vast-3070"]
        await pilot.press("escape")
        await _filter(pilot, "tag:inference !compute")
        assert table.row_keys == ["hydra-ai"]


async def test_a_half_typed_word_is_left_out_and_named() -> None:
    app = NavApp()
    async with app.run_test(size=(120, 30)) as pilot:
        await _filter(pilot, "vast !", submit=False)
        assert app.table.row_keys == ["vast-5090-a", "vast-3070"]
        assert "!: nothing to invert" in str(app.line.query_one("#hint", Label).content)
        assert app.line.input.has_class("-invalid")
        await pilot.press("enter")
        assert app.line.is_open, "enter on a bad filter keeps the line open"
        await pilot.press(*"3070", "enter")
        assert app.table.row_keys == ["vast-5090-a"]
        assert not app.line.is_open
        # What the operator typed is shown as typed, never read as markup.
        await pilot.press("slash", *" temp>[/x]")
        assert str(app.line.query_one("#hint", Label).content) == "temp>[/x]: '[/x]' is not a number"


async def test_esc_in_the_prompt_restores_the_filter_it_opened_with() -> None:
    app = NavApp()
    async with app.run_test(size=(120, 30)) as pilot:
        await _filter(pilot, "hydra")
        await pilot.press("slash")
        assert app.line.input.value == "hydra", "the prompt edits the current filter"
        await pilot.press("backspace", "backspace", "backspace", "backspace", "backspace", "vast"[0])
        assert app.table.row_keys == ["vast-5090-a", "vast-3070"]
        await pilot.press("escape")
        assert app.table.row_keys == ["hydra-ai", "hydra-compute", "hydra-storage"]
        assert app.cancelled == ["filter"] and app.focused is app.table


async def test_sort_keys_choose_the_column_reverse_and_show_an_arrow() -> None:
    app = NavApp()
    async with app.run_test(size=(120, 30)) as pilot:
        table = app.table
        await pilot.press("r")
        assert table.sort_column is None, "r does nothing without a sort column"
        await pilot.press("greater_than_sign")
        assert table.sort_column == "node"
        assert table.row_keys == sorted(ALL)
        assert "NODE▲" in _header(table)
        await pilot.press("r")
        assert table.row_keys == sorted(ALL, reverse=True)
        assert "NODE▼" in _header(table)
        await pilot.press("less_than_sign")
        assert table.sort_column is None and table.row_keys == ALL, "before the first column: as given"
        assert "▲" not in _header(table) and "▼" not in _header(table)
        table.sort_by("hot", reverse=True)
        await pilot.pause()
        # Hottest first; nodes with no GPU temperature last, in their given order.
        assert table.row_keys == [
            "hydra-ai",
            "vast-5090-a",
            "hydra-compute",
            "lambda-h100",
            "hydra-storage",
            "vast-3070",
        ]
        table.sort_by("hot")
        await pilot.pause()
        assert table.row_keys == [
            "lambda-h100",
            "hydra-compute",
            "vast-5090-a",
            "hydra-ai",
            "hydra-storage",
            "vast-3070",
        ]


async def test_marks_toggle_survive_updates_and_leave_with_their_row() -> None:
    app = NavApp()
    async with app.run_test(size=(120, 30)) as pilot:
        table = app.table
        await pilot.press("space", "space")
        assert table.marked == {"hydra-ai", "hydra-compute"}
        assert table.cursor_key == "hydra-storage", "space steps down"
        await pilot.press("k", "space")
        assert table.marked == {"hydra-ai"}
        assert table.cursor_key == "hydra-storage"
        await pilot.press("space")
        table.reconcile(rows_for())
        await pilot.pause()
        assert table.marked == {"hydra-ai", "hydra-storage"}
        table.reconcile(rows_for(nodes=2))
        await pilot.pause()
        assert table.marked == {"hydra-ai"}
        assert app.marks_seen[-1] == {"hydra-ai"}
        # Marks stay on rows the filter hides: the count a bulk action shows includes them.
        await _filter(pilot, "compute")
        assert table.marked == {"hydra-ai"}
        await pilot.press("escape")
        assert table.marked == frozenset() and not table.filtered
        assert app.marks_seen[-1] == frozenset()


async def test_marked_rows_are_drawn_differently() -> None:
    app = NavApp()
    async with app.run_test(size=(120, 30)) as pilot:
        table = app.table
        view = table.query(ColumnView).first()
        plain = next(iter(table.render_cell_line(view, 3))).style
        table.set_mark("hydra-storage")
        await pilot.pause()
        marked = next(iter(table.render_cell_line(view, 3))).style
        assert marked is not None and plain is not None
        assert marked.bgcolor != plain.bgcolor and marked.bold and marked.underline


async def test_filter_sort_and_marks_keep_repaints_to_what_changed() -> None:
    app = NavApp()
    async with app.run_test(size=(120, 30)) as pilot:
        table = app.table
        await _filter(pilot, "!3070")
        before = table.repaints
        table.reconcile(rows_for())
        await pilot.pause()
        assert table.repaints == before, "same data under a filter: nothing to repaint"
        await pilot.press("escape")
        # vast-3070 comes back at row 4: rows 4 and 5 change, rows 0-3 do not.
        assert table.repaints == before + 2
        table.sort_by("node")
        table.reconcile(rows_for())
        before = table.repaints
        table.reconcile(rows_for())
        await pilot.pause()
        assert table.repaints == before, "same data, sorted: nothing to repaint"


async def test_a_cursor_move_repaints_two_rows_not_the_table() -> None:
    """Textual repaints a whole widget when a reactive changes unless told not to: every cursor
    move resent every column of every visible row (7.5 KB at 160x50 instead of 1 KB)."""
    app = NavApp()
    async with app.run_test(size=(120, 30)) as pilot:
        table = app.table
        await pilot.pause()
        asked: list[tuple[object, tuple[object, ...]]] = []
        for widget in (table, *table.query(ColumnView)):

            def spy(*regions, _widget=widget, _refresh=widget.refresh, **kwargs):  # type: ignore[no-untyped-def]
                asked.append((_widget, regions))
                return _refresh(*regions, **kwargs)

            widget.refresh = spy  # type: ignore[method-assign]
        await pilot.press("j")
        assert table.cursor == 1
        assert asked, "the two rows must be repainted"
        assert all(regions for _, regions in asked), f"a whole-widget repaint: {asked}"
        rows = {region.y for _, regions in asked for region in regions}  # type: ignore[attr-defined]
        assert rows == {1, 2}, "the rows below the header that the cursor left and entered"


async def test_moving_and_erasing_keys_run_as_they_arrive_not_after_a_round_trip() -> None:
    """A plain binding runs only after the key went down to the focused widget and bubbled back
    up to the app, a queue hop per widget: with a state being drawn between keys, ~20 ms more.
    The table's moves and the prompt's erase are priority bindings: the app sees the key once."""
    from textual import events

    class CountingApp(NavApp):
        seen: list[str] = []

        async def on_event(self, event: events.Event) -> None:
            if isinstance(event, events.Key):
                self.seen.append(event.key)
            await super().on_event(event)

    app = CountingApp()
    async with app.run_test(size=(120, 30)) as pilot:
        await pilot.press("j", "pagedown", "home")
        assert app.table.cursor == 0 and app.seen == ["j", "pagedown", "home"]
        await pilot.press("slash", "x", "y")
        app.seen.clear()
        await pilot.press("backspace")
        assert app.line.input.value == "x"
        assert app.seen == ["backspace"]


async def test_a_cell_drawn_again_is_the_same_strip_until_the_theme_changes() -> None:
    """Textual keeps what it derives from a strip inside the strip: a filter keystroke that shows
    rows shown a moment ago reuses them. The cursor's row is another strip, and a new theme
    (new colours) starts over."""
    app = NavApp()
    async with app.run_test(size=(120, 30)) as pilot:
        table = app.table
        view = next(v for v in table.query(ColumnView) if v.index == 0)
        first = table.render_cell_line(view, 2)
        assert table.render_cell_line(view, 2) is first
        assert table.render_cell_line(view, 1) is not first  # the cursor's row
        await _filter(pilot, "3070")
        await pilot.press("escape")
        assert table.render_cell_line(view, 2) is first, "shown again after a filter"
        app.theme = next(t.name for t in THEMES if t.name != DEFAULT_THEME)
        await pilot.pause()
        assert table.render_cell_line(view, 2) is not first


async def test_filter_brings_rows_back_into_view_after_scrolling() -> None:
    columns = (Column("name", "NAME", 10), Column("n", "N", 4, align="right"))
    rows = [Row(f"row{i:02}", ((f"row{i:02}", ""), (str(i), "", float(i)))) for i in range(40)]
    app = NavApp(LiveTable(columns, id="table"), rows)
    async with app.run_test(size=(60, 12)) as pilot:
        table = app.table
        await pilot.press("end")
        assert table.top > 0
        await _filter(pilot, "n<3")
        assert table.row_keys == ["row00", "row01", "row02"]
        assert table.top == 0 and table.cursor_key == "row00"


async def test_command_line_completes_submits_and_remembers() -> None:
    app = NavApp()
    async with app.run_test(size=(120, 30)) as pilot:
        await pilot.press("colon", "c", "o")
        await pilot.pause()
        await pilot.press("tab")
        assert app.line.input.value == "containers"
        await pilot.press("enter")
        assert app.submitted == [("command", "containers")]
        assert not app.line.is_open and app.focused is app.table
        await pilot.press("colon", *"no", "enter")
        assert app.submitted[-1] == ("command", "no")
        await pilot.press("colon", "up")
        assert app.line.input.value == "no"
        await pilot.press("up")
        assert app.line.input.value == "containers"
        await pilot.press("down", "down")
        assert app.line.input.value == "", "past the newest: back to what was typed"
        # History completes too: "c" now suggests the last command starting with it.
        await pilot.press("c")
        await pilot.pause()
        await pilot.press("tab")
        assert app.line.input.value == "containers"
        await pilot.press("escape")
        assert app.cancelled == ["command"] and app.line.histories["command"].entries == ["containers", "no"]


async def test_unknown_command_stays_open_and_typing_q_does_not_quit() -> None:
    app = NavApp()
    async with app.run_test(size=(120, 30)) as pilot:
        await pilot.press("colon", *"bogus", "enter")
        assert app.line.is_open and app.submitted == []
        assert "unknown command: bogus" in str(app.line.query_one("#hint", Label).content)
        assert app.line.input.has_class("-invalid")
        await pilot.press("ctrl+u", "q", "enter")
        assert app.submitted == [("command", "q")], "the screen decides what :q does"
        assert app.is_running


async def test_history_is_loaded_and_kept_per_kind() -> None:
    line = CommandLine({"command": ["gpus"], "filter": ["hydra"]})

    class Host(NavApp):
        def compose(self) -> ComposeResult:
            yield self.table
            yield line

    app = Host()
    async with app.run_test(size=(120, 30)) as pilot:
        await pilot.press("slash", "up")
        assert line.query_one(Input).value == "hydra"
        assert app.table.row_keys == ["hydra-ai", "hydra-compute", "hydra-storage"]
        await pilot.press("escape", "colon", "up")
        assert line.query_one(Input).value == "gpus"


async def test_palette_lists_views_and_commands_as_noun_verb() -> None:
    class PaletteApp(NavApp):
        """Registered per instance, as the cockpit app will: the entries call its own methods."""

        def __init__(self) -> None:
            super().__init__()
            self.ran: list[str] = []
            self.COMMANDS = App.COMMANDS | {palette_provider(self.palette_commands)}

        def palette_commands(self) -> list[PaletteCommand]:
            return [
                *view_commands(["nodes", "gpus", "alerts"], lambda name: self.ran.append(f"view {name}")),
                PaletteCommand("theme", "next", lambda: self.ran.append("theme next")),
            ]

    app = PaletteApp()
    async with app.run_test(size=(120, 30)) as pilot:
        await pilot.press("ctrl+p", *"view")
        await pilot.pause(0.3)
        options = app.screen.query_one(CommandList)
        titles = [
            str(options.get_option_at_index(i).prompt).splitlines()[0] for i in range(options.option_count)
        ]
        assert {"view: nodes", "view: gpus", "view: alerts"} <= set(titles)
        assert "theme: next" not in titles
        await pilot.press("ctrl+u", *"theme: next")
        await pilot.pause(0.3)
        await pilot.press("enter")
        await pilot.pause()
        assert app.ran == ["theme next"]
