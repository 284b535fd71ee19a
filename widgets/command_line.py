"""The one-line prompt at the bottom: ``:`` runs a command, ``/`` filters the focused table live.

k9s-style: commands complete from their names and aliases (and from history), up/down walk the
last 50 lines of each kind, ``enter`` submits and ``esc`` gives up. A filter is applied as it is
typed; a half-typed term that means nothing yet (``temp>``) keeps the last good filter on screen
and says why below, rather than flashing an empty table at the operator.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Literal

from textual import events
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.geometry import Size
from textual.message import Message
from textual.reactive import Reactive
from textual.suggester import Suggester
from textual.widget import Widget
from textual.widgets import Input, Label

from cockpit.commands import InputHistory, complete_command, resolve_command
from cockpit.query import Query, parse_lenient

Kind = Literal["command", "filter"]
PROMPTS: dict[str, str] = {"command": ":", "filter": "/"}


class LineSuggester(Suggester):
    """History first (newest first), then, for the command word, command names and aliases."""

    def __init__(self, line: CommandLine) -> None:
        super().__init__(use_cache=False, case_sensitive=True)
        self.line = line

    async def get_suggestion(self, value: str) -> str | None:
        return self.line.suggestion(value)


class LineInput(Input):
    """An Input whose text growing does not lay the screen out again: it is one line of fixed
    width, and Textual's Input asks for a layout pass on every keystroke (its virtual size is the
    text's width), which at 16,000 rows re-arranged every widget per filter character."""

    virtual_size: Reactive[Size] = Reactive(Size(0, 0), layout=False)

    async def _on_key(self, event: events.Key) -> None:
        """Erase and enter are handled here, where the key arrives, in order with the characters
        typed before it: as the Input's bindings they ran only after the key had bubbled back up
        to the app (a queue hop per widget, ~20 ms more than a typed character), and as priority
        bindings they would run before characters typed ahead of them in the same read."""
        line = self.parent
        if isinstance(line, CommandLine):
            if not line.is_open:
                # Typed ahead after enter closed the line (``/hy``, enter, ``j`` in one read):
                # the key is the table's, which has the focus again.
                event.stop()
                event.prevent_default()
                self.app.post_message(events.Key(event.key, event.character))
                return
            if event.key == "backspace":
                event.stop()
                event.prevent_default()
                self.action_delete_left()
                return
            if event.key == "enter":
                event.stop()
                event.prevent_default()
                line.submit(self.value)
                return
        await super()._on_key(event)

    def watch_value(self, value: str) -> None:
        # At once, not through Input.Changed: that message arrives a loop turn or two later, and
        # the screen would draw the echoed character alone, then the filtered rows a frame
        # (1/60 s) later.
        line = self.parent
        if isinstance(line, CommandLine):
            line.edited(value)


