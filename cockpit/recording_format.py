"""What a recording is made of, shared by its writer and its reader (:mod:`cockpit.recording`)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from cockpit.state import ClusterState

FORMAT = "gpu-cockpit-recording"
VERSION = 1

STATE_FIELDS = tuple(
    f.name for f in dataclasses.fields(ClusterState) if f.name != "history" and not f.name.startswith("_")
)


class RecordingError(Exception):
    """One line for the operator, naming the file (and line, where there is one)."""


@dataclass(frozen=True, slots=True)
class ActionOutcome:
    """How a recorded action ended, as the runner's :class:`~cockpit.actions.runner.Result` said."""

    outcome: str
    exit_status: int | None = None
    duration_s: float | None = None
    error: str | None = None
    summary: str = ""


@dataclass(frozen=True, slots=True)
class ActionRecord:
    """One finished action: what ran where (as displayed, secrets redacted) and what it printed."""

    t: float
    action: str
    node: str | None
    command: str
    lines: tuple[tuple[str, str], ...] = ()
    result: ActionOutcome | None = None
    target: str | None = None
    started: float | None = None
    lines_dropped: int = 0
