"""The simulated nodes over real SSH on 127.0.0.1: host keys, auth, faults, forwarding."""

from __future__ import annotations

import asyncio
import stat
from collections.abc import AsyncIterator
from pathlib import Path

import asyncssh
import pytest

from cockpit.config import Cluster
from cockpit.sim import SimCluster, SimError, serve_forever

NODES = [
    {"name": "a", "host": "127.0.0.1", "user": "typhon",
     "sim": {"gpus": ["NVIDIA GeForce RTX 4090"], "busy": 0.6}},
    {"name": "b", "host": "127.0.0.1", "user": "root", "jump": "a",
     "sim": {"gpus": ["NVIDIA H100 80GB HBM3"], "cpus": 26}},
]  # fmt: skip


def cluster(tmp_path: Path, nodes: list[dict] | None = None) -> Cluster:
    return Cluster.model_validate(
        {
            "cluster": "t",
            "ssh": {"known_hosts": str(tmp_path / "kh" / "known_hosts")},
            "sim": {"seed": 11},
            "nodes": nodes or NODES,
        }
    )


@pytest.fixture
async def sim(tmp_path: Path) -> AsyncIterator[SimCluster]:
    async with SimCluster(cluster(tmp_path), state_dir=tmp_path / "state", ephemeral_ports=True) as s:
        yield s


def connect(sim: SimCluster, name: str, **kw: object) -> asyncssh.connection._ConnectContextManager:
    host, port = sim.addresses[name]
    user = sim.cluster.node(name).user
    opts = {"known_hosts": str(sim.known_hosts), "username": user, "client_keys": None, "agent_path": None}
    return asyncssh.connect(host, port, **(opts | kw))


async def test_exec_streams_stdout_stderr_and_status(sim: SimCluster) -> None:
    async with connect(sim, "a") as conn:
        r = await conn.run(
            "echo out; echo err >&2; nvidia-smi --query-gpu=name --format=csv,noheader; exit 3"
        )
    assert r.stdout == "out\nNVIDIA GeForce RTX 4090\n"
    assert r.stderr == "err\n"
    assert r.exit_status == 3


async def test_many_channels_on_one_connection(sim: SimCluster) -> None:
    async with connect(sim, "b") as conn:
        results = await asyncio.gather(*(conn.run(f"echo {i}; sleep 0.05") for i in range(12)))
    assert [r.stdout for r in results] == [f"{i}\n" for i in range(12)]


async def test_ssh_user_decides_root_only_actions(sim: SimCluster) -> None:
    async with connect(sim, "a") as conn:
        r = await conn.run("whoami; nvidia-smi -i 0 -pl 400")
    assert r.stdout.startswith("typhon\nFailed to set power management limit")
    assert r.exit_status == 4
    async with connect(sim, "b") as conn:
        r = await conn.run("nvidia-smi -i 0 -pl 400")
    assert r.exit_status == 0
    assert sim.world("b").gpus[0].power_limit == 400


async def test_known_hosts_and_key_files_are_private(sim: SimCluster, tmp_path: Path) -> None:
    lines = sim.known_hosts.read_text().splitlines()
    assert sorted(ln.split()[0] for ln in lines) == sorted(f"[127.0.0.1]:{p}" for p in sim.ports.values())
    assert all(ln.split()[1] == "ssh-ed25519" for ln in lines)
    assert stat.S_IMODE(sim.known_hosts.stat().st_mode) == 0o600
    keydir = tmp_path / "state" / "hostkeys"
    assert stat.S_IMODE(keydir.stat().st_mode) == 0o700
    assert {p.name for p in keydir.iterdir()} == {"a.key", "b.key"}
    assert all(stat.S_IMODE(p.stat().st_mode) == 0o600 for p in keydir.iterdir())


