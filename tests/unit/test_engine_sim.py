"""The SSH engine against real asyncssh servers (the simulator) on loopback: faults and recovery."""

from __future__ import annotations

import asyncio
import itertools
import time
from pathlib import Path

import asyncssh
import pytest

from cockpit.config import Cluster
from cockpit.engine import Engine
from cockpit.model import NodeStatus
from cockpit.prom_config import NvmlConfig
from cockpit.sim import SimCluster


def make_cluster(tmp_path: Path, names: list[str], **ssh: object) -> Cluster:
    nodes = []
    for name in names:
        node: dict[str, object] = {"name": name, "host": "127.0.0.1", "port": 1}
        if name.startswith("gpu"):
            node["sim"] = {"gpus": ["NVIDIA GeForce RTX 4090"]}
        else:
            node["sim"] = {"nvidia_smi": "missing"}
            node["probes"] = ["host"]
        nodes.append(node)
    settings = {
        "known_hosts": str(tmp_path / "known_hosts"),
        "config_file": None,
        "agent": False,
        "connect_timeout": 1,
        # Generous enough for a loaded 2-core CI machine; timeout tests make commands slower.
        "command_timeout": 2,
        **ssh,
    }
    return Cluster.model_validate({"cluster": "t", "refresh": 1, "ssh": settings, "nodes": nodes})


async def start_sim(tmp_path: Path, cluster: Cluster, **options: object) -> tuple[SimCluster, Cluster]:
    sim = SimCluster(cluster, state_dir=tmp_path / "sim", ephemeral_ports=True, **options)
    await sim.start()
    return sim, sim.effective_cluster()


def status(state, name: str):
    node = state.node(name)
    assert node is not None
    return node.status, node.error


async def test_one_cycle_reads_host_and_gpus(tmp_path: Path) -> None:
    sim, cluster = await start_sim(tmp_path, make_cluster(tmp_path, ["gpu-a", "cpu-b"]))
    engine = Engine(cluster)
    try:
        state = await engine.cycle()
        a, b = state.node("gpu-a"), state.node("cpu-b")
        assert a.status is NodeStatus.UP and b.status is NodeStatus.UP
        assert a.host.load1 is not None and a.host.cpu_pct is not None and a.host.disks
        assert [g.name for g in a.gpus] == ["NVIDIA GeForce RTX 4090"]
        assert a.gpus[0].power_limit_w == 450.0
        assert b.gpus == () and b.gpu_error is None
    finally:
        await engine.close()
        await sim.stop()


async def test_connection_is_reused_across_cycles(tmp_path: Path) -> None:
    sim, cluster = await start_sim(tmp_path, make_cluster(tmp_path, ["gpu-a"]))
    engine = Engine(cluster)
    try:
        await engine.cycle()
        first = await engine.pool.connection("gpu-a")
        for _ in range(3):
            state = await engine.cycle()
        assert await engine.pool.connection("gpu-a") is first
        assert state.node("gpu-a").host.cpu_pct is not None
        assert len(state.history.values("gpu-a", 0, "util")) == 4
        gpu, host = state.node("gpu-a").gpus[0], state.node("gpu-a").host
        # Whole percentages (of the power limit for power), as the panes show them: 1 byte a point.
        assert state.history.values("gpu-a", 0, "power_pct")[-1] == round(
            100 * gpu.power_w / gpu.power_limit_w
        )
        assert state.history.values("gpu-a", 0, "mem")[-1] == round(gpu.mem_pct)
        assert state.history.values("gpu-a", "cpu")[-1] == round(host.cpu_pct)
        rings = [state.history.history.ring(("gpu-a", 0, m)) for m in ("util", "temp", "power_pct", "mem")]
        assert [r.values.typecode for r in rings] == ["B"] * 4
    finally:
        await engine.close()
        await sim.stop()


