"""Triage through a real OpenSSH sshd: the poll meets real docker and systemctl output (replayed
captures), and the chain alert -> node -> container/unit -> remediation holds end to end."""

from __future__ import annotations

import pytest

from cockpit.actions.catalog import Catalog
from cockpit.actions.subjects import remediations
from cockpit.model import NodeStatus

pytestmark = pytest.mark.integration


async def test_crash_loop_and_failed_unit_are_spotted_and_walked_to_their_remedy(lab):
    srv = lab.server("storage", gpus=1)
    cluster = lab.cluster(
        [{"name": "storage", "host": "127.0.0.1", "port": srv.port, "units": ["tabbyapi", "ollama"]}]
    )
    cluster = cluster.model_copy(update={"thresholds": cluster.thresholds.model_copy(update={"hold_s": 0})})
    async with lab.engine(cluster) as engine:
        state = await engine.cycle()
    node = lab.node(state, "storage")
    assert node.status is NodeStatus.UP, node.error
    names = {c.name: c for c in node.containers}
    assert names["hydra-stack-qdrant-1"].restart_count == 37
    assert names["hydra-stack-litellm-1"].project == "hydra-stack"
    assert node.crash_looping == frozenset({"hydra-stack-qdrant-1"})
    assert [(u.name, u.active) for u in node.units] == [("tabbyapi", "active"), ("ollama", "failed")]
    alerts = {(a.subject, a.metric): a for a in state.alerts}
    crash = alerts[("storage/container:hydra-stack-qdrant-1", "crash_loop")]
    assert crash.severity == "critical"
    assert alerts[("storage/unit:ollama", "unit_failed")].severity == "critical"
    first = remediations(crash, state, cluster)[0]
    invocation = Catalog.from_config().render(first.action, first.target.subject, first.inputs)
    assert invocation.node == "storage" and invocation.display.startswith("docker logs")
    assert "hydra-stack-qdrant-1" in invocation.display
