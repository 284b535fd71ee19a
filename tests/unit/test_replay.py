"""ReplaySource: pace, pause, seek and step, driven the way the app drives the engine."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from cockpit.recording import Recorder, Recording, RecordingError
from cockpit.replay import ReplaySource
from cockpit.state import ClusterState
from tests.unit.test_recording import synthetic, write


def recording_of(tmp_path: Path, n: int = 10, **kw: float) -> Recording:
    return Recording.load(write(tmp_path / "r.gz", synthetic(n, **kw)))


class Screen:
    """A publish callback that remembers what it was shown, and when."""

    def __init__(self, delay: float = 0.0, awaitable: bool = False) -> None:
        self.seqs: list[int] = []
        self.times: list[float] = []
        self.delay = delay
        self.awaitable = awaitable
        self.changed = asyncio.Event()

    def __call__(self, state: ClusterState) -> Awaitable[None] | None:
        self.seqs.append(state.seq)
        self.times.append(time.monotonic())
        self.changed.set()
        if self.awaitable or self.delay:
            return asyncio.sleep(self.delay)
        return None

    async def until(self, check: Callable[[], bool], timeout: float = 5.0) -> None:
        async with asyncio.timeout(timeout):
            while not check():
                self.changed.clear()
                await self.changed.wait()


async def start(source: ReplaySource, screen: Screen, **kw: object) -> asyncio.Task[None]:
    task = asyncio.create_task(source.run(screen, **kw))  # type: ignore[arg-type]
    await screen.until(lambda: bool(screen.seqs))
    return task


async def stop(task: asyncio.Task[None]) -> None:
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_plays_every_state_at_the_recorded_pace_scaled_by_speed(tmp_path: Path) -> None:
    source = ReplaySource(recording_of(tmp_path, 10), speed=20)  # 1 s apart -> 50 ms apart
    screen = Screen(awaitable=True)
    began = time.monotonic()
    task = await start(source, screen)
    await screen.until(lambda: screen.seqs[-1] == 10)
    took = time.monotonic() - began
    await stop(task)
    assert screen.seqs == list(range(1, 11))
    assert 0.40 <= took < 1.5, took  # 9 gaps of 50 ms, without drift
    assert not source.playing and source.at_end
    assert source.describe() == "⏸ ×20  00:00:09 / 00:00:09  #10/10"


async def test_pause_holds_and_play_resumes(tmp_path: Path) -> None:
    source = ReplaySource(recording_of(tmp_path, 10), speed=20)
    screen = Screen()
    task = await start(source, screen)
    await screen.until(lambda: screen.seqs[-1] >= 3)
    source.pause()
    held = screen.seqs[-1]
    await asyncio.sleep(0.25)
    assert screen.seqs[-1] == held
    source.play(speed=100)
    await screen.until(lambda: screen.seqs[-1] == 10)
    await stop(task)
    assert screen.seqs == list(range(1, 11))


async def test_seek_step_and_skip_publish_at_once_and_clamp(tmp_path: Path) -> None:
    source = ReplaySource(recording_of(tmp_path, 10), playing=False)
    screen = Screen()
    task = await start(source, screen)
    source.seek(4.5)  # seconds from the start: the state recorded at or before it
    await screen.until(lambda: screen.seqs[-1] == 5)
    source.step(2)
    await screen.until(lambda: screen.seqs[-1] == 7)
    source.step(-3)
    await screen.until(lambda: screen.seqs[-1] == 4)
    source.skip(100)
    await screen.until(lambda: screen.seqs[-1] == 10)
    source.seek(-5)
    await screen.until(lambda: screen.seqs[-1] == 1)
    source.seek_index(8)
    await screen.until(lambda: screen.seqs[-1] == 9)
    await stop(task)
    assert screen.seqs == [1, 5, 7, 4, 10, 1, 9]
    assert not source.playing and source.position == 8.0


async def test_play_at_the_end_starts_over(tmp_path: Path) -> None:
    source = ReplaySource(recording_of(tmp_path, 3), speed=100)
    screen = Screen()
    task = await start(source, screen)
    await screen.until(lambda: screen.seqs[-1] == 3)
    source.play()
    await screen.until(lambda: screen.seqs.count(3) == 2)
    await stop(task)
    assert screen.seqs == [1, 2, 3, 1, 2, 3]


async def test_a_slow_screen_skips_ahead_instead_of_falling_behind(tmp_path: Path) -> None:
    source = ReplaySource(recording_of(tmp_path, 40), speed=100)  # 10 ms apart: 0.4 s in all
    screen = Screen(delay=0.1)
    began = time.monotonic()
    task = await start(source, screen)
    await screen.until(lambda: screen.seqs[-1] == 40)
    took = time.monotonic() - began
    await stop(task)
    assert took < 1.2, took
    assert len(screen.seqs) < 15 and screen.seqs == sorted(screen.seqs)


async def test_long_silences_are_shortened(tmp_path: Path) -> None:
    path = tmp_path / "r.gz"
    states = synthetic(4)
    with Recorder(path) as recorder:
        for i, state in enumerate(states):
            recorder.record(state.__class__(**{**_fields(state), "at": state.at + (3600 if i >= 2 else 0)}))
    source = ReplaySource(Recording.load(path), speed=10, max_gap=0.5)
    screen = Screen()
    began = time.monotonic()
    task = await start(source, screen)
    await screen.until(lambda: screen.seqs[-1] == 4)
    await stop(task)
    assert time.monotonic() - began < 1.0  # an hour of silence played as 0.5 recorded seconds


def _fields(state: ClusterState) -> dict[str, object]:
    return {name: getattr(state, name) for name in state.__dataclass_fields__ if not name.startswith("_")}


async def test_actions_crossed_by_playback_are_reported_not_those_jumped(tmp_path: Path) -> None:
    path = tmp_path / "r.gz"
    clock = iter([0.0, 1_003.5, 1_007.5])  # the header, then each action as it ends
    with Recorder(path, clock=lambda: next(clock, 0.0)) as recorder:
        for state in synthetic(10):
            recorder.record(state)
        recorder.record_action("restart", "hydra-ai", "docker restart tabbyapi", [("stdout", "ok")], "ok")
        recorder.record_action("reboot", "hydra-ai", "sudo reboot", [], "ok")
    recording = Recording.load(path)
    seen: list[str] = []
    source = ReplaySource(recording, speed=50)
    screen = Screen()
    task = await start(source, screen, on_action=lambda a: seen.append(a.action))
    await screen.until(lambda: screen.seqs[-1] == 5)
    source.pause()
    source.seek(9)  # jumps over the reboot: shown in the log, not announced
    await screen.until(lambda: screen.seqs[-1] == 10)
    await stop(task)
    assert seen == ["restart"]
    assert [a.action for a in source.actions_so_far()] == ["restart", "reboot"]


async def test_a_recording_without_states_cannot_be_replayed(tmp_path: Path) -> None:
    path = tmp_path / "empty.gz"
    Recorder(path).close()
    with pytest.raises(RecordingError, match="holds no cluster state to replay"):
        ReplaySource(Recording.load(path))


def test_recording_replay_and_init_import_no_textual() -> None:
    import json
    import subprocess
    import sys

    modules = ["cockpit.recording", "cockpit.replay", "cockpit.record_cli", "cockpit.init_config"]
    code = (
        f"import json, sys\nfor name in {modules!r}: __import__(name)\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] == 'textual')))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout) == []
