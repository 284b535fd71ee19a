"""ProxyJump through real sshd: the far nodes are reached over the jump host's one shared connection."""

from __future__ import annotations

import pytest

from cockpit.model import NodeStatus

pytestmark = pytest.mark.integration


async def test_nodes_behind_a_jump_node_share_its_connection(lab):
    # Different GPU counts tell the three daemons' answers apart.
    a, b, c = lab.server("a", gpus=2), lab.server("b", gpus=1), lab.server("c", gpus=3)
    cluster = lab.cluster(
        [
            {"name": "a", "host": "127.0.0.1", "port": a.port},
            {"name": "b", "host": "127.0.0.1", "port": b.port, "jump": "a"},
            {"name": "c", "host": "127.0.0.1", "port": c.port, "jump": "a"},
        ]
    )
    async with lab.engine(cluster) as engine:
        conns = []
        for _ in range(3):
            state = await engine.cycle()
            for name, gpus in (("a", 2), ("b", 1), ("c", 3)):
                node = lab.node(state, name)
                assert node.status is NodeStatus.UP, f"{name}: {node.error}"
                assert len(node.gpus) == gpus, name
            conns.append(await engine.pool.connection("a"))

        assert all(conn is conns[0] for conn in conns), "the jump connection was reopened"
        # Our process holds exactly one TCP connection, to the jump host; none to b or c:
        # their SSH connections are direct-tcpip channels that a's sshd carries.
        assert len(lab.own_connections(a.port)) == 1
        assert lab.own_connections(b.port) == [] and lab.own_connections(c.port) == []
        assert a.connection_count() == 1, "one connection to the jump host, shared by a, b and c"
        assert b.connection_count() == 1 and c.connection_count() == 1
        assert len(b.nvidia_smi_calls()) == 3 and len(c.nvidia_smi_calls()) == 3


async def test_jump_spec_user_at_host_port(lab):
    bastion, b = lab.server("bastion"), lab.server("b", gpus=1)
    spec = f"root@127.0.0.1:{bastion.port}"
    cluster = lab.cluster([{"name": "b", "host": "127.0.0.1", "port": b.port, "jump": spec}])
    async with lab.engine(cluster) as engine:
        for _ in range(2):
            node = lab.node(await engine.cycle(), "b")
            assert node.status is NodeStatus.UP, node.error
            assert len(node.gpus) == 1
        assert engine.pool.is_connected(spec)
        assert len(lab.own_connections(bastion.port)) == 1
        assert lab.own_connections(b.port) == []
        assert bastion.connection_count() == 1
    assert bastion.nvidia_smi_calls() == [], "the bastion only forwards; nothing runs on it"


async def test_node_behind_a_down_jump_host_says_so(lab):
    b = lab.server("b")
    dead = lab.free_port()
    cluster = lab.cluster(
        [
            {"name": "a", "host": "127.0.0.1", "port": dead},
            {"name": "b", "host": "127.0.0.1", "port": b.port, "jump": "a"},
        ]
    )
    async with lab.engine(cluster) as engine:
        state = await engine.cycle()
    a_node, b_node = lab.node(state, "a"), lab.node(state, "b")
    assert a_node.status is NodeStatus.DOWN and a_node.error.startswith("connection refused")
    assert b_node.status is NodeStatus.DOWN
    assert b_node.error is not None and b_node.error.startswith("jump host down"), b_node.error
    assert "connection refused" in b_node.error
    assert b.nvidia_smi_calls() == []
