"""A keyed table whose columns are separate widgets, so a changed cell costs only that cell.

Why not ``DataTable``: on textual 8.2.8 ``update_cell`` refreshes the whole widget (about 9.8 KB
per update at 120x40). Why separate column widgets: the compositor writes a partial update from
the start of each widget's span on a line up to the end of the dirty region, so in a one-widget
table a changed cell at the right end resends the whole row. With one widget per column, a changed
cell is resent alone (about 60 bytes). An operator on a slow SSH link through tmux pays for every
byte, and an idle cockpit must cost almost nothing.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence

from rich.segment import Segment
from rich.style import Style
from textual.app import ComposeResult
from textual.binding import Binding
from textual.events import Click, MouseScrollDown, MouseScrollUp, Resize
from textual.geometry import Region
from textual.message import Message
from textual.reactive import reactive
from textual.strip import Strip
from textual.widget import Widget

from cockpit.sanitize import clean
from widgets.table_model import CLASSES, Cell, Column, fit, within_deadband


class ColumnView(Widget):
    """One column of a :class:`LiveTable`; draws its header and the visible rows' cells."""

    DEFAULT_CSS = "ColumnView { height: 100%; width: auto; }"

    def __init__(self, table: LiveTable, index: int, column: Column) -> None:
        super().__init__()
        self.table = table
        self.index = index
        self.column = column

    def get_content_width(self, container, viewport) -> int:  # type: ignore[no-untyped-def]
        return self.column.width + 1

    def get_content_height(self, container, viewport, width: int) -> int:  # type: ignore[no-untyped-def]
        return len(self.table.row_keys) + 1

    def render_line(self, y: int) -> Strip:
        return self.table.render_cell_line(self, y)

    def refresh_row(self, y: int) -> None:
        self.refresh(Region(0, y, self.size.width, 1))


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
    """
    COMPONENT_CLASSES = {"live-table--header", "live-table--cursor"} | {
        f"live-table--{name}" for name in CLASSES if name
    }
    BINDINGS = [
        Binding("up,k", "cursor(-1)", "Up", show=False),
        Binding("down,j", "cursor(1)", "Down", show=False),
        Binding("pageup", "page(-1)", "Page up", show=False),
        Binding("pagedown", "page(1)", "Page down", show=False),
        Binding("home", "jump(0)", "First", show=False),
        Binding("end", "jump(-1)", "Last", show=False),
        Binding("enter", "select", "Open", show=False),
    ]

    cursor: reactive[int] = reactive(0)
    """Index of the highlighted row."""
    top: reactive[int] = reactive(0)
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

    def __init__(self, columns: Sequence[Column], *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._columns = tuple(columns)
        self._keys: list[Hashable] = []
        self._cells: dict[Hashable, tuple[Cell, ...]] = {}
        self._styles: dict[str, Style] = {}
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
    def cursor_key(self) -> Hashable | None:
        return self._keys[self.cursor] if 0 <= self.cursor < len(self._keys) else None

    @property
    def visible_rows(self) -> int:
        return max(1, self.size.height - 1)

    def cells(self, key: Hashable) -> tuple[Cell, ...]:
        return self._cells[key]

    def reconcile(self, rows: Sequence[tuple[Hashable, tuple[Cell, ...]]]) -> None:
        """Make the table show ``rows``, in that order, repainting only what differs."""
        keys = [key for key, _ in rows]
        new_cells = {key: tuple(self._clean(cell) for cell in cells) for key, cells in rows}
        if keys != self._keys:
            self._replace_rows(keys, new_cells)
            return
        for row, key in enumerate(keys):
            old = self._cells[key]
            new = new_cells[key]
            if old == new:
                continue
            if len(old) != len(new):
                self._cells[key] = new
                self._refresh_row(row)
                continue
            merged = tuple(
                o if within_deadband(self._columns[i], o, n) else n
                for i, (o, n) in enumerate(zip(old, new, strict=True))
            )
            if merged == old:
                continue
            self._cells[key] = merged
            y = row - self.top + 1
            if not 1 <= y <= self.visible_rows:
                continue
            for view in self._views:
                if view.display and old[view.index][:2] != merged[view.index][:2]:
                    self.repaints += 1
                    view.refresh_row(y)

    def _replace_rows(self, keys: list[Hashable], new_cells: dict[Hashable, tuple[Cell, ...]]) -> None:
        """Rows came, went or moved: repaint only the screen rows whose contents differ, and
        ask for a new layout only when the row count (the table's height) changed."""
        current = self.cursor_key
        old_keys, old_cells = self._keys, self._cells
        self._keys, self._cells = keys, new_cells
        if len(keys) != len(old_keys) and self._sized_by_rows():
            self.refresh(layout=True)
        for row in range(self.top, self.top + self.visible_rows):
            before = old_cells.get(old_keys[row]) if row < len(old_keys) else None
            after = new_cells.get(keys[row]) if row < len(keys) else None
            if before is None and after is None:
                continue
            if before is None or after is None or [c[:2] for c in before] != [c[:2] for c in after]:
                self.repaints += 1
                self._refresh_row(row, force=True)
        if current in new_cells:
            self.cursor = keys.index(current)
        else:
            self.cursor = min(self.cursor, max(0, len(keys) - 1))

    def _sized_by_rows(self) -> bool:
        """Only a table whose height follows its rows needs a new layout when rows come or go;
        a layout pass repaints far more than the rows themselves."""
        height = self.styles.height
        return height is None or height.is_auto

    @staticmethod
    def _clean(cell: Cell) -> Cell:
        text = clean(cell[0], limit=200)
        return (text, *cell[1:]) if text != cell[0] else cell  # type: ignore[return-value]

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
        self._styles.clear()
        for view in self._views:
            view.refresh()

    def _style(self, name: str) -> Style:
        style = self._styles.get(name)
        if style is None:
            # Cell colours are partial (keep the row's background); the cursor is a full style.
            style = self.get_component_rich_style(f"live-table--{name}", partial=name != "cursor")
            self._styles[name] = style
        return style

    def render_cell_line(self, view: ColumnView, y: int) -> Strip:
        width = view.size.width
        base = self.rich_style
        if y == 0:
            text = fit(view.column.label, view.column.width, view.column.align) + " "
            return Strip([Segment(text, base + self._style("header"))]).adjust_cell_length(width, base)
        row = self.top + y - 1
        if row >= len(self._keys):
            return Strip.blank(width, base)
        cell = self._cells[self._keys[row]]
        text, cls = cell[view.index][:2] if view.index < len(cell) else ("", "")
        style = base + self._style("cursor") if row == self.cursor else base
        if cls:
            # After the cursor, so a hot GPU stays red on the highlighted row.
            style = style + self._style(cls)
        body = fit(text, width - 1, view.column.align) + " "
        return Strip([Segment(body, style)], width)

    # -- cursor and scrolling ---------------------------------------------------------------
    def on_focus(self) -> None:
        self._styles.pop("cursor", None)
        self._refresh_row(self.cursor)

    def on_blur(self) -> None:
        self._styles.pop("cursor", None)
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
        if key in self._cells:
            self.cursor = self._keys.index(key)

    def on_click(self, event: Click) -> None:
        row = self.top + event.y - 1
        if event.y >= 1 and 0 <= row < len(self._keys):
            self.cursor = row

    def on_mouse_scroll_down(self, event: MouseScrollDown) -> None:
        self.top = min(self.top + 3, max(0, len(self._keys) - self.visible_rows))

    def on_mouse_scroll_up(self, event: MouseScrollUp) -> None:
        self.top = max(0, self.top - 3)
