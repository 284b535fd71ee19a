"""``a`` on a row: the actions that apply to it, each on its own key; an alert's remediations first.

Returns the chosen :class:`MenuEntry` (or None). Keys are the actions' own (``r`` restart, ``l``
logs); actions without one get a digit, so everything is one keystroke away.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.events import Key
from textual.screen import ModalScreen
from textual.widgets import Footer, OptionList, Static
from textual.widgets.option_list import Option

from cockpit.actions.schema import ActionConfig
from cockpit.actions.subjects import Target
from cockpit.sanitize import clean

DANGER_STYLE = {"disruptive": "yellow", "destructive": "bold red"}


@dataclass(frozen=True)
class MenuEntry:
    action: ActionConfig
    targets: tuple[Target, ...]
    inputs: dict[str, object] = field(default_factory=dict)
    why: str = ""


class ActionMenu(ModalScreen[MenuEntry | None]):
    DEFAULT_CSS = """
    ActionMenu { align: center middle; }
    ActionMenu > Vertical { width: 84; height: auto; max-height: 80%; border: round $accent; background: $surface; }
    ActionMenu #menu-title { padding: 0 1; text-style: bold; }
    ActionMenu #menu-why { padding: 0 1; color: $text-muted; }
    ActionMenu OptionList { height: auto; max-height: 20; border: none; }
    """
    BINDINGS = [Binding("escape", "dismiss_none", "Close", id="menu.close")]

    def __init__(self, title: str, entries: list[MenuEntry]) -> None:
        super().__init__()
        self.title_text = title
        self.entries = entries
        self.keys: dict[str, int] = {}
        digits = iter("123456789")
        for i, entry in enumerate(entries):
            key = entry.action.key
            if key is None or key in self.keys:
                key = next(digits, None)
            if key is not None:
                self.keys[key] = i
        self._labels = {i: k for k, i in self.keys.items()}

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(clean(self.title_text), id="menu-title", markup=False)
            whys = {e.why for e in self.entries if e.why}
            if len(whys) == 1:
                yield Static(clean(whys.pop()), id="menu-why", markup=False)
            options = []
            for i, entry in enumerate(self.entries):
                label = Text(f"{self._labels.get(i, ' ')}  ", style="bold")
                label.append(clean(entry.action.description or entry.action.name))
                if entry.action.danger != "safe":
                    label.append(f"  {entry.action.danger}", style=DANGER_STYLE[entry.action.danger])
                options.append(Option(label, id=str(i)))
            yield OptionList(*options, id="menu-options")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one(OptionList).focus()

    def on_key(self, event: Key) -> None:
        index = self.keys.get(event.character or "")
        if index is not None:
            event.stop()
            self.dismiss(self.entries[index])

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(self.entries[int(event.option.id or 0)])

    def action_dismiss_none(self) -> None:
        self.dismiss(None)