async def test_restart_keeps_keys_and_replaces_stale_lines(tmp_path: Path) -> None:
    kh = tmp_path / "kh" / "known_hosts"
    kh.parent.mkdir()
    kh.write_text("[other.example]:22 ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOther keep-me\n")
    async with SimCluster(cluster(tmp_path), state_dir=tmp_path / "s", ephemeral_ports=True):
        keys1 = {ln.split()[2] for ln in kh.read_text().splitlines() if "gpu-cockpit-sim" in ln}
    async with SimCluster(cluster(tmp_path), state_dir=tmp_path / "s", ephemeral_ports=True) as second:
        text = kh.read_text()
        assert {ln.split()[2] for ln in text.splitlines() if "gpu-cockpit-sim" in ln} == keys1
        assert text.count("gpu-cockpit-sim:a") == 1, "the old port's line is replaced, not kept"
        assert f"[127.0.0.1]:{second.ports['a']} " in text
        assert "keep-me" in text


async def test_rotated_host_key_fails_strict_verification(sim: SimCluster) -> None:
    async with connect(sim, "a") as conn:
        assert (await conn.run("true")).exit_status == 0
    await sim.rotate_host_key("a")
    with pytest.raises(asyncssh.HostKeyNotVerifiable):
        async with connect(sim, "a"):
            pass
    async with connect(sim, "b") as conn:
        assert (await conn.run("true")).exit_status == 0, "other nodes keep their key"


async def test_unknown_host_key_is_rejected(sim: SimCluster, tmp_path: Path) -> None:
    empty = tmp_path / "empty_known_hosts"
    empty.write_text("")
    with pytest.raises(asyncssh.HostKeyNotVerifiable):
        async with connect(sim, "a", known_hosts=str(empty)):
            pass


async def test_public_key_auth_when_authorized_keys_given(tmp_path: Path) -> None:
    client_key = asyncssh.generate_private_key("ssh-ed25519")
    stranger = asyncssh.generate_private_key("ssh-ed25519")
    async with SimCluster(cluster(tmp_path), state_dir=tmp_path / "s", ephemeral_ports=True,
                          authorized_keys=[client_key]) as sim:  # fmt: skip
        with pytest.raises(asyncssh.PermissionDenied):
            async with connect(sim, "a"):
                pass
        with pytest.raises(asyncssh.PermissionDenied):
            async with connect(sim, "a", client_keys=[stranger]):
                pass
        async with connect(sim, "a", client_keys=[client_key]) as conn:
            assert (await conn.run("whoami")).stdout == "typhon\n"
    auth_file = tmp_path / "authorized_keys"
    client_key.write_public_key(str(auth_file))
    async with SimCluster(cluster(tmp_path), state_dir=tmp_path / "s", ephemeral_ports=True,
                          authorized_keys=auth_file) as sim:  # fmt: skip
        async with connect(sim, "b", client_keys=[client_key]) as conn:
            assert (await conn.run("whoami")).stdout == "root\n"
        with pytest.raises(asyncssh.PermissionDenied):
            async with connect(sim, "b", client_keys=[stranger]):
                pass


async def test_frozen_node_accepts_tcp_but_never_speaks(sim: SimCluster) -> None:
    async with connect(sim, "a") as conn:
        await sim.freeze_node("a")
        host, port = sim.addresses["a"]
        reader, writer = await asyncio.open_connection(host, port)
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(reader.read(1), 0.3)
        writer.close()
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(connect(sim, "a"), 0.3)
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(conn.run("echo hung"), 0.3)
        await sim.unfreeze_node("a")
        assert (await conn.run("echo back")).stdout == "back\n"
    async with connect(sim, "a") as conn:
        assert (await conn.run("echo new")).stdout == "new\n"


async def test_stopped_node_refuses_and_restarts_on_the_same_port(sim: SimCluster) -> None:
    port = sim.ports["a"]
    conn = await connect(sim, "a")
    await sim.stop_node("a")
    with pytest.raises(OSError):
        await connect(sim, "a")
    with pytest.raises((asyncssh.Error, OSError)):
        await conn.run("true", check=True)
    conn.close()
    await sim.start_node("a")
    assert sim.ports["a"] == port
    async with connect(sim, "a") as again:
        assert (await again.run("hostname")).stdout == "a\n"


