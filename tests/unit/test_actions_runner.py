"""The runner against the simulator's real SSH servers on loopback, and locally without a shell.

The OpenSSH tier (tests/integration/test_actions_openssh.py) proves that a cancel leaves nothing
running on a real node; the simulator is where streaming, exit status, dropped connections and bulk
runs are checked quickly on every unit run.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from cockpit.actions.render import NodeTarget, Subject, render
from cockpit.actions.runner import Invocation, Outcome, run, run_bulk
from cockpit.config import Cluster
from cockpit.sim import SimCluster
from cockpit.sources.ssh import SshPool
from tests.action_helpers import Lines, action
from tests.unit.test_engine_sim import make_cluster, start_sim


class Lab:
    def __init__(self, sim: SimCluster, cluster: Cluster) -> None:
        self.sim, self.cluster = sim, cluster
        self.pool = SshPool(cluster)

    def invocation(self, command: str, node: str = "gpu-a", **fields: Any) -> Invocation:
        target = NodeTarget.from_config(self.cluster.node(node), self.cluster)
        return render(action(command, **fields), Subject(node=target), {})


@pytest.fixture
async def lab(tmp_path: Path) -> AsyncIterator[Lab]:
    sim, cluster = await start_sim(tmp_path, make_cluster(tmp_path, ["gpu-a", "gpu-b", "gpu-c", "gpu-d"]))
    lab = Lab(sim, cluster)
    try:
        yield lab
    finally:
        await lab.pool.close()
        await sim.stop()


async def test_streams_in_order_with_stderr_apart_and_the_exit_status(lab: Lab) -> None:
    sink = Lines()
    inv = lab.invocation(
        "printf '%s\\n' 1 2 3 4 5; echo oops >&2; printf 'a\\033[2Jb\\033]0;x\\007c'; exit 3"
    )
    result = await run(inv, lab.pool, sink, audit=None)
    assert result.outcome is Outcome.FAILED and result.exit_status == 3 and result.error is None
    assert sink.of("stdout") == ["1", "2", "3", "4", "5", "abc"], "escapes stripped, last line unterminated"
    assert sink.of("stderr") == ["oops"], "the runner's PID line never reaches the operator"
    assert result.bytes_out == len("1\n2\n3\n4\n5\noops\na\x1b[2Jb\x1b]0;x\x07c")
    assert result.summary == "failed (exit 3)"
    ok = await run(lab.invocation("echo fine"), lab.pool, Lines(), audit=None)
    assert ok.ok and ok.exit_status == 0 and ok.summary == "ok"


async def test_following_streams_until_cancelled(lab: Lab) -> None:
    sink = Lines()
    cancel = asyncio.Event()
    ticks = " ".join(str(i) for i in range(1, 9))
    inv = lab.invocation(f"for i in {ticks}; do echo tick $i; sleep 0.05; done; sleep 1000", timeout=None)
    task = asyncio.create_task(run(inv, lab.pool, sink, audit=None, cancel=cancel))
    await sink.wait_for("tick 3")
    assert not task.done(), "lines arrive while the command runs, not at its end"
    await sink.wait_for("tick 8")
    cancel.set()
    result = await asyncio.wait_for(task, 10)
    assert result.outcome is Outcome.CANCELLED and result.cancelled and result.exit_status is None
    assert sink.of("stdout") == [f"tick {i}" for i in range(1, 9)]
    again = await run(lab.invocation("echo after"), lab.pool, Lines(), audit=None)
    assert again.ok, "the node's connection survives a cancelled channel"


async def test_timeout_stops_the_command(lab: Lab) -> None:
    started = time.monotonic()
    result = await run(lab.invocation("sleep 1000", timeout=0.3), lab.pool, Lines(), audit=None)
    assert result.outcome is Outcome.TIMED_OUT
    assert result.error == "timed out after 0.3 s; the command was stopped"
    assert time.monotonic() - started < 5


async def test_a_connection_dropped_mid_stream_says_so(lab: Lab) -> None:
    sink = Lines()
    task = asyncio.create_task(run(lab.invocation("echo started; sleep 1000"), lab.pool, sink, audit=None))
    await sink.wait_for("started")
    await lab.sim.stop_node("gpu-a")
    result = await asyncio.wait_for(task, 10)
    assert result.outcome is Outcome.LOST, result
    assert result.error is not None and result.error.startswith("connection lost mid-run")
    assert "may still be running" in result.error
    down = await run(lab.invocation("echo hi"), lab.pool, Lines(), audit=None)
    assert down.outcome is Outcome.UNREACHABLE and down.error and "connection refused" in down.error


async def test_cancelling_the_task_stops_the_command_and_propagates(lab: Lab) -> None:
    sink = Lines()
    task = asyncio.create_task(run(lab.invocation("echo started; sleep 1000"), lab.pool, sink, audit=None))
    await sink.wait_for("started")
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(task, 10)
    assert (await run(lab.invocation("echo still"), lab.pool, Lines(), audit=None)).ok


async def test_bulk_runs_with_a_bound_and_a_result_per_node(lab: Lab) -> None:
    await lab.sim.stop_node("gpu-d")
    names = ["gpu-a", "gpu-b", "gpu-c", "gpu-d"]
    invocations = [lab.invocation("sleep 0.4; echo {node}", node=name) for name in names]
    seen: list[tuple[str | None, str]] = []
    started = time.monotonic()
    results = await run_bulk(
        invocations,
        lab.pool,
        lambda inv, _stream, line: seen.append((inv.node, line)),
        concurrency=2,
        audit=None,
    )
    elapsed = time.monotonic() - started
    assert [r.node for r in results] == names
    assert [r.outcome for r in results] == [Outcome.OK, Outcome.OK, Outcome.OK, Outcome.UNREACHABLE]
    assert sorted(seen) == [("gpu-a", "gpu-a"), ("gpu-b", "gpu-b"), ("gpu-c", "gpu-c")]
    assert elapsed >= 0.8, f"3 x 0.4 s at 2 at a time took {elapsed:.2f}s: the bound was not kept"


async def test_bulk_cancel_leaves_the_rest_unstarted(lab: Lab) -> None:
    cancel = asyncio.Event()
    invocations = [lab.invocation("echo go; sleep 1000", node=n, timeout=None) for n in ("gpu-a", "gpu-b")]

    def sink(inv: Invocation, stream: str, line: str) -> None:
        cancel.set()

    results = await asyncio.wait_for(
        run_bulk(invocations, lab.pool, sink, concurrency=1, audit=None, cancel=cancel), 10
    )
    assert [r.outcome for r in results] == [Outcome.CANCELLED, Outcome.CANCELLED]
    assert results[1].error == "not started"


# -- run_on: local --------------------------------------------------------------------------------
def local(command: str, **fields: Any) -> Invocation:
    return render(action(command, scope="cluster", run_on="local", **fields), Subject(), {})


def _processes_with(text: str) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if text.encode() in Path(f"/proc/{entry}/cmdline").read_bytes():
                    found.append(int(entry))
            except OSError:
                pass
    return found


async def _eventually(check: Callable[[], bool], seconds: float = 5.0) -> bool:
    deadline = time.monotonic() + seconds
    while not check():
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.02)
    return True


async def test_local_runs_from_argv_without_a_shell() -> None:
    sink = Lines()
    inv = local("sh -c 'echo out; echo err >&2; exit 5' sh")
    assert inv.argv == ("sh", "-c", "echo out; echo err >&2; exit 5", "sh")
    result = await run(inv, None, sink, audit=None)
    assert result.exit_status == 5 and sink.of("stdout") == ["out"] and sink.of("stderr") == ["err"]
    literal = Lines()
    await run(local("printf %s *"), None, literal, audit=None)
    assert literal.of("stdout") == ["*"], "no shell: a glob stays a glob"
    missing = await run(local("no-such-command-here --x"), None, Lines(), audit=None)
    assert missing.outcome is Outcome.FAILED and missing.exit_status == 127
    assert missing.error == "no-such-command-here: command not found on this machine"


async def test_local_cancel_leaves_no_process() -> None:
    marker = f"1000.{os.getpid() % 9973}17"
    sink = Lines()
    cancel = asyncio.Event()
    task = asyncio.create_task(
        run(local(f"sh -c 'echo up; sleep {marker}; echo never' sh"), None, sink, audit=None, cancel=cancel)
    )
    try:
        await sink.wait_for("up")
        assert await _eventually(lambda: bool(_processes_with(f"sleep\0{marker}"))), "the command runs"
    finally:
        cancel.set()
        result = await asyncio.wait_for(task, 10)
    assert result.outcome is Outcome.CANCELLED
    assert _processes_with(f"sleep\0{marker}") == [], "the whole process group was stopped"
