"""Why a node is down, in the operator's words, from real OpenSSH failures; and recovery from them."""

from __future__ import annotations

import socket
import stat

import pytest

from cockpit.model import NodeStatus

pytestmark = pytest.mark.integration


def _single(lab, srv, **ssh):
    return lab.cluster([{"name": "a", "host": "127.0.0.1", "port": srv.port}], **ssh)


async def test_unknown_host_key_is_refused_under_strict(lab):
    srv = lab.server("a", trusted=False)
    async with lab.engine(_single(lab, srv)) as engine:
        node = lab.node(await engine.cycle(), "a")
    assert node.status is NodeStatus.DOWN
    assert node.error is not None and node.error.startswith("host key unknown"), node.error
    assert lab.known_hosts.read_text() == "", "strict must never write known_hosts"
    assert srv.nvidia_smi_calls() == [], "no command may run on an unverified host"


@pytest.mark.parametrize("policy", ["strict", "accept-new"])
async def test_changed_host_key_is_never_accepted(lab, policy):
    srv = lab.server("a", trusted=False)
    lab.trust(srv, public=lab.fresh_public_key("impostor"))  # known_hosts names another key
    before = lab.known_hosts.read_text()
    assert before.startswith(f"[127.0.0.1]:{srv.port} ssh-ed25519 ")
    async with lab.engine(_single(lab, srv, host_key_policy=policy)) as engine:
        for _ in range(2):
            node = lab.node(await engine.cycle(), "a")
            assert node.status is NodeStatus.DOWN
            assert node.error is not None and node.error.startswith("host key changed"), node.error
        assert not engine.pool.is_connected("a")
    assert lab.known_hosts.read_text() == before, "a changed key must never be recorded"
    assert srv.nvidia_smi_calls() == []


async def test_changed_host_key_with_port_from_ssh_defaults(lab):
    srv = lab.server("a", trusted=False)
    lab.trust(srv, public=lab.fresh_public_key("impostor"))
    cluster = lab.cluster([{"name": "a", "host": "127.0.0.1"}], port=srv.port)  # port from ssh:
    async with lab.engine(cluster) as engine:
        node = lab.node(await engine.cycle(), "a")
    assert node.status is NodeStatus.DOWN
    assert node.error is not None and node.error.startswith("host key changed"), node.error


async def test_accept_new_records_the_key_then_strict_trusts_it(lab, tmp_path):
    srv = lab.server("a", trusted=False)
    known = tmp_path / "fresh" / "known_hosts"
    cluster = _single(lab, srv, known_hosts=str(known), host_key_policy="accept-new")
    async with lab.engine(cluster) as engine:
        node = lab.node(await engine.cycle(), "a")
    assert node.status is NodeStatus.UP, node.error
    assert stat.S_IMODE(known.stat().st_mode) == 0o600
    assert known.read_text() == srv.known_hosts_line() + "\n", "exactly the server's host key"

    strict = _single(lab, srv, known_hosts=str(known), host_key_policy="strict")
    async with lab.engine(strict) as engine:
        node = lab.node(await engine.cycle(), "a")
    assert node.status is NodeStatus.UP, node.error
    assert known.read_text() == srv.known_hosts_line() + "\n", "nothing recorded twice"


async def test_auth_failure(lab, client_keys):
    srv = lab.server("a")
    cluster = _single(lab, srv, identity_file=str(client_keys.stranger))
    async with lab.engine(cluster) as engine:
        node = lab.node(await engine.cycle(), "a")
    assert node.status is NodeStatus.DOWN
    assert node.error is not None and node.error.startswith("auth failed"), node.error


async def test_refused_port(lab):
    port = lab.free_port()
    cluster = lab.cluster([{"name": "a", "host": "127.0.0.1", "port": port}])
    async with lab.engine(cluster) as engine:
        node = lab.node(await engine.cycle(), "a")
    assert node.status is NodeStatus.DOWN
    assert node.error is not None and node.error.startswith("connection refused"), node.error


async def test_frozen_sshd_times_out_alone_and_recovers(lab):
    """SIGSTOP the daemon: TCP connects, no banner. Only that node waits; the other keeps its cadence."""
    fine, frozen = lab.server("fine"), lab.server("frozen")
    frozen.freeze()
    with socket.create_connection(("127.0.0.1", frozen.port), timeout=1) as sock:
        sock.settimeout(0.3)
        with pytest.raises(TimeoutError):
            sock.recv(64)  # connected, but no SSH banner
    cluster = lab.cluster(
        [
            {"name": "fine", "host": "127.0.0.1", "port": fine.port},
            {"name": "frozen", "host": "127.0.0.1", "port": frozen.port},
        ],
        reconnect_max=1,
    )
    async with lab.engine(cluster) as engine:
        ticker = lab.ticker(engine)
        fine_ok: list[float] = []
        down = None
        for i in range(8):
            state = await ticker.cycle()
            ok = lab.node(state, "fine")
            if i > 0:  # the very first poll also opens the connection
                assert ok.status is NodeStatus.UP, ok.error
                fine_ok.append(ok.last_ok)
            node = lab.node(state, "frozen")
            assert node.status is not NodeStatus.UP
            if node.status is NodeStatus.DOWN:
                down = node
                if i >= 3:
                    break
        assert down is not None and down.error is not None, "a frozen sshd must end as down"
        assert down.error.startswith("timeout"), down.error
        assert len(fine_ok) >= 3 and fine_ok == sorted(set(fine_ok)), "the healthy node refreshed every cycle"
        assert max(ticker.durations) < 0.95, f"a cycle waited on the frozen node: {ticker.durations}"

        frozen.thaw()
        cycles = 0
        while cycles < 3:
            cycles += 1
            state = await ticker.cycle()
            if lab.node(state, "frozen").status is NodeStatus.UP:
                break
        node = lab.node(state, "frozen")
        assert node.status is NodeStatus.UP, (
            f"still {node.status} ({node.error}) {cycles} cycles after SIGCONT"
        )
        assert cycles <= 2, f"recovered only after {cycles} cycles"
        assert lab.node(state, "fine").status is NodeStatus.UP


async def test_sshd_restart_reconnects(lab):
    a, b = lab.server("a"), lab.server("b")
    cluster = lab.cluster(
        [
            {"name": "a", "host": "127.0.0.1", "port": a.port},
            {"name": "b", "host": "127.0.0.1", "port": b.port},
        ]
    )
    async with lab.engine(cluster) as engine:
        ticker = lab.ticker(engine)
        state = await ticker.first()
        assert lab.node(state, "a").status is NodeStatus.UP
        old = await engine.pool.connection("a")
        old_socket = lab.own_connections(a.port)

        a.restart()  # kills the daemon and the connection it served; same port, same host key
        restarted = state.at
        cycles = 0
        while cycles < 5:
            cycles += 1
            state = await ticker.cycle()
            assert lab.node(state, "b").status is NodeStatus.UP
            node = lab.node(state, "a")
            if node.status is NodeStatus.UP and node.last_ok and node.last_ok > restarted:
                break
        node = lab.node(state, "a")
        assert node.status is NodeStatus.UP and node.last_ok > restarted, node.error
        assert cycles <= 3, f"took {cycles} cycles to reconnect after an sshd restart"
        new = await engine.pool.connection("a")
        assert new is not old, "a new connection after the restart"
        assert len(lab.own_connections(a.port)) == 1 and lab.own_connections(a.port) != old_socket
