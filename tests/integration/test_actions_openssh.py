"""Actions through a real OpenSSH sshd on loopback: quoting through the login shell, streaming, and a
cancel that leaves nothing running on the node (sshd runs on this machine, so /proc tells the truth).

Like the rest of this tier, these tests FAIL rather than skip when ``$CI`` is set (conftest.py).
"""

from __future__ import annotations

import asyncio
import os
import re
import time
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cockpit.actions.render import NodeTarget, RenderError, Subject, render
from cockpit.actions.runner import GRACE_S, Invocation, Outcome, run, run_bulk
from cockpit.actions.schema import ActionConfig
from cockpit.config import Cluster
from cockpit.sources.ssh import SshPool
from tests.action_helpers import Lines, action

pytestmark = pytest.mark.integration
NASTY = list("'\"\\$`;|&<>(){}*?[]~#!% \t-=x\u00e9\u2603")
ARGV = ActionConfig.model_validate(
    {
        "name": "argv",
        "scope": "container",
        "danger": "safe",
        "inputs": [{"name": "text", "type": "str"}],
        "command": "printf '%s\\0' {container} {input.text}",
    }
)


def invocation(cluster: Cluster, command: str, node: str = "a", **fields: Any) -> Invocation:
    target = NodeTarget.from_config(cluster.node(node), cluster)
    return render(action(command, **fields), Subject(node=target), {})


def processes_with(needle: str) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if needle.encode() in Path(f"/proc/{entry}/cmdline").read_bytes():
                    found.append(int(entry))
            except OSError:
                pass
    return found


async def eventually_none(needle: str, seconds: float = 3.0) -> list[int]:
    deadline = time.monotonic() + seconds
    while (left := processes_with(needle)) and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    return left


def test_quoting_survives_the_real_login_shell(lab) -> None:
    """Whatever a container name or an input holds, the node's shell sees exactly that argument."""
    srv = lab.server("a")
    cluster = lab.cluster([{"name": "a", "host": "127.0.0.1", "port": srv.port}])
    target = NodeTarget.from_config(cluster.node("a"), cluster)
    loop = asyncio.new_event_loop()
    pool = SshPool(cluster)
    try:
        conn = loop.run_until_complete(pool.connection("a"))

        @settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
        @given(
            container=st.one_of(st.text(max_size=40), st.text(alphabet=st.sampled_from(NASTY), min_size=1)),
            text=st.one_of(st.text(max_size=40), st.text(alphabet=st.sampled_from(NASTY), min_size=1)),
        )
        def check(container: str, text: str) -> None:
            try:
                inv = render(ARGV, Subject(node=target, container=container), {"text": text})
            except RenderError:
                return
            done = loop.run_until_complete(conn.run(inv.command, encoding=None, check=True))
            assert isinstance(done.stdout, bytes)
            assert done.stdout.split(b"\0")[:-1] == [container.encode(), text.encode()]

        check()
    finally:
        loop.run_until_complete(pool.close())
        loop.close()


async def test_runner_keeps_hostile_values_whole(lab) -> None:
    """The same through the runner (its PID line included), read back as hex so no byte is lost."""
    srv = lab.server("a")
    cluster = lab.cluster([{"name": "a", "host": "127.0.0.1", "port": srv.port}])
    target = NodeTarget.from_config(cluster.node("a"), cluster)
    hexdump = ActionConfig.model_validate(
        {
            "name": "hex",
            "scope": "container",
            "danger": "safe",
            "command": "printf %s {container} | od -An -tx1",
        }
    )
    pool = SshPool(cluster)
    try:
        for name in ["x; touch /tmp/pwned", "$(reboot)", "`id`", "a'b\"c\\d", "web ${IFS} *", "é☃"]:
            sink = Lines()
            inv = render(hexdump, Subject(node=target, container=name), {})
            result = await run(inv, pool, sink, audit=None)
            assert result.ok, result
            assert bytes.fromhex("".join(sink.of("stdout"))) == name.encode()
    finally:
        await pool.close()
    assert not Path("/tmp/pwned").exists()


async def test_streams_stdout_and_stderr_apart_with_the_exit_status(lab) -> None:
    srv = lab.server("a")
    cluster = lab.cluster([{"name": "a", "host": "127.0.0.1", "port": srv.port}])
    pool = SshPool(cluster)
    sink = Lines()
    command = "printf 'one\\ntwo\\n'; echo warn >&2; printf 'x\\033]0;pwned\\007y\\033[2Jz\\n'; exit 4"
    try:
        result = await run(invocation(cluster, command), pool, sink, audit=None)
    finally:
        await pool.close()
    assert result.outcome is Outcome.FAILED and result.exit_status == 4
    assert sink.of("stdout") == ["one", "two", "xyz"], "terminal escapes are stripped"
    assert sink.of("stderr") == ["warn"], "the PID line is the runner's, not the operator's"