async def test_unknown_host_key_is_refused(tmp_path: Path) -> None:
    sim, cluster = await start_sim(tmp_path, make_cluster(tmp_path, ["gpu-a"]))
    (tmp_path / "known_hosts").write_text("")
    engine = Engine(cluster)
    try:
        state = await engine.cycle()
        st, error = status(state, "gpu-a")
        assert st is NodeStatus.DOWN and error.startswith("host key unknown")
    finally:
        await engine.close()
        await sim.stop()


async def test_changed_host_key_is_refused_even_with_accept_new(tmp_path: Path) -> None:
    sim, cluster = await start_sim(tmp_path, make_cluster(tmp_path, ["gpu-a"], host_key_policy="accept-new"))
    await sim.rotate_host_key("gpu-a")
    before = (tmp_path / "known_hosts").read_text()
    engine = Engine(cluster)
    try:
        state = await engine.cycle()
        st, error = status(state, "gpu-a")
        assert st is NodeStatus.DOWN and error.startswith("host key changed")
        assert (tmp_path / "known_hosts").read_text() == before
    finally:
        await engine.close()
        await sim.stop()


async def test_accept_new_records_an_unknown_key(tmp_path: Path) -> None:
    sim, cluster = await start_sim(tmp_path, make_cluster(tmp_path, ["gpu-a"], host_key_policy="accept-new"))
    known = tmp_path / "known_hosts"
    known.unlink()
    engine = Engine(cluster)
    try:
        state = await engine.cycle()
        assert status(state, "gpu-a")[0] is NodeStatus.UP
        port = cluster.node("gpu-a").port
        assert known.read_text().startswith(f"[127.0.0.1]:{port} ssh-ed25519 ")
        assert known.stat().st_mode & 0o777 == 0o600
    finally:
        await engine.close()
        await sim.stop()


async def test_auth_failure(tmp_path: Path) -> None:
    allowed = asyncssh.generate_private_key("ssh-ed25519")
    mine = asyncssh.generate_private_key("ssh-ed25519")
    mine.write_private_key(str(tmp_path / "id_ed25519"))
    cluster = make_cluster(tmp_path, ["gpu-a"], identity_file=str(tmp_path / "id_ed25519"))
    sim, cluster = await start_sim(tmp_path, cluster, authorized_keys=[allowed])
    engine = Engine(cluster)
    try:
        state = await engine.cycle()
        st, error = status(state, "gpu-a")
        assert st is NodeStatus.DOWN and error.startswith("auth failed")
    finally:
        await engine.close()
        await sim.stop()


async def test_right_key_authenticates(tmp_path: Path) -> None:
    key = asyncssh.generate_private_key("ssh-ed25519")
    key.write_private_key(str(tmp_path / "id_ed25519"))
    cluster = make_cluster(tmp_path, ["gpu-a"], identity_file=str(tmp_path / "id_ed25519"))
    sim, cluster = await start_sim(tmp_path, cluster, authorized_keys=[key])
    engine = Engine(cluster)
    try:
        assert status(await engine.cycle(), "gpu-a")[0] is NodeStatus.UP
    finally:
        await engine.close()
        await sim.stop()


async def test_refused_port(tmp_path: Path) -> None:
    sim, cluster = await start_sim(tmp_path, make_cluster(tmp_path, ["gpu-a", "cpu-b"]))
    await sim.stop_node("cpu-b")
    engine = Engine(cluster)
    try:
        state = await engine.cycle()
        st, error = status(state, "cpu-b")
        assert st is NodeStatus.DOWN and error.startswith("connection refused")
        assert status(state, "gpu-a")[0] is NodeStatus.UP
    finally:
        await engine.close()
        await sim.stop()


