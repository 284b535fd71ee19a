"""A demo config with ``prometheus:`` gets a real Prometheus scraping the simulated exporters.

The cockpit's PromQL must run against the real server, so the simulator starts /usr/bin/prometheus
(Debian package ``prometheus``); CI installs it, and there a missing binary is a failure, not a skip.
"""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

import httpx
import pytest

from cockpit.config import Cluster, NodeConfig, PrometheusConfig, SimNode
from cockpit.sim import SimCluster, SimError
from cockpit.sim.prom_stack import labelled
from cockpit.sim.prometheus_proc import find_prometheus
from cockpit.sim.remap import on_loopback

if find_prometheus() is None:
    if os.environ.get("CI"):
        raise RuntimeError("CI must install prometheus (Debian package prometheus)")
    pytest.skip("prometheus (Debian package prometheus) is not installed", allow_module_level=True)


def _cluster(**prometheus: object) -> Cluster:
    nodes = [
        NodeConfig(name="gpu-01", host="gpu-01.lab.example", probes=[], units=["vllm"],
                   sim=SimNode(gpus=["NVIDIA H100 80GB HBM3"] * 2, busy=0.6)),
        NodeConfig(name="gpu-02", host="gpu-02.lab.example", probes=[],
                   sim=SimNode(gpus=["NVIDIA L40S"], busy=0.3)),
        NodeConfig(name="head", host="head.lab.example", probes=[], sim=SimNode(gpus=[])),
    ]  # fmt: skip
    config = PrometheusConfig.model_validate({"url": "https://prom.lab.example:19090", **prometheus})
    return on_loopback(Cluster(cluster="lab", nodes=nodes, prometheus=config))


async def _series(client: httpx.AsyncClient, query: str, want: int, deadline: float) -> list[dict]:
    result: list[dict] = []
    while time.monotonic() < deadline:
        answer = await client.get("/api/v1/query", params={"query": query})
        result = answer.json()["data"]["result"]
        if len(result) >= want:
            return result
        await asyncio.sleep(0.25)
    raise AssertionError(f"{query}: {len(result)} series, wanted {want}")


async def test_real_prometheus_scrapes_every_simulated_gpu_by_node_name(tmp_path: Path) -> None:
    cluster = _cluster(gpu_node_label="Hostname")
    sim = SimCluster(cluster, state_dir=tmp_path / "sim", known_hosts=tmp_path / "kh", ephemeral_ports=True)
    await sim.start()
    try:
        url = sim.effective_cluster().prometheus.url  # type: ignore[union-attr]
        assert url.startswith("http://127.0.0.1:") and url != cluster.prometheus.url  # type: ignore[union-attr]
        deadline = time.monotonic() + 15
        async with httpx.AsyncClient(base_url=url, trust_env=False, timeout=5) as client:
            temps = await _series(client, "DCGM_FI_DEV_GPU_TEMP", 3, deadline)
            by_gpu = {(s["metric"]["Hostname"], s["metric"]["gpu"]): s["metric"] for s in temps}
            assert set(by_gpu) == {("gpu-01", "0"), ("gpu-01", "1"), ("gpu-02", "0")}
            assert {m["instance"] for m in by_gpu.values()} == {"gpu-01:9400", "gpu-02:9400"}
            for (node, index), labels in by_gpu.items():
                assert labels["UUID"] == sim.world(node).gpus[int(index)].uuid
            up = await _series(client, 'up{job="node"}', 3, deadline)
            assert {s["metric"]["instance"] for s in up} == {"gpu-01:9100", "gpu-02:9100", "head:9100"}
            sim.set_vllm("gpu-01", kv_cache=0.93, waiting=6)
            kv = await _series(client, "vllm:gpu_cache_usage_perc > 0.9", 1, deadline)
            assert kv[0]["metric"]["instance"] == "gpu-01:8000"
            await sim.stop_node("gpu-02")
            down = await _series(client, 'up{instance="gpu-02:9400"} == 0', 1, deadline)
            assert down[0]["metric"]["job"] == "dcgm"
    finally:
        await sim.stop()
    assert sim.prometheus is not None and sim.prometheus.process is None


