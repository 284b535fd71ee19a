"""Every example config (one per runbook system) validates, names no real host, and demos: the
simulator plays it on loopback and one cycle reads every node and endpoint."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from cockpit.config import load_cluster
from cockpit.engine import Engine
from cockpit.model import NodeStatus
from cockpit.sim import SimCluster
from cockpit.sim.remap import DEMO_KEY_ENV, needs_remap, on_loopback
from cockpit.sim.vast import SIM_API_KEY

EXAMPLES = sorted((Path(__file__).resolve().parents[2] / "examples").glob("*.yaml"))


def test_there_is_an_example_per_runbook_system() -> None:
    assert {p.stem for p in EXAMPLES} >= {"hydra", "ringrift"}


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
def test_example_validates_and_uses_only_example_hosts(path: Path) -> None:
    cluster = load_cluster(path)
    assert needs_remap(cluster), "examples describe real systems; the demo maps them onto loopback"
    for node in cluster.nodes:
        assert node.host.endswith(".example"), node.host
    remapped = on_loopback(cluster)
    assert not needs_remap(remapped)
    assert "{cache}" in remapped.ssh.known_hosts, "the demo never writes the operator's known_hosts"


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
async def test_example_demos_on_loopback(path: Path, tmp_path: Path) -> None:
    os.environ[DEMO_KEY_ENV] = SIM_API_KEY
    cluster = on_loopback(load_cluster(path))
    sim = SimCluster(cluster, state_dir=tmp_path / "sim", known_hosts=tmp_path / "kh", ephemeral_ports=True)
    await sim.start()
    engine = Engine(sim.effective_cluster())
    try:
        state = await engine.cycle(wait=10)
        assert {n.name: n.status for n in state.nodes} == {n.name: NodeStatus.UP for n in cluster.nodes}
        assert len(state.services) == len(cluster.services)
        if cluster.p2p:
            assert state.fleet is not None and any(r.reachable for r in state.fleet.mesh)
    finally:
        await engine.close()
        await sim.stop()