async def test_frozen_node_does_not_delay_the_others(tmp_path: Path) -> None:
    """TCP connects but no banner: the frozen node times out on its own; others refresh on time."""
    sim, cluster = await start_sim(tmp_path, make_cluster(tmp_path, ["gpu-a", "cpu-b", "cpu-c"]))
    await sim.freeze_node("cpu-c")
    engine = Engine(cluster)
    try:
        durations = []
        last_ok = []
        for _ in range(4):
            started = time.perf_counter()
            state = await engine.cycle(wait=0.75)
            durations.append(time.perf_counter() - started)
            last_ok.append(state.node("gpu-a").last_ok)
            await asyncio.sleep(0.25)
        assert max(durations) < 0.9
        assert all(status(state, n)[0] is NodeStatus.UP for n in ("gpu-a", "cpu-b"))
        assert len(set(last_ok)) == 4, "gpu-a must have a fresh reading every cycle"
        st, error = status(state, "cpu-c")
        assert st is NodeStatus.DOWN and error.startswith("timeout")
        await sim.unfreeze_node("cpu-c")
        for _ in range(6):
            state = await engine.cycle(wait=0.75)
            if status(state, "cpu-c")[0] is NodeStatus.UP:
                break
            await asyncio.sleep(0.25)
        assert status(state, "cpu-c")[0] is NodeStatus.UP
    finally:
        await engine.close()
        await sim.stop()


async def test_reconnects_after_the_server_restarts(tmp_path: Path) -> None:
    sim, cluster = await start_sim(tmp_path, make_cluster(tmp_path, ["gpu-a"]))
    engine = Engine(cluster)
    try:
        assert status(await engine.cycle(), "gpu-a")[0] is NodeStatus.UP
        first = await engine.pool.connection("gpu-a")
        await sim.stop_node("gpu-a")
        state = await engine.cycle()
        assert status(state, "gpu-a")[0] is not NodeStatus.UP
        await sim.start_node("gpu-a")
        for _ in range(8):
            state = await engine.cycle()
            if status(state, "gpu-a")[0] is NodeStatus.UP:
                break
            await asyncio.sleep(0.3)
        assert status(state, "gpu-a")[0] is NodeStatus.UP
        assert await engine.pool.connection("gpu-a") is not first
    finally:
        await engine.close()
        await sim.stop()


async def test_hung_node_goes_stale_and_keeps_its_reading(tmp_path: Path) -> None:
    sim, cluster = await start_sim(tmp_path, make_cluster(tmp_path, ["gpu-a"]))
    engine = Engine(cluster)
    try:
        good = (await engine.cycle()).node("gpu-a")
        await sim.freeze_node("gpu-a")  # the open connection stops answering too
        node = (await engine.cycle()).node("gpu-a")
        assert node.status is NodeStatus.STALE
        assert node.error.startswith("command timed out")
        assert node.gpus == good.gpus and node.last_ok == good.last_ok
    finally:
        await sim.unfreeze_node("gpu-a")
        await engine.close()
        await sim.stop()


async def test_hung_nvidia_smi_is_cut_short_and_the_last_gpus_stay_flagged(tmp_path: Path) -> None:
    sim, cluster = await start_sim(tmp_path, make_cluster(tmp_path, ["gpu-a"]))
    engine = Engine(cluster)
    try:
        good = (await engine.cycle()).node("gpu-a")
        sim.slow_command("gpu-a", 5)
        node = (await engine.cycle()).node("gpu-a")
        assert node.status is NodeStatus.UP, "the host answered; only nvidia-smi hung"
        assert node.gpu_error == "nvidia-smi timed out (a hung driver?)"
        assert node.gpus == good.gpus
        assert node.last_ok > good.last_ok
        history = (await engine.cycle()).history.values("gpu-a", 0, "util")
        assert len(history) == 1, "stale GPU values are not recorded as new history"
    finally:
        await engine.close()
        await sim.stop()


@pytest.mark.parametrize(
    ("mode", "words"),
    [
        ("driver-error", "couldn't communicate with the NVIDIA driver"),
        ("no-devices", "No devices were found"),
    ],
)
async def test_nvidia_smi_failures_name_the_reason(tmp_path: Path, mode: str, words: str) -> None:
    sim, cluster = await start_sim(tmp_path, make_cluster(tmp_path, ["gpu-a"]))
    sim.set_nvidia_smi("gpu-a", mode)
    engine = Engine(cluster)
    try:
        node = (await engine.cycle()).node("gpu-a")
        assert node.status is NodeStatus.UP
        assert words in node.gpu_error
        assert node.gpus == ()
    finally:
        await engine.close()
        await sim.stop()


