"""One column of a :class:`~widgets.live_table.LiveTable`: its own widget, so a changed cell is
resent alone (see live_table's docstring for why)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual.geometry import Region
from textual.strip import Strip
from textual.widget import Widget

from widgets.table_model import Column

if TYPE_CHECKING:
    from widgets.live_table import LiveTable


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
        return self.table.row_count + 1

    def render_line(self, y: int) -> Strip:
        return self.table.render_cell_line(self, y)

    def refresh_row(self, y: int) -> None:
        self.refresh(Region(0, y, self.size.width, 1))