def test_node_label_and_discover_job_are_what_the_config_reads() -> None:
    """A config reading ``node`` (Kubernetes) and discovering job ``node-exporter`` gets targets
    labelled and named so; dcgm keeps its own ``Hostname``, never a target label over it."""
    config = PrometheusConfig.model_validate(
        {"url": "http://127.0.0.1:9090", "node_label": "node", "gpu_node_label": "Hostname",
         "discover": {"job": "node-exporter"}}
    )  # fmt: skip
    document = {
        "scrape_configs": [
            {"job_name": "node", "static_configs": [
                {"targets": ["127.0.0.1:1"], "labels": {"__metrics_path__": "/node/gpu-01/metrics", "instance": "gpu-01:9100"}}]},
            {"job_name": "dcgm", "static_configs": [
                {"targets": ["127.0.0.1:1"], "labels": {"__metrics_path__": "/dcgm/gpu-01/metrics", "instance": "gpu-01:9400"}}]},
        ]
    }  # fmt: skip
    jobs = {
        j["job_name"]: j["static_configs"][0]["labels"] for j in labelled(document, config)["scrape_configs"]
    }
    assert jobs["node-exporter"] == {"__metrics_path__": "/node/gpu-01/metrics", "instance": "gpu-01:9100",
                                     "node": "gpu-01"}  # fmt: skip
    assert jobs["dcgm"] == {
        "__metrics_path__": "/dcgm/gpu-01/metrics",
        "instance": "gpu-01:9400",
        "node": "gpu-01",
    }


def test_missing_binary_is_one_line_naming_the_package(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("cockpit.sim.prom_stack.find_prometheus", lambda: None)
    with pytest.raises(SimError) as caught:
        SimCluster(_cluster(), ephemeral_ports=True)
    message = str(caught.value)
    assert "\n" not in message and "Debian package prometheus" in message


def test_remap_moves_prometheus_to_loopback_and_drops_its_secrets() -> None:
    config = PrometheusConfig.model_validate(
        {"url": "https://prom.lab.example:19090/", "headers": {"Authorization": "${env:PROM_TOKEN}"}}
    )
    nodes = [NodeConfig(name="gpu-01", host="gpu-01.lab.example")]
    remapped = on_loopback(Cluster(cluster="lab", nodes=nodes, prometheus=config))
    assert remapped.prometheus is not None
    assert (remapped.prometheus.url, remapped.prometheus.headers) == ("http://127.0.0.1:19090/", {})


async def test_a_node_with_both_sources_keeps_its_readings_when_ssh_dies(tmp_path: Path) -> None:
    """``prefer: {gpus: prometheus}``: GPUs from DCGM, host from SSH; sshd dies: Prometheus fills in."""
    from cockpit.engine import Engine

    cluster = _cluster(gpu_node_label="Hostname", prefer={"gpus": "prometheus"}, rate_window="10s")
    both = cluster.nodes[0].model_copy(update={"probes": ["host", "gpus"]})
    cluster = cluster.model_copy(update={"nodes": [both, *cluster.nodes[1:]]})
    ssh = cluster.ssh.model_copy(update={"known_hosts": str(tmp_path / "kh"), "connect_timeout": 1})
    cluster = cluster.model_copy(update={"ssh": ssh})
    sim = SimCluster(cluster, state_dir=tmp_path / "sim", known_hosts=tmp_path / "kh", ephemeral_ports=True)
    await sim.start()
    engine = Engine(sim.effective_cluster())
    try:
        deadline = time.monotonic() + 20
        node = None
        while time.monotonic() < deadline:
            node = (await engine.cycle()).node("gpu-01")
            if node is not None and node.status.value == "up" and len(node.gpus) == 2 and node.gpus[0].uuid:
                break
            await asyncio.sleep(0.5)
        assert node is not None and node.status.value == "up" and node.host is not None
        assert [g.uuid for g in node.gpus] == [g.uuid for g in sim.world("gpu-01").gpus]
        await sim.stop_ssh("gpu-01")
        while time.monotonic() < deadline + 10:
            node = (await engine.cycle()).node("gpu-01")
            if node is not None and node.probe_errors:
                break
            await asyncio.sleep(0.5)
        assert node is not None and node.status.value == "up", node
        assert node.probe_errors and node.probe_errors[-1].startswith("ssh: ")
        assert "(readings from Prometheus)" in node.probe_errors[-1]
        assert len(node.gpus) == 2 and node.host is not None and node.host.load1 is not None
    finally:
        await engine.close()
        await sim.stop()
