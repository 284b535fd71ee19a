"""The ``?`` screen: every key that works here, drawn from the same bindings the footer shows."""

from __future__ import annotations

from rich.table import Table
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

LEGEND = (
    ("up", "answered this cycle"),
    ("stale", "last good reading kept; its age is shown"),
    ("DOWN", "unreachable; the reason is in INFO"),
)


def key_table(bindings: list[tuple[str, str]]) -> Table:
    table = Table.grid(padding=(0, 2))
    table.add_column(style="bold")
    table.add_column()
    for keys, description in bindings:
        table.add_row(keys, description)
    return table


class HelpScreen(ModalScreen[None]):
    DEFAULT_CSS = """
    HelpScreen { align: center middle; }
    HelpScreen > VerticalScroll {
        width: 64; height: auto; max-height: 90%;
        border: round $border; background: $surface; padding: 1 2;
    }
    """
    BINDINGS = [Binding("escape,q,question_mark", "dismiss", "Close")]

    def __init__(self, bindings: list[tuple[str, str]]) -> None:
        super().__init__()
        self._key_rows = bindings

    def compose(self) -> ComposeResult:
        with VerticalScroll() as box:
            box.border_title = "Keys"
            yield Static(key_table(self._key_rows))
            yield Static("")
            yield Static(key_table([(s, d) for s, d in LEGEND]))

    def action_dismiss(self) -> None:  # type: ignore[override]
        self.dismiss(None)
