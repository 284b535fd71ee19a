"""The records behind a node's services: runs of a process, a container's and a unit's stored state.

:mod:`cockpit.sim.services_world` moves them over time; :func:`loop_runs` is dockerd's restart
manager for a crash-looping container as a pure function of when the loop began and the clock.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from cockpit.sim.services_catalog import ContainerSpec, UnitSpec

CRASH_UP = 2.0
"""A crash-looping app dies this many seconds after each start."""
BACKOFF_FIRST, BACKOFF_MAX = 0.1, 60.0
ACTIVATING_S = 3.0
KEEP_RUNS = 20
CONTAINER_MODES = ("ok", "crash-loop", "exited", "stopped")
UNIT_STATES = ("active", "failed", "activating", "inactive")
SIGNALS = {"HUP": 1, "INT": 2, "QUIT": 3, "KILL": 9, "USR1": 10, "USR2": 12, "TERM": 15}
CLEAN_SIGNALS = {1, 2, 13, 15}
"""Signals systemd counts as a clean exit of a service's main process."""


@dataclass(frozen=True, slots=True)
class Run:
    """One life of a process: ``outcome`` is "" while it runs ("crashing" if it is about to die),
    else crash / stop / signal-N."""

    start: float
    end: float | None
    pid: int
    outcome: str = ""
    ready: float | None = None


@dataclass(slots=True)
class Container:
    """A container's stored state; :meth:`ServicesWorld.view` says what it looks like at a time."""

    spec: ContainerSpec
    id: str
    created: float
    mode: str
    since: float
    """ok: when the current run started; crash-loop: its first death; exited/stopped: when."""
    exit_code: int = 0
    restart_count: int = 0
    gen: int = 0
    runs: list[Run] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class ContainerView:
    """A container at one moment, in dockerd's terms."""

    state: str
    status: str
    pid: int
    exit_code: int
    restart_count: int
    started_at: float
    finished_at: float | None
    health: str | None

    @property
    def running(self) -> bool:
        return self.state in ("running", "restarting", "paused")


@dataclass(slots=True)
class Unit:
    """A systemd service's stored state and timestamps (None: never happened)."""

    id: str
    spec: UnitSpec
    state: str
    pinned: bool = False
    gen: int = 0
    result: str = "success"
    exec_code: int = 0
    exec_status: int = 0
    inactive_exit: float | None = None
    active_enter: float | None = None
    active_exit: float | None = None
    inactive_enter: float | None = None
    ready_at: float | None = None
    runs: list[Run] = field(default_factory=list)

    @property
    def sub(self) -> str:
        return {"active": "running", "activating": "start", "failed": "failed"}.get(self.state, "dead")

    @property
    def changed(self) -> float | None:
        stamps = [
            t for t in (self.inactive_exit, self.active_enter, self.active_exit, self.inactive_enter) if t
        ]
        return max(stamps) if stamps else None


def loop_runs(since: float, now: float) -> tuple[int, list[tuple[float, float]], float]:
    """A crash loop whose first death was at ``since``: restarts made by ``now``, the (start,
    death) of the last attempts (a death after ``now`` is still to come), and the last death."""
    runs: list[tuple[float, float]] = []
    t, delay, n = since, BACKOFF_FIRST, 0
    while True:
        start = t + delay
        if start > now:
            return n, runs[-KEEP_RUNS:], t
        if delay >= BACKOFF_MAX:
            skip = int((now - start) // (BACKOFF_MAX + CRASH_UP)) - KEEP_RUNS
            if skip > 0:
                n, t = n + skip, t + skip * (BACKOFF_MAX + CRASH_UP)
                start = t + delay
        n += 1
        runs.append((start, start + CRASH_UP))
        if start + CRASH_UP > now:
            return n, runs[-KEEP_RUNS:], t
        t = start + CRASH_UP
        delay = min(delay * 2, BACKOFF_MAX)
