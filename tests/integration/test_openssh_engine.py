"""The engine against real OpenSSH daemons: readings, one persistent connection, nvidia-smi failures."""

from __future__ import annotations

import asyncio
import re
import subprocess
from datetime import datetime
from pathlib import Path

import pytest

from cockpit.model import NodeStatus
from cockpit.snapshot import snapshot_json
from cockpit.sources.gpu_procs import COMPUTE_APPS
from cockpit.sources.probes import GPU_FIELDS

pytestmark = pytest.mark.integration

H100 = "NVIDIA H100 80GB HBM3"


def _local_mem_total() -> int:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no MemTotal in /proc/meminfo")


def _local_df() -> dict[str, int]:
    """Mount point -> size in bytes, from this machine's own ``df -P -k`` (sshd runs right here)."""
    out = subprocess.run(["df", "-P", "-k"], capture_output=True, text=True).stdout.splitlines()[1:]
    sizes = {}
    for line in out:
        match = re.match(r"^(.+?)\s+(\d+)\s+\d+\s+\d+\s+\d+%\s+(.+)$", line)
        if match:
            sizes[match[3]] = int(match[2]) * 1024
    return sizes


async def test_one_cycle_reads_host_and_gpus(lab, validate_snapshot):
    srv = lab.server("a", gpus=2)
    cluster = lab.cluster([{"name": "a", "host": "127.0.0.1", "port": srv.port, "tags": ["gpu"]}])
    async with lab.engine(cluster) as engine:
        state = await engine.cycle()

    node = lab.node(state, "a")
    assert node.status is NodeStatus.UP, node.error
    assert node.error is None and node.gpu_error is None
    host = node.host
    assert host is not None
    assert host.load1 is not None and host.load1 >= 0
    assert host.cpu_pct is not None and 0 <= host.cpu_pct <= 100, "the first poll samples /proc/stat twice"
    assert host.mem_total_bytes == _local_mem_total()
    assert host.mem_available_bytes is not None and 0 < host.mem_available_bytes <= host.mem_total_bytes
    assert host.uptime_s is not None and host.uptime_s > 0
    local = _local_df()
    mounts = {d.mount: d for d in host.disks}
    assert "/" in mounts, f"the root filesystem is missing from the disks: {sorted(mounts)} (df: {local})"
    for disk in host.disks:
        assert disk.size_bytes == local.get(disk.mount), disk
        assert disk.used_pct is not None and 0 <= disk.used_pct <= 100

    assert [g.index for g in node.gpus] == [0, 1]
    assert all(g.name == H100 and g.mem_total_mib == 81559 and g.power_limit_w == 700.0 for g in node.gpus)
    assert node.gpus[0].uuid == "GPU-634ded5f-3d6f-51f5-a5b5-62c1318497cf"
    assert all(g.util_pct is not None and 0 <= g.util_pct <= 100 for g in node.gpus)
    assert all(g.temp_c is not None and g.power_w is not None for g in node.gpus)
    # The fake was reached through the session's PATH, with the probe's own command line.
    calls = srv.nvidia_smi_calls()
    assert calls == [f"--query-gpu={','.join(GPU_FIELDS)} --format=csv,noheader,nounits"]
    assert srv.nvidia_smi_calls(gpu_queries_only=False)[1:] == [f"{COMPUTE_APPS.removeprefix('nvidia-smi ')}"]

    document = snapshot_json(state)
    validate_snapshot(document)
    datetime.fromisoformat(document["generated_at"].replace("Z", "+00:00"))
    (entry,) = document["nodes"]
    assert entry["status"] == "up" and entry["name"] == "a" and entry["tags"] == ["gpu"]
    assert len(entry["gpus"]) == 2 and entry["disks"] and entry["mem_total_bytes"] == host.mem_total_bytes


async def test_one_persistent_connection_many_channels(lab):
    srv = lab.server("a")
    cluster = lab.cluster([{"name": "a", "host": "127.0.0.1", "port": srv.port}])
    async with lab.engine(cluster) as engine:
        conns, sockets, served, last_ok = [], [], [], []
        for _ in range(4):
            state = await engine.cycle()
            node = lab.node(state, "a")
            assert node.status is NodeStatus.UP, node.error
            conns.append(await engine.pool.connection("a"))
            sockets.append(lab.own_connections(srv.port))
            served.append(srv.connection_count())
            last_ok.append(node.last_ok)

        assert all(conn is conns[0] for conn in conns), "the pool opened a new connection"
        assert len(sockets[0]) == 1 and all(s == sockets[0] for s in sockets), sockets
        assert served == [1, 1, 1, 1], "sshd forked more than one connection child"
        assert last_ok == sorted(set(last_ok)), "every cycle must bring a fresh answer"
        assert len(srv.nvidia_smi_calls()) == 4, "one probe batch (one channel) per cycle"

        # Several channels at the same time on the same connection: concurrent, not queued.
        loop = asyncio.get_running_loop()
        start = loop.time()
        results = await asyncio.gather(
            *(engine.pool.run("a", f"sleep 1; echo channel-{i}", 10) for i in range(4))
        )
        elapsed = loop.time() - start
        assert [r.stdout.strip() for r in results] == [f"channel-{i}" for i in range(4)]
        assert all(r.exit_status == 0 for r in results)
        assert elapsed < 2.5, f"4 x 1 s commands took {elapsed:.2f}s: channels did not run in parallel"
        assert lab.own_connections(srv.port) == sockets[0]
        assert srv.connection_count() == 1


