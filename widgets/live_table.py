"""A keyed table that repaints only the characters that changed.

Why not ``DataTable``: on textual 8.2.8 ``update_cell`` refreshes the whole widget (about 9.8 KB
written per update at 120x40). An operator on a slow SSH link through tmux pays for every byte, so
this table keeps each row's cells, diffs new cells against the old, and refreshes only the changed
character spans; the compositor then writes just those spans (tens of bytes each).
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence

from rich.segment import Segment
from rich.style import Style
from textual.binding import Binding
from textual.events import Click
from textual.geometry import Region, Size
from textual.message import Message
from textual.reactive import reactive
from textual.scroll_view import ScrollView
from textual.strip import Strip

from cockpit.sanitize import clean
from widgets.table_model import CLASSES, Cell, Column, changed_span, fit


class LiveTable(ScrollView, can_focus=True):
    """Rows by key; :meth:`reconcile` takes the full desired contents and repaints the difference."""

    DEFAULT_CSS = """
    LiveTable { height: 1fr; scrollbar-size-vertical: 1; }
    LiveTable > .live-table--header { text-style: bold; color: $text-muted; }
    LiveTable > .live-table--cursor { background: $block-cursor-blurred-background; }
    LiveTable:focus > .live-table--cursor { background: $block-cursor-background; }
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

    cursor: reactive[int] = reactive(0, always_update=False)
    """Index of the highlighted row."""

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
        self._all_columns = tuple(columns)
        self._layout: list[tuple[int, Column, int]] = []
        self._keys: list[Hashable] = []
        self._cells: dict[Hashable, tuple[Cell, ...]] = {}
        self._strips: dict[Hashable, Strip] = {}
        self._styles: dict[str, Style] = {}
        self.repaints = 0
        """Cell spans refreshed since start; tests and benchmarks read it."""

    # -- data -------------------------------------------------------------------------------
    @property
    def row_keys(self) -> list[Hashable]:
        return list(self._keys)

    @property
    def cursor_key(self) -> Hashable | None:
        return self._keys[self.cursor] if 0 <= self.cursor < len(self._keys) else None

    def cells(self, key: Hashable) -> tuple[Cell, ...]:
        return self._cells[key]

    def reconcile(self, rows: Sequence[tuple[Hashable, tuple[Cell, ...]]]) -> None:
        """Make the table show ``rows``, in that order, repainting only what differs."""
        keys = [key for key, _ in rows]
        new_cells = {key: tuple((clean(t, limit=200), c) for t, c in cells) for key, cells in rows}
        if keys != self._keys:
            current = self.cursor_key
            self._keys = keys
            self._cells = new_cells
            self._strips.clear()
            self.virtual_size = Size(self.size.width, len(keys) + 1)
            if current in new_cells:
                self.cursor = keys.index(current)
            else:
                self.cursor = min(self.cursor, max(0, len(keys) - 1))
            self.refresh()
            return
        for y, key in enumerate(keys, start=1):
            old = self._cells[key]
            new = new_cells[key]
            if old == new:
                continue
            self._cells[key] = new
            self._strips.pop(key, None)
            self._refresh_cells(y, old, new)

    def _refresh_cells(self, y: int, old: tuple[Cell, ...], new: tuple[Cell, ...]) -> None:
        row_y = y - self.scroll_offset.y
        if row_y < 1 or row_y >= self.size.height:
            return
        for x, column, width in self._layout:
            index = self._column_index(column)
            if index >= len(new) or index >= len(old):
                self.refresh(Region(0, row_y, self.size.width, 1))
                return
            if old[index] == new[index]:
                continue
            if old[index][1] != new[index][1]:
                span: tuple[int, int] | None = (0, width)
            else:
                span = changed_span(
                    fit(old[index][0], width, column.align), fit(new[index][0], width, column.align)
                )
            if span is not None:
                self.repaints += 1
                self.refresh(Region(x + span[0], row_y, span[1] - span[0], 1))

    def _column_index(self, column: Column) -> int:
        return self._all_columns.index(column)

    # -- layout and drawing -----------------------------------------------------------------
    def on_resize(self) -> None:
        self._compute_layout()
        self.virtual_size = Size(self.size.width, len(self._keys) + 1)
        self._strips.clear()

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._styles.clear()
        self._strips.clear()

    def _compute_layout(self) -> None:
        available = max(0, self.size.width - 1)
        chosen: list[Column] = []
        used = 0
        for column in sorted(self._all_columns, key=lambda c: c.priority):
            need = column.width + (1 if chosen else 0)
            if used + need <= available:
                chosen.append(column)
                used += need
        chosen.sort(key=self._all_columns.index)
        spare = available - used
        layout = []
        x = 0
        for column in chosen:
            width = column.width + (spare if column.flex else 0)
            layout.append((x, column, width))
            x += width + 1
        self._layout = layout

    def _style(self, name: str) -> Style:
        style = self._styles.get(name)
        if style is None:
            # Cell colours are partial (keep the row's background); the cursor is a full style.
            style = self.get_component_rich_style(f"live-table--{name}", partial=name != "cursor")
            self._styles[name] = style
        return style

    def render_line(self, y: int) -> Strip:
        width = self.size.width
        base = self.rich_style
        if y == 0:
            segments = [
                Segment(fit(col.label, w, col.align) + " ", self._style("header"))
                for _, col, w in self._layout
            ]
            return Strip(segments).adjust_cell_length(width, base).apply_style(base)
        index = y - 1 + self.scroll_offset.y
        if index >= len(self._keys):
            return Strip.blank(width, base)
        key = self._keys[index]
        cached = self._strips.get(key)
        if cached is not None and index != self.cursor:
            return cached
        cells = self._cells[key]
        segments = []
        for _, column, w in self._layout:
            i = self._column_index(column)
            text, cls = cells[i] if i < len(cells) else ("", "")
            style = self._style(cls) if cls else Style()
            segments.append(Segment(fit(text, w, column.align), style))
            segments.append(Segment(" "))
        if index == self.cursor:
            return Strip(segments).adjust_cell_length(width).apply_style(base + self._style("cursor"))
        strip = Strip(segments).adjust_cell_length(width).apply_style(base)
        self._strips[key] = strip
        return strip

    # -- cursor -----------------------------------------------------------------------------
    def on_focus(self) -> None:
        self._styles.pop("cursor", None)
        self._refresh_cursor_row()

    def on_blur(self) -> None:
        self._styles.pop("cursor", None)
        self._refresh_cursor_row()

    def _refresh_cursor_row(self) -> None:
        self.refresh(Region(0, self.cursor + 1 - self.scroll_offset.y, self.size.width, 1))

    def watch_cursor(self, old: int, new: int) -> None:
        for index in (old, new):
            self.refresh(Region(0, index + 1 - self.scroll_offset.y, self.size.width, 1))
        visible = max(1, self.size.height - 1)
        if new < self.scroll_offset.y:
            self.scroll_to(y=new, animate=False)
        elif new >= self.scroll_offset.y + visible:
            self.scroll_to(y=new - visible + 1, animate=False)
        self.post_message(self.RowHighlighted(self, self.cursor_key))

    def validate_cursor(self, value: int) -> int:
        return max(0, min(value, len(self._keys) - 1)) if self._keys else 0

    def action_cursor(self, step: int) -> None:
        self.cursor += step

    def action_page(self, step: int) -> None:
        self.cursor += step * max(1, self.size.height - 2)

    def action_jump(self, where: int) -> None:
        self.cursor = 0 if where == 0 else len(self._keys) - 1

    def action_select(self) -> None:
        self.post_message(self.RowSelected(self, self.cursor_key))

    def move_to(self, key: Hashable) -> None:
        if key in self._cells:
            self.cursor = self._keys.index(key)

    def on_click(self, event: Click) -> None:
        index = event.y - 1 + self.scroll_offset.y
        if event.y >= 1 and 0 <= index < len(self._keys):
            self.cursor = index
