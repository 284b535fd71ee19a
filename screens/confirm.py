"""The confirm screen: the exact command, where and as whom it runs, how dangerous it is.

Focus starts on Cancel, so a stray enter does nothing. Inputs re-render the command as they are
typed, and a value the action refuses (a power limit above the card's maximum) disables Run with
the reason. A destructive action asks for the target's name typed back (for a bulk run, the number
of targets). Returns the invocations to run, or None.
"""

from __future__ import annotations

from collections.abc import Callable

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Static

from cockpit.actions.render import Invocation, RenderError
from cockpit.actions.schema import ActionConfig
from cockpit.actions.subjects import Target
from cockpit.sanitize import clean

Render = Callable[[ActionConfig, Target, dict[str, object]], Invocation]
SHOWN_TARGETS = 8


class ConfirmScreen(ModalScreen[list[Invocation] | None]):
    DEFAULT_CSS = """
    ConfirmScreen { align: center middle; }
    ConfirmScreen > Vertical { width: 100; max-width: 95%; height: auto; max-height: 90%;
        border: thick $error; background: $surface; padding: 0 1; }
    ConfirmScreen.-safe > Vertical { border: thick $success; }
    ConfirmScreen.-disruptive > Vertical { border: thick $warning; }
    ConfirmScreen #confirm-title { text-style: bold; }
    ConfirmScreen .danger-destructive { color: $error; text-style: bold; }
    ConfirmScreen .danger-disruptive { color: $warning; text-style: bold; }
    ConfirmScreen .danger-safe { color: $success; }
    ConfirmScreen #confirm-commands { height: auto; max-height: 12; background: $panel; padding: 0 1; }
    ConfirmScreen #confirm-error { color: $error; height: auto; }
    ConfirmScreen Input { width: 1fr; }
    ConfirmScreen .input-row { height: 3; }
    ConfirmScreen .input-row Label { width: 24; padding: 1 1 0 0; }
    ConfirmScreen #confirm-buttons { height: 3; align-horizontal: right; }
    ConfirmScreen Button { margin-left: 2; }
    """
    BINDINGS = [Binding("escape", "cancel", "Cancel", id="confirm.cancel")]

    def __init__(
        self,
        action: ActionConfig,
        targets: tuple[Target, ...],
        inputs: dict[str, object],
        render: Render,
        note: str = "",
    ) -> None:
        super().__init__(classes=f"-{action.danger}")
        self.note = note
        """A line above the command (what a bulk stop saves, say)."""
        self.action = action
        self.targets = targets
        self.specs = tuple(getattr(action, "inputs", ()))
        self.values = {spec.name: inputs.get(spec.name, spec.default) for spec in self.specs}
        self.render_one = render
        self.invocations: list[Invocation] = []
        self.error: str | None = None
        self.typed = targets[0].label if len(targets) == 1 else str(len(targets))
        """What a destructive action asks to be typed back."""

    def compose(self) -> ComposeResult:
        action = self.action
        count = len(self.targets)
        with Vertical():
            what = action.description or action.name
            on = self.targets[0].label if count == 1 else f"{count} targets"
            yield Static(clean(f"{what}: {on}"), id="confirm-title", markup=False)
            yield Label(f"danger: {action.danger}", classes=f"danger-{action.danger}")
            if self.note:
                yield Static(clean(self.note), id="confirm-note", markup=False)
            for spec in self.specs:
                value = self.values.get(spec.name)
                with Horizontal(classes="input-row"):
                    yield Label(clean(spec.description or spec.name), markup=False)
                    kind = {"int": "integer", "float": "number"}.get(spec.type, "text")
                    yield Input("" if value is None else str(value), type=kind, id=f"in-{spec.name}")  # type: ignore[arg-type]
            yield VerticalScroll(Static("", id="confirm-command", markup=False), id="confirm-commands")
            yield Static("", id="confirm-error", markup=False)
            if action.danger == "destructive":
                with Horizontal(classes="input-row"):
                    yield Label(f"type {clean(self.typed)}", markup=False)
                    yield Input("", placeholder="to confirm", id="confirm-typed")
            with Horizontal(id="confirm-buttons"):
                yield Button("Cancel", id="cancel", variant="default")
                yield Button("Run", id="run", variant="error" if action.danger != "safe" else "primary")

    def on_mount(self) -> None:
        self._rerender()
        self.query_one("#cancel", Button).focus()

    def _inputs(self) -> dict[str, object]:
        out: dict[str, object] = {}
        for spec in self.specs:
            text = self.query_one(f"#in-{spec.name}", Input).value.strip()
            if text != "":
                out[spec.name] = text
        return out

    def _rerender(self) -> None:
        inputs = self._inputs()
        invocations: list[Invocation] = []
        error = None
        for target in self.targets:
            try:
                invocations.append(self.render_one(self.action, target, inputs))
            except (RenderError, PermissionError, KeyError) as exc:
                error = f"{target.label}: {exc}" if len(self.targets) > 1 else str(exc)
                break
        self.invocations, self.error = invocations, error
        lines = []
        for inv in invocations[:SHOWN_TARGETS]:
            where = {
                "node": f"{inv.user}@{inv.node} ({inv.host})",
                "api": f"the cloud API ({inv.host})",
            }.get(inv.run_on, "this machine")
            lines.append(clean(f"on {where}:"))
            lines.append(clean(f"  $ {inv.display}"))
        if len(invocations) > SHOWN_TARGETS:
            lines.append(f"… and {len(invocations) - SHOWN_TARGETS} more")
        self.query_one("#confirm-command", Static).update("\n".join(lines))
        self.query_one("#confirm-error", Static).update(clean(error or ""))
        self._update_run()

    def _update_run(self) -> None:
        ready = self.error is None and bool(self.invocations)
        if self.action.danger == "destructive":
            ready = ready and self.query_one("#confirm-typed", Input).value.strip() == self.typed
        self.query_one("#run", Button).disabled = not ready

    def on_input_changed(self, event: Input.Changed) -> None:
        if event.input.id == "confirm-typed":
            self._update_run()
        else:
            self._rerender()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        """Enter in a field moves on; it never runs anything by itself."""
        self.focus_next()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "run" and not event.button.disabled:
            self.dismiss(self.invocations)
        else:
            self.dismiss(None)

    def action_cancel(self) -> None:
        self.dismiss(None)
