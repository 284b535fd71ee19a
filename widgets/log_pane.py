"""The action log: what a running command prints, as it prints it, stderr in its own colour.

No I/O here: the app's runner calls :meth:`LogPane.line` for each line it reads. Remote text is
shown as plain ``Text`` (never parsed as markup) after the runner has stripped control sequences.
Scrollback is bounded, and the pane follows the tail only while the operator is at the bottom: one
who scrolled up to read a stack trace keeps reading it while lines arrive.
"""

from __future__ import annotations

import time

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.content import Content
from textual.timer import Timer
from textual.widgets import RichLog, Static

from cockpit.sanitize import clean

SPINNER = "⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏"
SCROLLBACK = 5000


class LogPane(Vertical):
    DEFAULT_CSS = """
    LogPane { height: 14; display: none; border: round $border-blurred; }
    LogPane:focus-within { border: round $border; }
    LogPane #log-status { height: 1; padding: 0 1; background: $panel; }
    LogPane RichLog { height: 1fr; background: $background; scrollbar-size-vertical: 1; }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.border_title = "Log"
        self.running = False
        self._title = ""
        self._started = 0.0
        self._tick = 0
        self._timer: Timer | None = None

    def compose(self) -> ComposeResult:
        yield Static("", id="log-status", markup=False)
        yield RichLog(max_lines=SCROLLBACK, wrap=False, markup=False, highlight=False, id="log-lines")

    @property
    def log(self) -> RichLog:
        return self.query_one("#log-lines", RichLog)

    def begin(self, title: str, command: str, where: str) -> None:
        """A new action: its exact command and where it runs, then its output."""
        self.display = True
        self.running = True
        self._title = clean(title)
        self._started = time.monotonic()
        self.border_title = Content(f"Log: {self._title}")  # an action's description is not markup
        self.log.write(Text(f"$ {clean(command)}    ({clean(where)})", style="bold"))
        self._status()
        if self._timer is not None:
            self._timer.stop()
        self._timer = self.set_interval(0.5, self._status, name="log-spinner")

    def line(self, stream: str, text: str) -> None:
        log = self.log
        log.auto_scroll = log.scroll_offset.y >= log.max_scroll_y - 1
        style = "red" if stream == "stderr" else ""
        log.write(Text(clean(text), style=style))

    def note(self, text: str, style: str = "dim") -> None:
        self.log.write(Text(clean(text), style=style))

    def end(self, summary: str, ok: bool) -> None:
        self.running = False
        if self._timer is not None:
            self._timer.stop()
            self._timer = None
        self.note(
            f"── {summary} after {time.monotonic() - self._started:.1f}s", "green" if ok else "bold red"
        )
        self._status(final=summary)

    def _status(self, final: str | None = None) -> None:
        elapsed = time.monotonic() - self._started
        if final is None:
            self._tick += 1
            spin = SPINNER[self._tick % len(SPINNER)]
            text = f"{spin} {self._title}  {elapsed:.0f}s  (ctrl+c cancels)"
        else:
            text = f"{self._title}: {final}  {elapsed:.1f}s"
        self.query_one("#log-status", Static).update(text)
