"""``cockpit record FILE``: the engine without a screen, every state into a recording.

For a cron job or a tmux pane that keeps evidence while nobody watches; ``cockpit replay FILE``
shows it later. Stops after ``cycles`` states, or when cancelled (Ctrl-C), closing the file cleanly
either way (a kill -9 still leaves every flushed cycle readable).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path

from cockpit.config import Cluster
from cockpit.model import NodeStatus
from cockpit.recording import Recorder
from cockpit.state import ClusterState


def progress_line(state: ClusterState, recorder: Recorder) -> str:
    up = state.count(NodeStatus.UP)
    return (
        f"cycle {state.seq}: {up}/{len(state.nodes)} up, {len(state.alerts)} alerts,"
        f" {recorder.bytes_written / 1024:.0f} KiB"
    )


async def record_cycles(
    cluster: Cluster,
    path: Path,
    *,
    cycles: int | None = None,
    overwrite: bool = False,
    prepare: Callable[[], Awaitable[Cluster]] | None = None,
    after_stop: Callable[[], Awaitable[None]] | None = None,
    say: Callable[[str], None] = print,
) -> int:
    """Record until ``cycles`` states are written (None: until cancelled). ``prepare`` and
    ``after_stop`` are the app's hooks of the same names: the demo starts its simulated cluster
    (and a scenario's incident) in one and stops it in the other. Raises RecordingError (one line),
    or whatever ``prepare`` raises (SimError)."""
    from cockpit.engine import Engine

    recorder = Recorder(path, overwrite=overwrite, cluster=cluster)
    engine = None
    enough = asyncio.Event()
    try:
        if prepare is not None:
            cluster = await prepare()
        engine = Engine(cluster)

        def publish(state: ClusterState) -> None:
            recorder.record(state)
            say(progress_line(state, recorder))
            if cycles is not None and recorder.states >= cycles:
                enough.set()

        runner = asyncio.create_task(engine.run(publish))
        stopper = asyncio.create_task(enough.wait())
        try:
            await asyncio.wait({runner, stopper}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (runner, stopper):
                task.cancel()
            await asyncio.gather(runner, stopper, return_exceptions=True)
        failure = runner.exception() if runner.done() and not runner.cancelled() else None
        if failure is not None:
            raise failure  # a write error (RecordingError), said in one line by the caller
    finally:
        recorder.close()
        if recorder.states == 0:
            path.unlink(missing_ok=True)  # nothing recorded (the demo could not start): no empty file
        if engine is not None:
            await engine.close()
        if after_stop is not None:
            await after_stop()
    say(f"recorded {recorder.states} states to {path}")
    return 0