async def test_jump_host_chain_shares_the_jump_connection(tmp_path: Path) -> None:
    base = make_cluster(tmp_path, ["gpu-a", "gpu-b", "gpu-c"])
    sim, cluster = await start_sim(tmp_path, base)
    nodes = [cluster.nodes[0]] + [n.model_copy(update={"jump": "gpu-a"}) for n in cluster.nodes[1:]]
    cluster = cluster.model_copy(update={"nodes": nodes})
    engine = Engine(cluster)
    try:
        state = await engine.cycle()
        assert all(status(state, n)[0] is NodeStatus.UP for n in ("gpu-a", "gpu-b", "gpu-c"))
        jump = await engine.pool.connection("gpu-a")
        await engine.cycle()
        assert await engine.pool.connection("gpu-a") is jump
        await sim.stop_node("gpu-a")
        for _ in range(3):
            state = await engine.cycle()
            st, error = status(state, "gpu-b")
            if st is NodeStatus.DOWN:
                break
        assert st is NodeStatus.DOWN
        assert error.startswith("jump host down: gpu-a: connection refused")
    finally:
        await engine.close()
        await sim.stop()


async def test_polls_reuse_one_shell_channel_and_replace_it_after_a_timeout(tmp_path: Path) -> None:
    sim, cluster = await start_sim(tmp_path, make_cluster(tmp_path, ["gpu-a"]))
    engine = Engine(cluster)
    try:
        await engine.cycle()
        shell = engine.pool._entries["gpu-a"].shell
        assert shell is not None
        await engine.cycle()
        assert engine.pool._entries["gpu-a"].shell is shell
        await sim.freeze_node("gpu-a")
        await engine.cycle()
        assert engine.pool._entries["gpu-a"].shell is None, "a timed-out shell is closed"
        await sim.unfreeze_node("gpu-a")
        state = await engine.cycle()
        assert state.node("gpu-a").status is NodeStatus.UP
        assert engine.pool._entries["gpu-a"].shell not in (None, shell)
    finally:
        await engine.close()
        await sim.stop()


async def test_hosts_whose_shell_cannot_read_stdin_fall_back_to_one_exec_per_poll(tmp_path: Path) -> None:
    sim, cluster = await start_sim(tmp_path, make_cluster(tmp_path, ["gpu-a"]))
    engine = Engine(cluster)
    try:
        engine.pool._entries["gpu-a"].shell_failures = 3
        state = await engine.cycle()
        assert state.node("gpu-a").status is NodeStatus.UP
        assert state.node("gpu-a").gpus
        assert engine.pool._entries["gpu-a"].shell is None
    finally:
        await engine.close()
        await sim.stop()


async def test_ssh_config_alias_hostname_port_and_user_are_honoured(tmp_path: Path) -> None:
    """`host:` may be a ~/.ssh/config alias: HostName, Port and User come from that file."""
    sim, live = await start_sim(tmp_path, make_cluster(tmp_path, ["gpu-a"]))
    port = live.node("gpu-a").port
    ssh_config = tmp_path / "ssh_config"
    ssh_config.write_text(f"Host hydra-ai\n    HostName 127.0.0.1\n    Port {port}\n    User typhon\n")
    known = tmp_path / "known_hosts"
    # known_hosts names the real address; the alias resolves to it through HostName.
    cluster = Cluster.model_validate(
        {
            "cluster": "t",
            "refresh": 1,
            "ssh": {"known_hosts": str(known), "config_file": str(ssh_config), "agent": False},
            "nodes": [{"name": "gpu-a", "host": "hydra-ai"}],
        }
    )
    engine = Engine(cluster)
    try:
        state = await engine.cycle()
        assert status(state, "gpu-a")[0] is NodeStatus.UP, state.node("gpu-a").error
        conn = await engine.pool.connection("gpu-a")
        assert conn.get_extra_info("username") == "typhon"
        assert conn.get_extra_info("peername")[1] == port
    finally:
        await engine.close()
        await sim.stop()