class CommandLine(Horizontal):
    """Hidden until :meth:`open`; the screen binds ``:`` and ``/`` to open it."""

    DEFAULT_CSS = """
    CommandLine { dock: bottom; height: 1; display: none; background: $panel; }
    CommandLine.-open { display: block; }
    CommandLine > #prompt { width: 2; padding: 0 0 0 1; color: $accent; text-style: bold; }
    CommandLine > Input { width: 1fr; height: 1; border: none; padding: 0; background: $panel; }
    CommandLine > Input.-invalid { color: $error; }
    CommandLine > #hint { width: auto; max-width: 60%; padding: 0 1; color: $error; }
    """
    BINDINGS = [
        Binding("escape", "cancel", "Cancel", show=False),
        Binding("up", "history(-1)", "Older", show=False),
        Binding("down", "history(1)", "Newer", show=False),
        Binding("tab", "complete", "Complete", show=False),
    ]

    class Submitted(Message):
        """``enter`` on a valid line; ``text`` is stripped (for a command, its first word is
        known to :func:`cockpit.commands.resolve_command`)."""

        def __init__(self, line: CommandLine, kind: Kind, text: str) -> None:
            super().__init__()
            self.line = line
            self.kind = kind
            self.text = text

        @property
        def control(self) -> CommandLine:
            return self.line

    class Cancelled(Message):
        def __init__(self, line: CommandLine, kind: Kind) -> None:
            super().__init__()
            self.line = line
            self.kind = kind

        @property
        def control(self) -> CommandLine:
            return self.line

    class FilterChanged(Message):
        """The filter to apply now (an empty query shows every row); ``text`` is its good words,
        normalised, what the screen shows and passes back to :meth:`CommandLine.open`."""

        def __init__(self, line: CommandLine, text: str, query: Query) -> None:
            super().__init__()
            self.line = line
            self.text = text
            self.query = query

        @property
        def control(self) -> CommandLine:
            return self.line

    def __init__(
        self,
        history: Mapping[str, Iterable[str]] | None = None,
        *,
        on_filter: Callable[[str, Query], None] | None = None,
        id: str | None = None,
    ) -> None:
        """``on_filter(text, query)``, when given, applies a filter in the keystroke's own handler
        (else a :class:`FilterChanged` message is posted), so the character typed and the rows
        it leaves reach the screen in one frame."""
        super().__init__(id=id)
        self._on_filter = on_filter
        history = history or {}
        self.histories: dict[str, InputHistory] = {
            kind: InputHistory(history.get(kind, ())) for kind in PROMPTS
        }
        """Per kind, oldest first in ``.entries`` (the lead persists these)."""
        self.kind: Kind = "command"
        self._return_focus: Widget | None = None
        self._opened_with = ""
        self._applied = ""
        self._from_history: str | None = None
        self._hint_text = ""

    def compose(self) -> ComposeResult:
        yield Label(":", id="prompt")
        yield LineInput(suggester=LineSuggester(self), select_on_focus=False, compact=True)
        yield Label("", id="hint", markup=False)

    @property
    def input(self) -> Input:
        return self.query_one(Input)

    @property
    def is_open(self) -> bool:
        return self.has_class("-open")

    def open(self, kind: Kind, text: str = "") -> None:
        """Show the prompt for ``kind``, starting from ``text`` (the filter being edited)."""
        if not self.is_open:
            self._return_focus = self.app.focused
        self.kind = kind
        self._opened_with = self._applied = parse_lenient(text)[0].source
        self._from_history = None
        self.histories[kind].reset()
        self.query_one("#prompt", Label).update(PROMPTS[kind])
        self._hint("")
        self.add_class("-open")
        self.display = True  # at once: the class's style is applied later, and focus needs it now
        field = self.input
        field.value = text
        field.cursor_position = len(text)
        # Focus now, not on the next loop turn (what focus() does): keys typed right after ``/``
        # arrive in the same read and must land in the prompt, not in the table behind it.
        self.screen.set_focus(field)

    def close(self) -> None:
        self.remove_class("-open")
        self.display = False
        self._hint("")
        target, self._return_focus = self._return_focus, None
        if target is None or not target.is_attached:
            return
        if target.focusable:
            # At once, not on the next loop turn (what focus() does): a key typed right after
            # enter or esc belongs to the table, not to the closed line.
            self.screen.set_focus(target)
        else:
            target.focus()

    def _hint(self, text: str) -> None:
        if text == self._hint_text:
            return  # an update lays out the whole screen again, and most keystrokes change nothing here
        self._hint_text = text
        self.query_one("#hint", Label).update(text)
        self.input.set_class(bool(text), "-invalid")

    def _check(self, text: str, final: bool) -> Query | str | None:
        """The filter to apply, a command line, or None after showing why ``text`` is not valid.
        While typing, a bad filter word is left out (and named); on ``enter`` it stops the line.
        A command word is judged only on ``enter`` (``:no`` is on its way to ``:nodes``)."""
        if self.kind == "filter":
            query, error = parse_lenient(text)
            self._hint("" if error is None else str(error))
            return None if final and error is not None else query
        if final and text.strip() and resolve_command(text) is None:
            self._hint(f"unknown command: {text.split()[0]}")
            return None
        self._hint("")
        return text.strip()

    def on_input_changed(self, event: Input.Changed) -> None:
        event.stop()  # already handled, by :meth:`edited`

    def edited(self, value: str) -> None:
        """The line's text changed (typed, or set): apply a filter as it is typed."""
        if value != self._from_history:
            self.histories[self.kind].reset()
        if not self.is_open:
            return
        checked = self._check(value, final=False)
        if isinstance(checked, Query):
            self._apply(checked)

    def _apply(self, query: Query) -> None:
        """Post the filter unless it is the one applied (a trailing space changes nothing)."""
        if query.source != self._applied:
            self._applied = query.source
            if self._on_filter is not None:
                self._on_filter(query.source, query)
            else:
                self.post_message(self.FilterChanged(self, query.source, query))

    def suggestion(self, value: str) -> str | None:
        """The line the grey suggestion shows for ``value``: history first (newest first), then,
        for the command word, command names and aliases."""
        wanted = value.casefold()
        for entry in self.histories[self.kind].newest_first():
            if entry.casefold().startswith(wanted) and len(entry) > len(value):
                return value + entry[len(value) :]
        if self.kind == "command" and " " not in value:
            word = complete_command(value)
            return None if word is None else value + word[len(value) :]
        return None

    def submit(self, value: str) -> None:
        """``enter``: a command word that is none takes the suggestion shown (``:cont`` runs
        ``:containers``); the line closes and focus goes back at once."""
        if self.kind == "command" and value.strip() and resolve_command(value) is None:
            suggested = self.suggestion(value.strip())
            if suggested is not None and resolve_command(suggested) is not None:
                value = suggested
        checked = self._check(value, final=True)
        if checked is None:
            return
        kind, text = self.kind, value.strip()
        if isinstance(checked, Query):
            self._apply(checked)
            text = checked.source
        self.histories[kind].add(text)
        self.close()
        if kind == "command" and not text:
            self.post_message(self.Cancelled(self, kind))
        else:
            self.post_message(self.Submitted(self, kind, text))

    def action_cancel(self) -> None:
        """Give up: a filter goes back to what it was when the prompt opened."""
        kind = self.kind
        if kind == "filter":
            self._apply(parse_lenient(self._opened_with)[0])
        self.close()
        self.post_message(self.Cancelled(self, kind))

    def action_history(self, step: int) -> None:
        history = self.histories[self.kind]
        text = history.older(self.input.value) if step < 0 else history.newer()
        if text is None:
            return
        self._from_history = text
        self.input.value = text
        self.input.cursor_position = len(text)

    def action_complete(self) -> None:
        """``tab`` takes the grey suggestion (as ``right`` does at the end of the line)."""
        self.input.action_end()
        self.input.action_cursor_right()
