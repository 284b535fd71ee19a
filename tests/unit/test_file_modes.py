"""Files the cockpit writes are 0600 in 0700 folders, whatever the umask and whatever was there.

Audit log (commands name hosts and containers), prefs (command history), the demo's host keys and
known_hosts, and a key recorded under ``accept-new``. Every test runs under umask 000, so a mode
that comes only from the umask shows up as world-readable.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from cockpit.actions.audit import AuditLog
from cockpit.actions.render import Invocation
from cockpit.actions.runner import Outcome, Result
from cockpit.config import Cluster
from cockpit.engine import Engine
from cockpit.model import NodeStatus
from cockpit.prefs import Prefs
from cockpit.sim import SimCluster


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def assert_private(path: Path) -> None:
    assert mode(path) == 0o600, f"{path} is {oct(mode(path))}, expected 0o600"
    assert mode(path.parent) == 0o700, f"{path.parent} is {oct(mode(path.parent))}, expected 0o700"


@pytest.fixture(autouse=True)
def open_umask() -> Iterator[None]:
    old = os.umask(0)
    try:
        yield
    finally:
        os.umask(old)


def _invocation() -> Invocation:
    return Invocation(
        action="docker-restart",
        danger="disruptive",
        node="box",
        host="127.0.0.1",
        user="ops",
        run_on="node",
        command="docker restart litellm",
        display="docker restart litellm",
        target="litellm",
        confirm=True,
        timeout=60,
        sudo=False,
    )


def _audit_once(path: Path) -> None:
    log = AuditLog(path)
    inv = _invocation()
    record = log.start(inv)
    log.end(record, inv, Result("docker-restart", "box", Outcome.OK, 0, 0.1, 3))


def test_audit_log_is_private_when_new(tmp_path: Path) -> None:
    path = tmp_path / "state" / "gpu-cockpit" / "audit.jsonl"
    _audit_once(path)
    assert_private(path)


def test_audit_log_repairs_modes_it_finds(tmp_path: Path) -> None:
    folder = tmp_path / "state"
    folder.mkdir(mode=0o755)
    path = folder / "audit.jsonl"
    path.write_text("")
    path.chmod(0o644)
    _audit_once(path)
    assert_private(path)
    assert len(path.read_text().splitlines()) == 2


def test_prefs_are_private(tmp_path: Path) -> None:
    folder = tmp_path / "prefs"
    folder.mkdir(mode=0o777)
    folder.chmod(0o777)
    prefs = Prefs(folder / "prefs.json")
    prefs.set("history", {"filter": ["hydra-ai"]})
    assert_private(folder / "prefs.json")
    assert not list(folder.glob("*.tmp")), "the temporary file is gone"


def _cluster(tmp_path: Path, known_hosts: Path, **ssh: object) -> Cluster:
    return Cluster.model_validate(
        {
            "cluster": "modes",
            "ssh": {"known_hosts": str(known_hosts), "config_file": None, "agent": False, **ssh},
            "nodes": [
                {"name": "a", "host": "127.0.0.1", "port": 1},
                {"name": "b", "host": "127.0.0.1", "port": 1},
            ],
        }
    )


async def test_demo_host_keys_and_known_hosts_are_private(tmp_path: Path) -> None:
    state = tmp_path / "cache" / "demo"
    known = tmp_path / "ssh" / "known_hosts"
    async with SimCluster(_cluster(tmp_path, known), state_dir=state, ephemeral_ports=True):
        pass
    keys = sorted((state / "hostkeys").glob("*.key"))
    assert [k.name for k in keys] == ["a.key", "b.key"]
    for key in keys:
        assert_private(key)
    assert_private(known)
    assert not [p for p in (state / "hostkeys").iterdir() if p.name.startswith(".tmp-")]


async def test_accept_new_records_into_a_private_file(tmp_path: Path) -> None:
    sim_known = tmp_path / "sim" / "known_hosts"
    ours = tmp_path / "fresh" / "ssh" / "known_hosts"
    cluster = _cluster(tmp_path, ours, host_key_policy="accept-new")
    async with SimCluster(
        cluster, state_dir=tmp_path / "sim", known_hosts=sim_known, ephemeral_ports=True
    ) as sim:
        engine = Engine(sim.effective_cluster().model_copy(update={"ssh": cluster.ssh}))
        try:
            state = await engine.cycle()
        finally:
            await engine.close()
    assert [n.status for n in state.nodes] == [NodeStatus.UP, NodeStatus.UP], [n.error for n in state.nodes]
    assert len(ours.read_text().splitlines()) == 2
    assert_private(ours)