async def test_a_cancelled_poll_never_leaves_its_answer_for_the_next(tmp_path: Path) -> None:
    """Cancel a poll mid-answer; the next poll must read its own fresh answer, not the old one."""
    sim, cluster = await start_sim(tmp_path, make_cluster(tmp_path, ["gpu-a"]))
    engine = Engine(cluster)
    try:
        await engine.cycle()
        sim.slow_command("gpu-a", 0.5)
        task = asyncio.create_task(engine.pool.poll("gpu-a", "echo first\nnvidia-smi -L\n", "@@m1", 5))
        await asyncio.sleep(0.2)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        sim.slow_command("gpu-a", 0)
        result = await engine.pool.poll("gpu-a", "echo second\n", "@@m2", 5)
        assert result.stdout.splitlines() == ["second", "@@m2"]
    finally:
        await engine.close()
        await sim.stop()


async def test_run_publishes_a_state_every_refresh(tmp_path: Path) -> None:
    sim, cluster = await start_sim(tmp_path, make_cluster(tmp_path, ["gpu-a", "cpu-b"]))
    await sim.freeze_node("cpu-b")  # a hung node must not slow the cadence
    engine = Engine(cluster)
    published: list[tuple[float, float]] = []
    loop = asyncio.get_running_loop()
    task = asyncio.create_task(
        engine.run(lambda state: published.append((loop.time(), state.node("gpu-a").last_ok or 0.0)))
    )
    try:
        await asyncio.sleep(3.6)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await sim.unfreeze_node("cpu-b")
        await engine.close()
        await sim.stop()
    assert len(published) >= 3
    fresh = [last_ok for _, last_ok in published]
    assert fresh == sorted(set(fresh)), "the healthy node has a new reading in every state"
    # A state leaves at most 0.75 refresh after its tick (sooner when everyone has answered).
    gaps = [b - a for (a, _), (b, _) in itertools.pairwise(published)]
    assert all(gap < 1.8 for gap in gaps), gaps


async def test_containers_units_and_gpu_processes_arrive_in_the_same_poll(tmp_path: Path) -> None:
    """One poll reads containers (with restart counts), units and GPU processes with owners."""
    cluster = Cluster.model_validate(
        {
            "cluster": "t",
            "workload_refresh": 1,
            "refresh": 1,
            "ssh": {
                "known_hosts": str(tmp_path / "kh"),
                "config_file": None,
                "agent": False,
                "command_timeout": 5,
            },
            "nodes": [
                {
                    "name": "gpu-a",
                    "host": "127.0.0.1",
                    "port": 1,
                    "units": ["tabbyapi"],
                    "sim": {
                        "gpus": ["NVIDIA GeForce RTX 4090"],
                        "containers": [
                            {"name": "web", "image": "nginx:1.27", "project": "stack"},
                            {"name": "llm", "image": "vllm/vllm-openai:v0.6", "gpu": 0},
                            {"name": "worker", "image": "python:3.12", "state": "crash-loop"},
                        ],
                        "units": {"tabbyapi": "failed"},
                    },
                }
            ],
        }
    )
    sim, cluster = await start_sim(tmp_path, cluster)
    engine = Engine(cluster)
    try:
        node = None
        for _ in range(8):  # the GPU processes' owners are read from the pids the poll before saw
            node = (await engine.cycle()).node("gpu-a")
            if any(p.container_id for p in node.procs):
                break
            await asyncio.sleep(0.6)
        assert node is not None and node.status is NodeStatus.UP, node.error
        names = {c.name: c for c in node.containers}
        assert set(names) >= {"web", "worker"}
        assert names["web"].project == "stack" and names["web"].restart_count is not None
        assert "worker" in node.crash_looping
        assert [(u.name, u.active) for u in node.units] == [("tabbyapi", "failed")]
        owners = {p.container_id for p in node.procs}
        assert names["llm"].id in owners, "the container's GPU process is mapped to it by cgroup"
    finally:
        await engine.close()
        await sim.stop()


