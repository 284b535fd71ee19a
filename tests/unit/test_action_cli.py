"""``cockpit action`` against the simulator over real SSH: shown, confirmed, streamed, audited,
and refused in read-only mode with a one-line reason."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cockpit.action_cli import EXIT_NOT_RUN, EXIT_USAGE, Request, parse_inputs, run_action
from cockpit.actions.audit import AuditLog
from cockpit.config import Cluster
from cockpit.sim import SimCluster


@pytest.fixture
async def cluster(tmp_path: Path):
    base = Cluster.model_validate(
        {
            "cluster": "t",
            "ssh": {"known_hosts": str(tmp_path / "kh"), "config_file": None, "agent": False},
            "nodes": [
                {
                    "name": "box",
                    "host": "127.0.0.1",
                    "port": 1,
                    "user": "root",
                    "units": ["ollama"],
                    "sim": {"gpus": ["NVIDIA GeForce RTX 4090"], "units": {"ollama": "failed"}},
                }
            ],
        }
    )
    sim = SimCluster(base, state_dir=tmp_path / "sim", ephemeral_ports=True)
    await sim.start()
    yield sim, sim.effective_cluster()
    await sim.stop()


async def test_unit_restart_runs_and_is_audited(cluster, tmp_path: Path) -> None:
    sim, effective = cluster
    out: list[str] = []
    audit = AuditLog(tmp_path / "audit.jsonl")
    request = Request("unit-restart", "box", unit="ollama", yes=True)
    code = await run_action(effective, request, out=out.append, err=out.append, audit=audit)
    assert code == 0, out
    assert out[1] == "  $ systemctl restart ollama", "root needs no sudo"
    records = [json.loads(line) for line in (tmp_path / "audit.jsonl").read_text().splitlines()]
    assert [r["event"] for r in records] == ["start", "end"]
    assert sim.world("box").services.states()["unit:ollama.service"] in ("activating", "active")


async def test_power_limit_is_checked_against_what_the_node_reported(cluster, tmp_path: Path) -> None:
    _, effective = cluster
    err: list[str] = []
    request = Request("gpu-power-limit", "box", gpu=0, inputs={"watts": "900"}, yes=True)
    code = await run_action(
        effective, request, out=err.append, err=err.append, audit=AuditLog(tmp_path / "a")
    )
    assert code == EXIT_USAGE
    assert err == ["cockpit action: watts: 900 is above the GPU's max power limit 600 W"]


async def test_read_only_refuses_and_not_confirming_runs_nothing(cluster, tmp_path: Path) -> None:
    _, effective = cluster
    lines: list[str] = []
    audit_path = tmp_path / "audit.jsonl"
    request = Request("unit-restart", "box", unit="ollama", read_only=True)
    code = await run_action(
        effective, request, out=lines.append, err=lines.append, audit=AuditLog(audit_path)
    )
    assert code == EXIT_USAGE and "read-only" in lines[-1]
    request = Request("unit-restart", "box", unit="ollama")
    code = await run_action(
        effective,
        request,
        out=lines.append,
        err=lines.append,
        prompt=lambda _: "n",
        audit=AuditLog(audit_path),
    )
    assert code == EXIT_NOT_RUN
    assert not audit_path.exists(), "nothing ran, nothing recorded"


def test_inputs_parse_name_equals_value() -> None:
    assert parse_inputs(["watts=350", "path=/a=b"]) == {"watts": "350", "path": "/a=b"}
    with pytest.raises(ValueError, match="expected NAME=VALUE"):
        parse_inputs(["watts"])


async def test_a_pod_action_runs_kubectl_on_the_control_node(tmp_path: Path) -> None:
    """``cockpit action deployment-scale --pod NS/NAME --set replicas=2``: no --node, the kube section's."""
    base = Cluster.model_validate(
        {
            "cluster": "k",
            "ssh": {"known_hosts": str(tmp_path / "kh"), "config_file": None, "agent": False},
            "kube": {"via_node": "control", "namespace": "default"},
            "nodes": [
                {"name": "control", "host": "127.0.0.1", "port": 1, "probes": ["host"],
                 "sim": {"gpus": [], "nvidia_smi": "missing"}},
                {"name": "gpu-1", "host": "127.0.0.1", "port": 1, "sim": {"gpus": ["NVIDIA A100-SXM4-80GB"]}},
            ],
        }
    )  # fmt: skip
    sim = SimCluster(base, state_dir=tmp_path / "sim", ephemeral_ports=True)
    await sim.start()
    try:
        cluster = sim.effective_cluster()
        pod = next(p for p in sim.kube.pods.values() if p.kind == "serve")
        deployment = pod.name.rsplit("-", 2)[0]
        out: list[str] = []
        err: list[str] = []
        request = Request(
            "deployment-scale", None, inputs={"replicas": "2"}, yes=True, pod=f"default/{pod.name}"
        )
        status = await run_action(
            cluster, request, out=out.append, err=err.append, audit=AuditLog(tmp_path / "a.jsonl")
        )
        assert status == 0, err
        assert f"  $ kubectl scale --namespace default deployment/{deployment} --replicas=2" in out
        assert any("on root@control" in line or "@control" in line for line in out), out
        assert len(sim.kube.members(deployment)) == 2
        missing = Request("pod-delete", None, yes=True, pod="default/nope")
        assert await run_action(cluster, missing, out=out.append, err=err.append) == EXIT_USAGE
        assert (
            err[-1]
            == "cockpit action: no pod default/nope in what kubectl listed (give --pod NAMESPACE/NAME)"
        )
    finally:
        await sim.stop()