async def test_cancel_leaves_nothing_running_on_the_node(lab) -> None:
    srv = lab.server("a")
    cluster = lab.cluster([{"name": "a", "host": "127.0.0.1", "port": srv.port}])
    marker = f"1000.{os.getpid() % 9973}1"
    pool = SshPool(cluster)
    sink = Lines()
    cancel = asyncio.Event()
    try:
        inv = invocation(cluster, f"echo started; sleep {marker}; echo never", timeout=None)
        task = asyncio.create_task(run(inv, pool, sink, audit=None, cancel=cancel))
        await sink.wait_for("started")
        deadline = time.monotonic() + 5
        while not processes_with(f"sleep\0{marker}"):
            assert time.monotonic() < deadline, "the command never ran on the node"
            await asyncio.sleep(0.02)
        cancel.set()
        result = await asyncio.wait_for(task, 15)
        assert result.outcome is Outcome.CANCELLED, result
        assert await eventually_none(f"sleep\0{marker}") == []
        # And as the node sees it, asked over a second SSH command ([s] keeps pgrep from finding itself).
        check = await pool.run("a", f"pgrep -f '[s]leep {marker}'; echo rc=$?", 10)
        assert check.stdout.strip().endswith("rc=1"), check.stdout
        assert "never" not in sink.of("stdout")
    finally:
        await pool.close()


async def test_a_command_ignoring_sigterm_gets_sigkill(lab) -> None:
    srv = lab.server("a")
    cluster = lab.cluster([{"name": "a", "host": "127.0.0.1", "port": srv.port}])
    marker = f"stubborn-{os.getpid()}"
    pool = SshPool(cluster)
    sink = Lines()
    command = f"exec sh -c 'trap \"\" TERM; echo armed; while :; do sleep 0.2; done' {marker}"
    try:
        task = asyncio.create_task(run(invocation(cluster, command, timeout=1), pool, sink, audit=None))
        await sink.wait_for("armed")
        started = time.monotonic()
        result = await asyncio.wait_for(task, 20)
        assert result.outcome is Outcome.TIMED_OUT, result
        assert time.monotonic() - started >= GRACE_S - 1.5, "TERM was ignored, so KILL came after the grace"
        assert await eventually_none(marker) == []
    finally:
        await pool.close()


async def test_a_connection_dropped_mid_stream_gives_a_clear_result(lab) -> None:
    srv = lab.server("a")
    cluster = lab.cluster([{"name": "a", "host": "127.0.0.1", "port": srv.port}])
    pool = SshPool(cluster)
    sink = Lines()
    try:
        task = asyncio.create_task(run(invocation(cluster, "echo started; sleep 30"), pool, sink, audit=None))
        await sink.wait_for("started")
        srv.stop()  # sshd and every session it serves go away: the TCP connection drops
        result = await asyncio.wait_for(task, 15)
    finally:
        await pool.close()
    assert result.outcome is Outcome.LOST, result
    assert result.error and re.match(
        r"connection lost mid-run \(.+\); the command may still be running", result.error
    )


async def test_bulk_gives_a_result_per_node(lab) -> None:
    a, b = lab.server("a"), lab.server("b")
    cluster = lab.cluster(
        [
            {"name": "a", "host": "127.0.0.1", "port": a.port},
            {"name": "b", "host": "127.0.0.1", "port": b.port},
            {"name": "gone", "host": "127.0.0.1", "port": lab.free_port()},
        ]
    )
    pool = SshPool(cluster)
    seen: list[tuple[str | None, str, str]] = []
    invocations = [
        invocation(cluster, "echo {node}", node="a"),
        invocation(cluster, "echo {node}; exit 2", node="b"),
        invocation(cluster, "echo {node}", node="gone"),
    ]
    try:
        results = await run_bulk(
            invocations,
            pool,
            lambda inv, s, line: seen.append((inv.node, s, line)),
            concurrency=2,
            audit=None,
        )
    finally:
        await pool.close()
    assert [(r.node, r.outcome, r.exit_status) for r in results] == [
        ("a", Outcome.OK, 0),
        ("b", Outcome.FAILED, 2),
        ("gone", Outcome.UNREACHABLE, None),
    ]
    assert results[2].error and "connection refused" in results[2].error
    assert sorted(seen) == [("a", "stdout", "a"), ("b", "stdout", "b")]