async def test_slow_parts_are_read_every_workload_refresh_and_kept_between(tmp_path: Path) -> None:
    cluster = make_cluster(tmp_path, ["gpu-a"]).model_copy(update={"workload_refresh": 3600})
    sim, cluster = await start_sim(tmp_path, cluster)
    engine = Engine(cluster)
    try:
        first = (await engine.cycle()).node("gpu-a")
        calls = sim.world("gpu-a")
        script = engine._script(cluster.nodes[0], first=False, workloads=False)
        assert "docker" not in script and "compute-apps" not in script
        second = (await engine.cycle()).node("gpu-a")
        assert second.containers == first.containers and second.procs == first.procs
        engine.refresh_workloads("gpu-a")
        assert "compute-apps" in engine._script(cluster.nodes[0], first=False, workloads=True)
        assert calls is not None
    finally:
        await engine.close()
        await sim.stop()


async def test_nvml_node_without_a_driver_says_why_and_keeps_its_ssh_gpus(tmp_path: Path) -> None:
    """This machine has no NVIDIA driver: the NVML source says so once, as a warning on its node,
    and the node's GPUs still come from its SSH probe (a driver-equipped machine reads them locally:
    bench/nvml_check.py on the GPU machine)."""
    cluster = make_cluster(tmp_path, ["gpu-a"])
    cluster = cluster.model_copy(update={"nvml": NvmlConfig(node="gpu-a")})
    sim, cluster = await start_sim(tmp_path, cluster)
    engine = Engine(cluster)
    try:
        state = await engine.cycle()
        node = state.node("gpu-a")
        assert node.status is NodeStatus.UP and len(node.gpus) == 1
        nvml = [a for a in state.alerts if a.metric == "nvml"]
        assert len(nvml) == 1 and "NVML" in nvml[0].message and nvml[0].subject == "gpu-a"
    finally:
        await engine.close()
        await sim.stop()


async def test_a_state_is_built_in_slices_that_let_the_loop_take_keys(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """At 16,000 GPUs building a state is ~200 ms of Python on the UI's loop: it yields between
    slices to the app's hook (which lets keys through), with the time after which the hook must
    not hold it back, and the state is the same as one built at once."""
    from cockpit import engine as engine_module
    from cockpit import sliced

    names = ["gpu-a", "gpu-b", "gpu-c", "cpu-d"]
    sim, cluster = await start_sim(tmp_path, make_cluster(tmp_path, names))
    engine = Engine(cluster)
    pauses: list[float] = []

    async def between(until: float) -> None:
        pauses.append(until)
        await asyncio.sleep(0)

    try:
        await engine.cycle()
        monkeypatch.setattr(engine_module, "NODES_PER_STEP", 1)
        monkeypatch.setattr(sliced, "SLICE_S", 0.0)
        engine.between_slices = between
        started = time.monotonic()
        state = await engine.cycle()
        assert len(pauses) >= len(names) - 1, "a slice a node, the hook between them"
        assert all(
            started + cluster.refresh - 0.5 <= until <= time.monotonic() + cluster.refresh for until in pauses
        )
        assert [n.name for n in state.nodes] == names
        assert all(n.status is NodeStatus.UP for n in state.nodes)
        assert [g.name for g in state.node("gpu-b").gpus] == ["NVIDIA GeForce RTX 4090"]
        assert len(state.history.values("gpu-c", 0, "temp")) == 2, "history recorded in the slices too"
        at_once = engine.initial_state()  # built in one go
        assert [(n.name, n.status) for n in at_once.nodes] == [(n.name, n.status) for n in state.nodes]
    finally:
        await engine.close()
        await sim.stop()