async def test_slow_nvidia_smi_times_out_other_commands_do_not(sim: SimCluster) -> None:
    sim.slow_command("a", 5)
    async with connect(sim, "a") as conn:
        with pytest.raises(asyncssh.TimeoutError):
            await conn.run("nvidia-smi -L", timeout=0.3)
        assert (await conn.run("echo quick", timeout=2)).stdout == "quick\n"
        sim.slow_command("a", 0)
        assert (await conn.run("nvidia-smi -L", timeout=2)).exit_status == 0


async def test_direct_tcpip_only_to_loopback_and_jump_works(sim: SimCluster) -> None:
    async with connect(sim, "a") as jump:
        with pytest.raises(asyncssh.ChannelOpenError):
            await jump.open_connection("10.0.0.1", 22)
        with pytest.raises(asyncssh.ChannelOpenError):
            await jump.open_connection("example.com", 22)
        async with connect(sim, "b", tunnel=jump) as inner:
            r = await inner.run("hostname; nproc")
    assert r.stdout == "b\n26\n"


async def test_login_shell_is_refused_politely(sim: SimCluster) -> None:
    async with connect(sim, "a") as conn:
        r = await conn.run()
    assert r.exit_status == 1
    assert "runs commands only" in r.stderr


async def test_non_loopback_nodes_are_refused(tmp_path: Path) -> None:
    bad = [{"name": "real-box", "host": "192.168.1.20"}]
    with pytest.raises(SimError, match=r"real-box.*loopback"):
        SimCluster(cluster(tmp_path, bad), state_dir=tmp_path)
    named = [{"name": "dns", "host": "gpu1.example.com"}]
    with pytest.raises(SimError, match="dns"):
        SimCluster(cluster(tmp_path, named), state_dir=tmp_path)


async def test_shared_host_key_and_effective_cluster(tmp_path: Path) -> None:
    async with SimCluster(cluster(tmp_path), state_dir=tmp_path / "s", ephemeral_ports=True,
                          shared_host_key=True) as sim:  # fmt: skip
        keys = {ln.split()[2] for ln in sim.known_hosts.read_text().splitlines()}
        assert len(keys) == 1
        eff = sim.effective_cluster()
        assert eff.node("b").port == sim.ports["b"]
        assert eff.ssh.known_hosts == str(sim.known_hosts)


async def test_port_in_use_and_node_selection(sim: SimCluster, tmp_path: Path) -> None:
    taken = sim.ports["a"]
    clash = [{"name": "c", "host": "127.0.0.1", "port": taken}]
    other = SimCluster(cluster(tmp_path, clash), state_dir=tmp_path / "s2", known_hosts=tmp_path / "kh2")
    with pytest.raises(SimError, match=rf"'c'.*127\.0\.0\.1:{taken}.*in use"):
        await other.start()
    assert other.ports == {}
    only_b = SimCluster(cluster(tmp_path), state_dir=tmp_path / "s3", ephemeral_ports=True, nodes=["b"])
    assert list(only_b.worlds) == ["b"]
    with pytest.raises(SimError, match="zzz"):
        SimCluster(cluster(tmp_path), state_dir=tmp_path / "s3", nodes=["zzz"])


async def test_serve_forever_runs_until_cancelled(tmp_path: Path) -> None:
    ready: asyncio.Future[SimCluster] = asyncio.get_running_loop().create_future()
    task = asyncio.create_task(
        serve_forever(
            cluster(tmp_path), ready=ready.set_result, state_dir=tmp_path / "s", ephemeral_ports=True
        )
    )
    sim = await asyncio.wait_for(ready, 5)
    host, port = sim.addresses["b"]
    async with connect(sim, "b") as conn:
        assert (await conn.run("hostname")).stdout == "b\n"
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert sim.addresses == {}
    with pytest.raises(OSError):
        await asyncio.open_connection(host, port)
