"""Replay a recording through the same door the engine uses, so the cockpit shows an incident again.

The app runs :meth:`ReplaySource.run` where it would run ``Engine.run``: ``publish(state)`` is called
with each state (and awaited if it returns an awaitable), so every screen works unchanged. Playback
follows a cursor in recorded time that moves at ``speed`` times the wall clock while playing; states
are published as the cursor reaches them, so pace is kept without drift, and a slow consumer skips
to where the cursor is rather than falling further behind. Long silences in the recording (the
recorder paused, the laptop slept) are shortened to ``max_gap`` seconds.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

from cockpit.recording import ActionRecord, Recording, RecordingError
from cockpit.state import ClusterState

MIN_SPEED = 0.1
MAX_SPEED = 256.0
Publish = Callable[[ClusterState], Any]


class ReplaySource:
    """Play, pause, seek and step through a :class:`Recording`; see the module docstring."""

    def __init__(
        self,
        recording: Recording,
        *,
        speed: float = 1.0,
        playing: bool = True,
        max_gap: float = 10.0,
        clock: Callable[[], float] | None = None,
    ) -> None:
        if not len(recording):
            raise RecordingError(f"{recording.path}: holds no cluster state to replay")
        self.recording = recording
        self.max_gap = max(0.0, max_gap)
        self._clock = clock or time.monotonic
        self._times = recording.times
        self._index = 0
        self._pos = self._times[0]
        """Recorded time of the cursor at the real time ``_anchor``."""
        self._anchor = self._clock()
        self._speed = _clamp_speed(speed)
        self._playing = playing
        self._changed = asyncio.Event()
        self._jumped = False

    # -- what is shown ---------------------------------------------------------------------------

    @property
    def index(self) -> int:
        return self._index

    @property
    def state(self) -> ClusterState:
        return self.recording.at(self._index)

    def initial_state(self) -> ClusterState:
        """The state to show before :meth:`run` starts (mirrors ``Engine.initial_state``)."""
        return self.state

    @property
    def playing(self) -> bool:
        return self._playing

    @property
    def speed(self) -> float:
        return self._speed

    @property
    def at_end(self) -> bool:
        return self._index >= len(self._times) - 1

    @property
    def position(self) -> float:
        """Seconds from the recording's start to the state shown."""
        return self._times[self._index] - self.recording.start

    @property
    def duration(self) -> float:
        return self.recording.duration

    def describe(self) -> str:
        """One line for a header: ``▶ ×2  00:01:23 / 00:10:00  #42/300``."""
        mark = "▶" if self._playing else "⏸"
        speed = f"×{self._speed:g}"
        return (
            f"{mark} {speed}  {_clock(self.position)} / {_clock(self.duration)}  "
            f"#{self._index + 1}/{len(self._times)}"
        )

    def actions_so_far(self) -> list[ActionRecord]:
        """Actions that had ended by the state shown (for an action log pane)."""
        return self.recording.actions_upto(self._times[self._index])

    # -- controls --------------------------------------------------------------------------------

    def play(self, speed: float | None = None) -> None:
        """Play (from the start again when at the end), optionally at a new speed."""
        self._reanchor()
        if speed is not None:
            self._speed = _clamp_speed(speed)
        if self.at_end and not self._playing:
            self._move(0, jumped=True)
        self._playing = True
        self._changed.set()

    def pause(self) -> None:
        self._reanchor()
        self._playing = False
        self._changed.set()

    def toggle(self) -> None:
        self.pause() if self._playing else self.play()

    def set_speed(self, speed: float) -> None:
        self._reanchor()
        self._speed = _clamp_speed(speed)
        self._changed.set()

    def seek(self, seconds: float) -> None:
        """Show the state at ``seconds`` from the recording's start (clamped to it)."""
        if not math.isfinite(seconds):
            return
        target = self.recording.start + min(max(0.0, seconds), self.duration)
        self._move(self.recording.seek(target), jumped=True)
        self._pos = target
        self._anchor = self._now()

    def skip(self, seconds: float) -> None:
        """Seek relative to the state shown (negative: back)."""
        self.seek(self.position + seconds)

    def seek_index(self, index: int) -> None:
        self._move(min(max(0, index), len(self._times) - 1), jumped=True)

    def step(self, n: int = 1) -> None:
        """Pause and move ``n`` states (negative: back)."""
        self.pause()
        self._move(min(max(0, self._index + n), len(self._times) - 1), jumped=n < 0)

    def _move(self, index: int, *, jumped: bool) -> None:
        self._index = index
        self._pos = self._times[index]
        self._anchor = self._now()
        self._jumped = self._jumped or jumped
        self._changed.set()

    # -- the loop --------------------------------------------------------------------------------

    async def run(self, publish: Publish, on_action: Callable[[ActionRecord], None] | None = None) -> None:
        """Publish states until cancelled; ``on_action`` sees each action that playback (or a
        forward step) passes over, not those a seek jumps across."""
        async for state, crossed in self.updates():
            if on_action is not None:
                for action in crossed:
                    on_action(action)
            result = publish(state)
            if result is not None:
                await result

    async def updates(self) -> AsyncIterator[tuple[ClusterState, list[ActionRecord]]]:
        """``(state, actions crossed)`` each time the state shown changes, starting with the
        current one; runs until cancelled."""
        self._anchor = self._now()
        shown = self._index
        yield self.state, []
        while True:
            if self._playing and not self.at_end:
                woke = await self._wait(self._due_in())
                if not woke and self._playing:
                    cursor = self._cursor()
                    target = max(self._index + 1, self.recording.seek(cursor))
                    self._index = min(target, len(self._times) - 1)
                    if self.at_end:
                        self._playing = False
            else:
                await self._wait(None)
            if self._index != shown:
                crossed: list[ActionRecord] = []
                if not self._jumped and self._index > shown:
                    crossed = self.recording.actions_between(self._times[shown], self._times[self._index])
                self._jumped = False
                shown = self._index
                yield self.state, crossed

    def _due_in(self) -> float:
        """Real seconds until the cursor reaches the next state; silences longer than
        ``max_gap`` recorded seconds are cut down to it."""
        cursor = self._cursor()
        remaining = self._times[self._index + 1] - cursor
        if remaining > self.max_gap:
            self._pos += remaining - self.max_gap
            remaining = self.max_gap
        return max(0.0, remaining / self._speed)

    async def _wait(self, timeout: float | None) -> bool:
        """True if a control woke us before ``timeout``."""
        try:
            async with asyncio.timeout(timeout):
                await self._changed.wait()
        except TimeoutError:
            return False
        self._changed.clear()
        return True

    def _now(self) -> float:
        return self._clock()

    def _cursor(self) -> float:
        if not self._playing:
            return self._pos
        return self._pos + (self._now() - self._anchor) * self._speed

    def _reanchor(self) -> None:
        self._pos = self._cursor()
        self._anchor = self._now()


def _clamp_speed(speed: float) -> float:
    if not math.isfinite(speed) or speed <= 0:
        return 1.0
    return min(max(speed, MIN_SPEED), MAX_SPEED)


def _clock(seconds: float) -> str:
    seconds = max(0, int(seconds))
    return f"{seconds // 3600:02d}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"