@pytest.mark.parametrize(
    ("mode", "words"),
    [
        ("driver-error", "NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver"),
        ("no-devices", "No devices were found"),
    ],
)
async def test_nvidia_smi_failure_keeps_node_up_with_its_words(lab, validate_snapshot, mode, words):
    srv = lab.server("a")
    srv.set_nvidia_smi(mode)
    cluster = lab.cluster([{"name": "a", "host": "127.0.0.1", "port": srv.port}])
    async with lab.engine(cluster) as engine:
        state = await engine.cycle()
    node = lab.node(state, "a")
    assert node.status is NodeStatus.UP, node.error
    assert node.host is not None and node.host.load1 is not None, "the host probe is unaffected"
    assert node.gpus == ()
    assert node.gpu_error is not None and words in node.gpu_error
    assert node.error is not None and node.error.startswith("gpus:") and words in node.error
    document = snapshot_json(state)
    validate_snapshot(document)
    assert words in document["nodes"][0]["gpu_error"]


def _two_nodes(lab):
    hung, fine = lab.server("hung"), lab.server("fine")
    cluster = lab.cluster(
        [
            {"name": "hung", "host": "127.0.0.1", "port": hung.port},
            {"name": "fine", "host": "127.0.0.1", "port": fine.port},
        ]
    )
    return hung, cluster


async def test_nvidia_smi_hang_is_bounded_and_flagged_not_the_others(lab):
    """A wedged driver: nvidia-smi never answers. The node stays up (its host probe still answers),
    the last good GPUs stay on screen flagged by gpu_error, and the other node is not delayed."""
    hung, cluster = _two_nodes(lab)
    async with lab.engine(cluster) as engine:
        ticker = lab.ticker(engine)
        first = await ticker.first()
        good = lab.node(first, "hung")
        assert good.status is NodeStatus.UP and len(good.gpus) == 2, good.error

        hung.set_nvidia_smi("hang")
        fine_ok = [lab.node(first, "fine").last_ok]
        flagged = None
        for _ in range(10):
            state = await ticker.cycle()
            other = lab.node(state, "fine")
            assert other.status is NodeStatus.UP, other.error
            fine_ok.append(other.last_ok)
            node = lab.node(state, "hung")
            # Up, or stale for a moment while a poll waits out the hung nvidia-smi on a loaded
            # machine; never down, and never another reason.
            in_flight = node.status is NodeStatus.STALE and (node.error or "").startswith("no answer for")
            assert node.status is NodeStatus.UP or in_flight, node.error
            if node.gpu_error and node.status is NodeStatus.UP:
                flagged = node
                break
        assert flagged is not None, "a hanging nvidia-smi must show as a GPU probe error"
        assert "timed out" in flagged.gpu_error, flagged.gpu_error
        assert flagged.error is not None and flagged.error.startswith("gpus:"), flagged.error
        assert flagged.gpus == good.gpus, "the last good GPUs are kept (flagged), not dropped"
        assert flagged.last_ok > good.last_ok and flagged.host is not None, "the host probe is fresh"
        assert fine_ok == sorted(set(fine_ok)), "the healthy node answered every cycle"
        assert max(ticker.durations) < 0.95, ticker.durations

        hung.set_nvidia_smi("ok")
        for _ in range(4):
            state = await ticker.cycle()
            if lab.node(state, "hung").gpu_error is None:
                break
        recovered = lab.node(state, "hung")
        assert recovered.status is NodeStatus.UP and recovered.gpu_error is None, recovered.error
        assert recovered.gpus and recovered.gpus != good.gpus, "fresh GPU readings again"


async def test_hung_df_is_cut_short_and_named_not_the_others(lab):
    """`df` hangs (a dead NFS mount): coreutils timeout cuts it inside the poll, the node stays up
    with the reason in its error (the runbook's "NFS stale"), and the other node keeps its cadence."""
    hung, cluster = _two_nodes(lab)
    async with lab.engine(cluster) as engine:
        ticker = lab.ticker(engine)
        first = await ticker.first()
        good = lab.node(first, "hung")
        assert good.status is NodeStatus.UP and len(good.gpus) == 2, good.error

        hung.set_df("hang")
        fine_ok = [lab.node(first, "fine").last_ok]
        flagged = None
        for _ in range(7):
            state = await ticker.cycle()
            other = lab.node(state, "fine")
            assert other.status is NodeStatus.UP, other.error
            fine_ok.append(other.last_ok)
            node = lab.node(state, "hung")
            if node.error and "df timed out" in node.error:
                flagged = node
                break
        assert flagged is not None, "a hanging df must be named"
        assert flagged.status is NodeStatus.UP
        assert flagged.error == "host: df timed out (a stale NFS mount?)"
        assert flagged.last_ok > good.last_ok, "the rest of the host probe is fresh"
        assert flagged.host is not None and flagged.host.load1 is not None
        assert fine_ok == sorted(set(fine_ok)), "the healthy node answered every cycle"
        assert max(ticker.durations) < 0.95, ticker.durations

        hung.set_df("ok")
        for _ in range(4):
            state = await ticker.cycle()
            if lab.node(state, "hung").error is None:
                break
        recovered = lab.node(state, "hung")
        assert recovered.status is NodeStatus.UP and recovered.error is None, recovered.error
        assert recovered.host.disks


async def test_hung_nvidia_smi_does_not_pile_up_on_the_node(lab):
    srv = lab.server("a")
    cluster = lab.cluster([{"name": "a", "host": "127.0.0.1", "port": srv.port}])
    async with lab.engine(cluster) as engine:
        ticker = lab.ticker(engine)
        await ticker.first()
        srv.set_nvidia_smi("hang")
        for _ in range(6):
            await ticker.cycle()
        calls = len(srv.nvidia_smi_calls())
        alive = srv.running_nvidia_smi()
    assert calls >= 3, "at least two polls timed out"
    assert alive <= 1, f"{alive} nvidia-smi processes still hang on the node after {calls - 1} polls"
