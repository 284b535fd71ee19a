"""A keyed table whose columns are separate widgets, so a changed cell costs only that cell.

Why not ``DataTable``: on textual 8.2.8 ``update_cell`` refreshes the whole widget (about 9.8 KB
per update at 120x40). Why separate column widgets: the compositor writes a partial update from
the start of each widget's span on a line up to the end of the dirty region, so in a one-widget
table a changed cell at the right end resends the whole row. With one widget per column, a changed
cell is resent alone (about 60 bytes). An operator on a slow SSH link through tmux pays for every
byte, and an idle cockpit must cost almost nothing.

The table keeps every row it was given and shows those passing its filter, in its sort order; a
filter or sort change goes through the same diff as a data update, so it repaints only the screen
rows whose contents differ. Marks (``space``) are kept by key while the row exists, for bulk work.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Mapping, Sequence

from rich.segment import Segment
from rich.style import Style
from textual.app import ComposeResult
from textual.binding import Binding
from textual.events import Click, MouseScrollDown, MouseScrollUp, Resize
from textual.message import Message
from textual.reactive import reactive
from textual.strip import Strip
from textual.widget import Widget

from widgets.column_view import ColumnView
from widgets.row_set import Loading, Predicate, RowSet
from widgets.table_model import CLASSES, SORT_ARROWS, Cell, Column, Row, fit, header_text

_NO_ROW = object()
"""Past the last row shown."""
STRIPS_KEPT = 4096
"""Distinct cells whose strips are kept (a few screens' worth at 160x50)."""


class LiveTable(Widget, can_focus=True):
    """Rows by key; :meth:`reconcile` takes the full desired contents and repaints the difference."""

    DEFAULT_CSS = """
    LiveTable { layout: horizontal; height: 1fr; overflow: hidden hidden; }
    LiveTable > .live-table--header { text-style: bold; color: $text-muted; }
    LiveTable > .live-table--cursor {
        color: $block-cursor-blurred-foreground; background: $block-cursor-blurred-background;
    }
    LiveTable:focus > .live-table--cursor {
        color: $block-cursor-foreground; background: $block-cursor-background;
    }
    LiveTable > .live-table--ok { color: $success; }
    LiveTable > .live-table--warning { color: $warning; }
    LiveTable > .live-table--critical { color: $error; text-style: bold; }
    LiveTable > .live-table--muted { color: $text-muted; }
    LiveTable > .live-table--stale { color: $stale; }
    LiveTable > .live-table--down { color: $node-down; text-style: bold; }
    LiveTable > .live-table--info { color: $accent; }
    LiveTable > .live-table--marked { background: $panel; text-style: bold underline; }
    """
    COMPONENT_CLASSES = {"live-table--header", "live-table--cursor", "live-table--marked"} | {
        f"live-table--{name}" for name in CLASSES if name
    }
    # Priority, all of them: a plain binding runs only after the key has gone down to the table
    # and bubbled back up to the app, a queue hop per widget between them (~20 ms with a state
    # being drawn between keys); and a mix of the two kinds would not run in the order typed
    # (``space`` then ``j`` in one read marked the row ``j`` moved to). The table holds focus
    # only when no prompt or modal does.
    BINDINGS = [
        Binding("up,k", "cursor(-1)", "Up", show=False, priority=True),
        Binding("down,j", "cursor(1)", "Down", show=False, priority=True),
        Binding("pageup", "page(-1)", "Page up", show=False, priority=True),
        Binding("pagedown", "page(1)", "Page down", show=False, priority=True),
        Binding("home", "jump(0)", "First", show=False, priority=True),
        Binding("end", "jump(-1)", "Last", show=False, priority=True),
        Binding("enter", "select", "Open", show=False, priority=True),
        Binding("space", "toggle_mark", "Mark row", show=False, id="table.mark", priority=True),
        Binding(
            "less_than_sign",
            "sort(-1)",
            "Sort by previous column",
            show=False,
            id="table.sort_prev",
            priority=True,
        ),
        Binding(
            "greater_than_sign",
            "sort(1)",
            "Sort by next column",
            show=False,
            id="table.sort_next",
            priority=True,
        ),
        Binding("r", "reverse_sort", "Reverse sort", show=False, id="table.sort_reverse", priority=True),
        Binding("escape", "clear", "Clear filter and marks", show=False, id="table.clear", priority=True),
    ]

    cursor: reactive[int] = reactive(0, repaint=False)
    """Index of the highlighted row."""
    top: reactive[int] = reactive(0, repaint=False)
    """Index of the first visible row."""

    class RowHighlighted(Message):
        def __init__(self, table: LiveTable, key: Hashable | None) -> None:
            super().__init__()
            self.table = table
            self.key = key

        @property
        def control(self) -> LiveTable:
            return self.table

    class RowSelected(RowHighlighted):
        pass

    class MarksChanged(Message):
        """The marked rows changed (by a key, or because a marked row went away)."""

        def __init__(self, table: LiveTable, marked: frozenset[Hashable]) -> None:
            super().__init__()
            self.table = table
            self.marked = marked

        @property
        def control(self) -> LiveTable:
            return self.table

    class Cleared(Message):
        """``esc`` cleared this table's filter and marks: the screen should clear its filter line."""

        def __init__(self, table: LiveTable) -> None:
            super().__init__()
            self.table = table

        @property
        def control(self) -> LiveTable:
            return self.table

    def __init__(self, columns: Sequence[Column], *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._columns = tuple(columns)
        self._rows = RowSet(self._columns)
        """Every row given, with the filter, sort and marks."""
        self._keys: list[Hashable] = []
        """The rows shown, in order."""
        self._cells: Mapping[Hashable, tuple[Cell, ...]] = {}
        """Every row's cells as shown (deadbands keep an old value here): the rows' ``display``."""
        self._key_rows: dict[Hashable, int] | None = None
        """Each shown key's row, built when first needed after the rows last came, went or moved."""
        self._styles: dict[str, Style] = {}
        self._strips: dict[tuple[str, Style, int, str], Strip] = {}
        """One strip per distinct cell drawn: Textual keeps what it derives from a strip (its
        colours filtered, cropped, divided at the column's edge) in the strip itself, so a cell
        drawn again, as a filter keystroke shows rows shown a moment ago, costs a lookup."""
        self._views: list[ColumnView] = []
        self.repaints = 0
        """Cells refreshed since start; tests and benchmarks read it."""

    def compose(self) -> ComposeResult:
        self._views = [ColumnView(self, i, column) for i, column in enumerate(self._columns)]
        yield from self._views

    # -- data -------------------------------------------------------------------------------
    @property
    def row_keys(self) -> list[Hashable]:
        return list(self._keys)

    @property
    def row_count(self) -> int:
        """The rows shown (after the filter), without copying 16,000 keys to count them."""
        return len(self._keys)

    @property
    def cursor_key(self) -> Hashable | None:
        return self._keys[self.cursor] if 0 <= self.cursor < len(self._keys) else None

    @property
    def total_rows(self) -> int:
        """Rows given, including those the filter hides."""
        return len(self._rows.rows)

    @property
    def visible_rows(self) -> int:
        return max(1, self.size.height - 1)

    def cells(self, key: Hashable) -> tuple[Cell, ...]:
        return self._cells[key] if key in self._cells else self._rows.cells(key)

    def reconcile(self, rows: Iterable[Row | tuple[Hashable, tuple[Cell, ...]]]) -> None:
        """Make the table show ``rows`` (filtered, and in this order unless sorted), repainting
        only what differs. A row is ``(key, cells)`` or a :class:`Row` with filter fields."""
        loading = self.start_load()
        for row in rows:
            loading.feed(row)
        self.take(loading)

    def start_load(self) -> Loading:
        """:meth:`reconcile` in steps: feed the rows (between keys), then :meth:`take` them.
        (Not ``loading``: that is Textual's reactive for a widget's loading indicator.)"""
        return self._rows.start_load()

    def take(self, loading: Loading) -> None:
        """Show the rows ``loading`` was fed, as :meth:`reconcile` does."""
        if loading.take():
            self.post_message(self.MarksChanged(self, self.marked))
        self._show()

    def _show(self) -> None:
        keys, cells, before = self._rows.shown()
        self._cells = cells
        if keys != self._keys:
            self._replace_rows(keys, before)
            return
        if not before:
            return
        if len(before) > 64 and self._key_rows is None:  # many lookups: one index for all of them
            self._key_rows = {key: row for row, key in enumerate(self._keys)}
        visible = self.visible_rows
        for key, old in before.items():
            row = self._row_of(key)
            if row is None:
                continue
            new = cells[key]
            if old is None or len(old) != len(new):
                self._refresh_row(row)
                continue
            y = row - self.top + 1
            if not 1 <= y <= visible:
                continue
            for view in self._views:
                if view.display and old[view.index][:2] != new[view.index][:2]:
                    self.repaints += 1
                    view.refresh_row(y)

    def _row_of(self, key: Hashable) -> int | None:
        """Where ``key`` is shown, or None (filtered out, or gone)."""
        if self._key_rows is not None:
            return self._key_rows.get(key)
        return self._rows.index_of(self._keys, key)

    def _replace_rows(self, keys: list[Hashable], before: Mapping[Hashable, tuple[Cell, ...] | None]) -> None:
        """Rows came, went or moved: repaint only the screen rows whose contents differ, and
        ask for a new layout only when the row count (the table's height) changed."""
        current = self.cursor_key
        old_keys, cells = self._keys, self._cells
        self._keys = keys
        self._key_rows = None
        if len(keys) != len(old_keys) and self._sized_by_rows():
            # The columns' content heights are cached by Textual: each must be told, or a table
            # filled while idle keeps the height it had with no rows.
            for view in self._views:
                view.refresh(layout=True)
            self.refresh(layout=True)
        marks = self._rows.marks
        differ = []
        for row in range(self.top, self.top + self.visible_rows):
            old_key = old_keys[row] if row < len(old_keys) else _NO_ROW
            key = keys[row] if row < len(keys) else _NO_ROW
            if old_key is _NO_ROW and key is _NO_ROW:
                continue
            shown = before[old_key] if old_key in before else cells.get(old_key)
            after = cells.get(key)
            if (
                shown is None
                or after is None
                or [c[:2] for c in shown] != [c[:2] for c in after]
                or (old_key in marks) != (key in marks)
            ):
                differ.append(row)
        self.repaints += len(differ)
        if len(differ) * 2 > self.visible_rows:  # one refresh a column, not one a cell
            for view in self._views:
                view.refresh()
        else:
            for row in differ:
                self._refresh_row(row, force=True)
        shown_at = self._row_of(current) if current is not None else None
        if shown_at is not None and self.cursor > 0:
            self.cursor = shown_at
        elif shown_at is not None:
            # On the first row the cursor stays on the first row: rows arriving above it (nodes
            # discovered, a new critical alert) show at the top instead of pushing the view down.
            self.cursor = 0
        else:
            self.cursor = min(self.cursor, max(0, len(keys) - 1))
        # A filter can leave fewer rows than the scroll offset: bring them back into view.
        self._keep_cursor_visible()

    def _sized_by_rows(self) -> bool:
        """Only a table whose height follows its rows needs a new layout when rows come or go;
        a layout pass repaints far more than the rows themselves."""
        height = self.styles.height
        return height is None or height.is_auto

    def _refresh_row(self, row: int, force: bool = False) -> None:
        y = row - self.top + 1
        if force or 1 <= y <= self.visible_rows:
            for view in self._views:
                view.refresh_row(y)

    # -- layout and drawing -----------------------------------------------------------------
    def on_resize(self, event: Resize) -> None:
        self._fit_columns(event.size.width)
        self._keep_cursor_visible()

    def on_mount(self) -> None:
        self._fit_columns(self.size.width)

    def _fit_columns(self, width: int) -> None:
        """Show the columns that fit, most important first; the flex column takes the rest."""
        if not self._views or width <= 0:
            return
        used = 0
        shown: set[int] = set()
        for view in sorted(self._views, key=lambda v: v.column.priority):
            need = view.column.width + 1
            if used + need <= width:
                shown.add(view.index)
                used += need
        spare = width - used
        for view in self._views:
            view.display = view.index in shown
            extra = spare if view.column.flex and view.display else 0
            view.styles.width = view.column.width + 1 + extra

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._styles.clear()  # the strips kept are by style: new colours find none of them
        for view in self._views:
            view.refresh()

    def _style(self, name: str) -> Style:
        style = self._styles.get(name)
        if style is None:
            # Cell colours are partial (keep the row's background); the cursor is a full style.
            if name == "cursor":
                style = self.get_component_rich_style("live-table--cursor")
            else:
                style = self._partial_style(name)
            self._styles[name] = style
        return style

    def _partial_style(self, name: str) -> Style:
        """A component's colour resolved onto the table's background. A partial Rich style has
        no alpha and no "auto": ``$text-muted`` ("auto 60%") would become plain white, glaring
        on a dark theme and invisible on a light one."""
        styles = self.get_component_styles(f"live-table--{name}")
        style = styles.partial_rich_style
        if styles.has_rule("color"):
            background = self.background_colors[1]
            color = background.get_contrast_text(styles.color.a) if styles.auto_color else styles.color
            style += Style(color=(background + color).rich_color)
        return style

    def _base_style(self) -> Style:
        """The table's own style, kept like the component styles: ``Widget.rich_style`` walks every
        ancestor, and it was asked once per cell drawn (a third of a cursor move's time)."""
        style = self._styles.get("")
        if style is None:
            style = self._styles[""] = self.rich_style
        return style

    def render_cell_line(self, view: ColumnView, y: int) -> Strip:
        width = view.size.width
        base = self._base_style()
        if y == 0:
            arrow = SORT_ARROWS[self._rows.reverse] if view.index == self._rows.sort_index else ""
            text = header_text(view.column, arrow) + " "
            return Strip([Segment(text, base + self._style("header"))]).adjust_cell_length(width, base)
        row = self.top + y - 1
        if row >= len(self._keys):
            return Strip.blank(width, base)
        key = self._keys[row]
        cell = self._cells[key]
        text, cls = cell[view.index][:2] if view.index < len(cell) else ("", "")
        style = base + self._style("marked") if key in self._rows.marks else base
        if row == self.cursor:
            style = style + self._style("cursor")
        if cls:
            # After the cursor, so a hot GPU stays red on the highlighted row.
            style = style + self._style(cls)
        found = (text, style, width, view.column.align)
        strip = self._strips.get(found)
        if strip is None:
            if len(self._strips) > STRIPS_KEPT:
                self._strips.clear()
            body = fit(text, width - 1, view.column.align) + " "
            strip = self._strips[found] = Strip([Segment(body, style)], width)
        return strip

    # -- cursor and scrolling ---------------------------------------------------------------
    def on_focus(self) -> None:
        self._styles.pop("cursor", None)
        self._styles.pop("", None)
        self._refresh_row(self.cursor)

    def on_blur(self) -> None:
        self._styles.pop("cursor", None)
        self._styles.pop("", None)
        self._refresh_row(self.cursor)

    def _keep_cursor_visible(self) -> None:
        if self.cursor < self.top:
            self.top = self.cursor
        elif self.cursor >= self.top + self.visible_rows:
            self.top = self.cursor - self.visible_rows + 1
        self.top = max(0, min(self.top, max(0, len(self._keys) - self.visible_rows)))

    def watch_cursor(self, old: int, new: int) -> None:
        self._refresh_row(old)
        self._refresh_row(new)
        self._keep_cursor_visible()
        self.post_message(self.RowHighlighted(self, self.cursor_key))

    def watch_top(self) -> None:
        for view in self._views:
            view.refresh()

    def validate_cursor(self, value: int) -> int:
        return max(0, min(value, len(self._keys) - 1)) if self._keys else 0

    def action_cursor(self, step: int) -> None:
        self.cursor += step

    def action_page(self, step: int) -> None:
        self.cursor += step * max(1, self.visible_rows - 1)

    def action_jump(self, where: int) -> None:
        self.cursor = 0 if where == 0 else len(self._keys) - 1

    def action_select(self) -> None:
        self.post_message(self.RowSelected(self, self.cursor_key))

    def move_to(self, key: Hashable) -> None:
        row = self._row_of(key)
        if row is not None:
            self.cursor = row

    def on_click(self, event: Click) -> None:
        row = self.top + event.y - 1
        if event.y >= 1 and 0 <= row < len(self._keys):
            self.cursor = row

    def on_mouse_scroll_down(self, event: MouseScrollDown) -> None:
        self.top = min(self.top + 3, max(0, len(self._keys) - self.visible_rows))

    def on_mouse_scroll_up(self, event: MouseScrollUp) -> None:
        self.top = max(0, self.top - 3)

    # -- filter, sort and marks -------------------------------------------------------------
    @property
    def filtered(self) -> bool:
        return self._rows.predicate is not None

    @property
    def sort_column(self) -> str | None:
        return self._rows.sort_column

    @property
    def sort_reverse(self) -> bool:
        return self._rows.reverse

    @property
    def marked(self) -> frozenset[Hashable]:
        """Marked rows that still exist, shown or hidden by the filter (a bulk action should
        say how many it will touch)."""
        return frozenset(self._rows.marks)

    def set_filter(self, predicate: Predicate | None) -> None:
        """Show only rows for which ``predicate(fields, text)`` holds (None shows all)."""
        filtered = self.filtered
        self._rows.predicate = predicate
        self._show()
        if self.filtered != filtered:
            # Only then does ``esc`` change meaning; refreshing the bindings rebuilds the footer
            # (its ~20 key widgets, mounted anew): a third of a filter keystroke at 16,000 rows.
            self.refresh_bindings()

    def sort_by(self, column: str | None, reverse: bool = False) -> None:
        """Order rows by ``column``'s values (None: the order given), blanks last."""
        index = None if column is None else self._rows.column_index(column)
        headers = {self._rows.sort_index, index}
        self._rows.sort_index, self._rows.reverse = index, reverse
        for view in self._views:
            if view.index in headers:
                view.refresh_row(0)
        self._show()
        self.refresh_bindings()

    def set_mark(self, key: Hashable, marked: bool = True) -> None:
        marks = self._rows.marks
        if key not in self._rows.rows or (key in marks) == marked:
            return
        if marked:
            marks.add(key)
        else:
            marks.discard(key)
        row = self._row_of(key)
        if row is not None:
            self._refresh_row(row)
        self.post_message(self.MarksChanged(self, self.marked))
        self.refresh_bindings()

    def clear_marks(self) -> None:
        marks = self._rows.marks
        if not marks:
            return
        shown = [row for row, key in enumerate(self._keys) if key in marks]
        marks.clear()
        for row in shown:
            self._refresh_row(row)
        self.post_message(self.MarksChanged(self, self.marked))
        self.refresh_bindings()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """``esc`` passes on to the screen when there is nothing to clear; ``r`` needs a sort."""
        if action == "clear":
            return self.filtered or bool(self._rows.marks)
        if action == "reverse_sort":
            return self._rows.sort_index is not None
        return True

    def action_toggle_mark(self) -> None:
        """Mark or unmark the cursor row, then step down so a run of rows is a run of spaces."""
        key = self.cursor_key
        if key is None:
            return
        self.set_mark(key, key not in self._rows.marks)
        self.cursor += 1

    def action_sort(self, step: int) -> None:
        """Move the sort to the previous/next shown column; past either end, the order given."""
        choices: list[str | None] = [None, *(v.column.key for v in self._views if v.display)]
        current = self.sort_column if self.sort_column in choices else None
        self.sort_by(choices[(choices.index(current) + step) % len(choices)], self.sort_reverse)

    def action_reverse_sort(self) -> None:
        self.sort_by(self.sort_column, not self.sort_reverse)

    def action_clear(self) -> None:
        self.clear_marks()
        if self.filtered:
            self.set_filter(None)
        self.post_message(self.Cleared(self))
