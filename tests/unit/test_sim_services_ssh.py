"""The cockpit's own poll script over real SSH to simulated nodes, read by the cockpit's own parsers.

Containers (ps JSON + inspect counts), units (systemctl show + /proc/uptime) and GPU processes
(nvidia-smi + /proc/PID/cgroup) must come out as the parsers expect from real machines: the
container that owns a GPU process is found by its cgroup, a crash loop is seen, a failed unit is
failed since the moment it failed.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

import asyncssh
import pytest

from cockpit.config import load_cluster
from cockpit.sim import SimCluster
from cockpit.sources import containers, gpu_procs, probes, units

REPO = Path(__file__).resolve().parents[2]
T0 = 1_795_361_966.0


class Clock:
    def __init__(self) -> None:
        self.t = T0

    def __call__(self) -> float:
        return self.t


@pytest.fixture
async def sim(tmp_path: Path) -> AsyncIterator[SimCluster]:
    cluster = load_cluster(REPO / "cluster.yaml")
    nodes = ["hydra-ai", "hydra-storage"]
    async with SimCluster(cluster, state_dir=tmp_path, known_hosts=tmp_path / "kh", clock=Clock(),
                          ephemeral_ports=True, nodes=nodes) as s:  # fmt: skip
        yield s


async def run(sim: SimCluster, node: str, command: str) -> str:
    host, port = sim.addresses[node]
    user = sim.cluster.node(node).user or sim.cluster.ssh.user
    async with asyncssh.connect(host, port, known_hosts=str(sim.known_hosts), username=user,
                                client_keys=None, agent_path=None) as conn:  # fmt: skip
        return str((await conn.run(command)).stdout)


async def poll(
    sim: SimCluster, node: str, *, units_: tuple[str, ...] = (), pids: tuple[int, ...] = ()
) -> dict:
    host, port = sim.addresses[node]
    user = sim.cluster.node(node).user or sim.cluster.ssh.user
    nonce = probes.new_nonce()
    script = probes.build_script(["host", "gpus", "containers"], nonce, first=False, gpu_timeout=5,
                                 units=units_, pids=pids)  # fmt: skip
    async with asyncssh.connect(host, port, known_hosts=str(sim.known_hosts), username=user,
                                client_keys=None, agent_path=None) as conn:  # fmt: skip
        result = await conn.run(script)
    return probes.split_parts(str(result.stdout), nonce)


async def test_gpu_process_owned_by_container_found_through_cgroups(sim: SimCluster) -> None:
    first = await poll(sim, "hydra-ai", units_=("tabbyapi", "ollama"))
    procs = gpu_procs.parse_compute_apps(first["procs"].text, first["procs"].rc)
    assert not isinstance(procs, Exception) and len(procs) == 2
    second = await poll(sim, "hydra-ai", units_=("tabbyapi", "ollama"), pids=tuple(p.pid for p in procs))
    owners = gpu_procs.with_containers(procs, gpu_procs.parse_cgroups(second["cgroups"].text))
    listed = containers.parse_containers(second["docker_ps"].text, second["docker_ps"].rc,
                                         second["docker_inspect"].text, second["docker_inspect"].rc)  # fmt: skip
    assert not isinstance(listed, Exception)
    webui = next(c for c in listed if c.name == "open-webui")
    assert [p.container_id for p in owners] == [None, webui.id], (
        "tabbyapi runs on the host, Open WebUI in docker"
    )
    assert webui.state == "running"
    counts = containers.parse_inspect(await run(sim, "hydra-ai", containers.DOCKER_INSPECT))
    assert counts == {webui.id: (0, 0)}
    now = sim.clock()
    uptime = probes.parse_uptime(second["uptime"].text)
    found = units.parse_units(second["units"].text, second["units"].rc, ["tabbyapi", "ollama"], uptime, now)
    assert not isinstance(found, Exception)
    assert [(u.name, u.active, u.load) for u in found] == [
        ("tabbyapi", "active", "loaded"),
        ("ollama", "inactive", "not-found"),
    ]
    sim.set_unit("hydra-ai", "tabbyapi", "failed")
    sim.clock.t += 60  # type: ignore[attr-defined]
    third = await poll(sim, "hydra-ai", units_=("tabbyapi",))
    now = sim.clock()
    tabby = units.parse_units(
        third["units"].text, third["units"].rc, ["tabbyapi"], probes.parse_uptime(third["uptime"].text), now
    )
    assert not isinstance(tabby, Exception)
    assert tabby[0].active == "failed" and tabby[0].since == pytest.approx(now - 60, abs=1)
    gone = gpu_procs.parse_compute_apps(third["procs"].text, third["procs"].rc)
    assert [p.pid for p in gone] == [procs[1].pid], "the failed unit's process left the GPU"


async def test_crash_loop_seen_by_the_container_parser(sim: SimCluster) -> None:
    sim.set_container("hydra-storage", "litellm", "crash-loop")
    seen: dict[str, int] = {}
    looping: set[str] = set()
    for _ in range(6):
        sim.clock.t += 7  # type: ignore[attr-defined]
        parts = await poll(sim, "hydra-storage")
        listed = containers.parse_containers(parts["docker_ps"].text, parts["docker_ps"].rc,
                                             parts["docker_inspect"].text, parts["docker_inspect"].rc)  # fmt: skip
        assert not isinstance(listed, Exception) and len(listed) == 6
        assert {c.project for c in listed} == {"hydra-stack"}
        ids = containers.crash_looping(seen, listed)
        looping |= {c.name for c in listed if c.id in ids}
        seen = containers.restart_counts(listed)
    assert looping == {"litellm"}
    assert "gpus" in parts and parts["gpus"].rc == 127, "hydra-storage has no nvidia-smi"


async def test_follow_streams_until_the_channel_closes(tmp_path: Path) -> None:
    cluster = load_cluster(REPO / "cluster.yaml")
    start = time.monotonic()
    clock = lambda: T0 + (time.monotonic() - start) * 20  # noqa: E731  (20 simulated seconds a second)
    async with SimCluster(cluster, state_dir=tmp_path, known_hosts=tmp_path / "kh", clock=clock,
                          ephemeral_ports=True, nodes=["hydra-storage"]) as sim:  # fmt: skip
        host, port = sim.addresses["hydra-storage"]
        async with asyncssh.connect(host, port, known_hosts=str(sim.known_hosts), username="root",
                                    client_keys=None, agent_path=None) as conn:  # fmt: skip
            proc = await conn.create_process("docker logs -f --tail 1 litellm 2>&1")
            lines = []
            async with asyncio.timeout(10):
                while len(lines) < 4:
                    lines.append(await proc.stdout.readline())
            proc.close()
            await proc.wait_closed()
            assert all(line.startswith("INFO:     ") for line in lines)
            again = await conn.run("echo still here")
            assert again.stdout == "still here\n"
