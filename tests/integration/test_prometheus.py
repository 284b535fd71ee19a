"""A real Prometheus scraping the simulator's exporters on loopback, read by the cockpit's source.

Prometheus is Debian's ``prometheus`` package (/usr/bin/prometheus); its first scrape takes ~6 s even
at a 1 s interval. The worlds' clock is frozen once Prometheus holds data, so the pages it scrapes
from then on are identical and "what was served" is exactly what the exporter renders now.

Without the binary this skips on a laptop and FAILS under CI (``$CI`` set).
"""

from __future__ import annotations

import asyncio
import os
import re
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from cockpit.config import NodeConfig, SimDisk, SimNode
from cockpit.golden import GoldenRules, prometheus_alerts
from cockpit.prom_config import PanelConfig, PrometheusConfig
from cockpit.sim.exporter import SimExporter
from cockpit.sim.exporter_http import ExporterServer, scrape_config
from cockpit.sim.prometheus_proc import PrometheusProcess, find_prometheus
from cockpit.sim.world import NodeWorld
from cockpit.sources.prom_model import PromReading
from cockpit.sources.prometheus import PrometheusSource

pytestmark = pytest.mark.integration
SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{.*\})? (\S+)$")
RULES = {"groups": [{"name": "t", "rules": [
    {"alert": "VLLMKVCacheHigh", "expr": "max(vllm:gpu_cache_usage_perc) > 0.8", "for": "0s",
     "labels": {"severity": "critical"}, "annotations": {"summary": "KV cache above 80%"}},
]}]}  # fmt: skip


class Clock:
    """Wall time until frozen; the worlds stop moving (and the pages stop changing) while frozen."""

    def __init__(self) -> None:
        self.frozen: float | None = None

    def __call__(self) -> float:
        return self.frozen if self.frozen is not None else time.time()


@dataclass
class Lab:
    clock: Clock
    exporter: SimExporter
    servers: dict[str, ExporterServer]
    prom: PrometheusProcess

    def source(self, **options: object) -> PrometheusSource:
        panels = options.pop("panels", ())
        config = PrometheusConfig(url=self.prom.url, timeout=5, rate_window="10s", **options)  # type: ignore[arg-type]
        return PrometheusSource(config, panels=panels)  # type: ignore[arg-type]


def _binary() -> str:
    found = find_prometheus()
    if found is None:
        reason = "prometheus not installed (apt-get install prometheus)"
        if os.environ.get("CI"):
            pytest.fail(f"{reason} (CI is set, so the integration tier must run, not skip)", pytrace=False)
        pytest.skip(reason)
    return found


@pytest.fixture
async def lab(tmp_path: Path) -> AsyncIterator[Lab]:
    binary = _binary()
    clock = Clock()
    nodes = [
        NodeConfig(name="gpu-a", host="127.0.0.1", units=["vllm"],
                   sim=SimNode(gpus=["NVIDIA H100 80GB HBM3"] * 2, cpus=8, busy=0.7,
                               disks=[SimDisk(mount="/", size_gib=1800, used_pct=41),
                                      SimDisk(mount="/data", size_gib=7000, used_pct=83)])),
        NodeConfig(name="gpu-b", host="127.0.0.1", units=["vllm"],
                   sim=SimNode(gpus=["NVIDIA GeForce RTX 4090"], cpus=4, busy=0.3)),
        NodeConfig(name="cpu-c", host="127.0.0.1", sim=SimNode(gpus=[], cpus=2, busy=0.1)),
    ]  # fmt: skip
    exporter = SimExporter({n.name: NodeWorld(n, 11, clock) for n in nodes}, clock)
    servers = {n.name: ExporterServer(exporter, nodes=[n.name]) for n in nodes}
    for server in servers.values():
        await server.start()
    prom = PrometheusProcess(
        scrape_config(servers.values(), interval_s=1), tmp_path / "prom", binary=binary, rules=RULES
    )
    try:
        await asyncio.to_thread(prom.start)
        yield Lab(clock, exporter, servers, prom)
    finally:
        await asyncio.to_thread(prom.stop)
        for server in servers.values():
            await server.stop()


async def wait_for(source: PrometheusSource, names: list[str], done, timeout: float = 40.0) -> PromReading:
    deadline = time.monotonic() + timeout
    while True:
        reading = await source.read(names)
        if done(reading):
            return reading
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met in {timeout:g}s: {reading}")
        await asyncio.sleep(0.5)


def page_values(page: str) -> dict[tuple[str, str], float]:
    out = {}
    for line in page.splitlines():
        match = SAMPLE.match(line)
        if match and not line.startswith("#"):
            out[(match.group(1), match.group(2) or "")] = float(match.group(3))
    return out


def complete(reading: PromReading) -> bool:
    a, c = reading.node("gpu-a"), reading.node("cpu-c")
    return bool(
        a and a.gpus and a.host and a.host.cpu_pct is not None and c and c.host
        and any(s.metric == "ttft_p95_s" and s.value is not None for s in reading.signals)
    )  # fmt: skip


async def test_readings_equal_what_the_exporter_served(lab: Lab) -> None:
    names = ["gpu-a", "gpu-b", "cpu-c"]
    lab.exporter.set_vllm("gpu-a", kv_cache=0.95, waiting=2)
    panel = PanelConfig(name="gpus", promql="count(DCGM_FI_DEV_GPU_UTIL)", warning=10, critical=20)
    # Every tier every cycle: each value below is then the one served at the frozen instant.
    source = lab.source(panels=[panel], window_refresh_s=0, slow_refresh_s=0)
    try:
        await wait_for(source, names, complete)
        lab.clock.frozen = time.time()
        await asyncio.sleep(3.5)  # every target scraped at least twice at the frozen values
        reading = await source.read(names)
    finally:
        await source.aclose()
    assert reading.error is None and reading.errors == () and reading.missing == ()
    assert [n.name for n in reading.nodes] == names and reading.down == ()

    for name in names:
        node = reading.node(name)
        assert node is not None and node.host is not None
        served = page_values(lab.exporter.node_exporter(name))
        host = node.host
        assert (host.load1, host.load5, host.load15) == (
            served[("node_load1", "")],
            served[("node_load5", "")],
            served[("node_load15", "")],
        )
        assert host.mem_total_bytes == served[("node_memory_MemTotal_bytes", "")]
        assert host.mem_available_bytes == served[("node_memory_MemAvailable_bytes", "")]
        assert host.uptime_s == pytest.approx(
            served[("node_time_seconds", "")] - served[("node_boot_time_seconds", "")]
        )
        assert host.cpu_pct is not None and 0.0 < host.cpu_pct < 100.0
        for disk in host.disks:
            labels = f'{{device="{disk.filesystem}",device_error="",fstype="{"xfs" if "sd" in disk.filesystem else "ext4"}",mountpoint="{disk.mount}"}}'
            assert disk.size_bytes == served[("node_filesystem_size_bytes", labels)]
            assert disk.avail_bytes == served[("node_filesystem_avail_bytes", labels)]
        world = lab.exporter.worlds[name]
        if not world.gpus:
            assert node.gpus is None
            continue
        dcgm = page_values(lab.exporter.dcgm(name))
        assert node.gpus is not None and len(node.gpus) == len(world.gpus)
        for gpu, sim in zip(node.gpus, world.gpus, strict=True):
            labels = (
                f'{{gpu="{sim.index}",UUID="{sim.uuid}",pci_bus_id="{sim.bus_id}",device="nvidia{sim.index}",'
                f'modelName="{sim.spec.name}",Hostname="{name}",DCGM_FI_DRIVER_VERSION="580.159.04"}}'
            )
            assert (gpu.index, gpu.uuid, gpu.name) == (sim.index, sim.uuid, sim.spec.name)
            assert gpu.util_pct == dcgm[("DCGM_FI_DEV_GPU_UTIL", labels)]
            assert gpu.temp_c == dcgm[("DCGM_FI_DEV_GPU_TEMP", labels)]
            assert gpu.power_w == dcgm[("DCGM_FI_DEV_POWER_USAGE", labels)]
            assert gpu.power_limit_w == dcgm[("DCGM_FI_DEV_POWER_MGMT_LIMIT", labels)]
            assert gpu.mem_used_mib == dcgm[("DCGM_FI_DEV_FB_USED", labels)]
            assert gpu.mem_total_mib == sim.spec.mem_total_mib

    signals = {(s.metric, s.subject): s.value for s in reading.signals}
    llama = "vllm:meta-llama/Llama-3.1-70B-Instruct@gpu-a"
    assert (signals[("kv_cache", llama)], signals[("waiting", llama)]) == (0.95, 2.0)
    assert signals[("ttft_p95_s", llama)] is not None and signals[("gen_tokens_s", llama)] > 0
    assert signals[("replicas", "ray:llm/VLLMDeployment")] == 2.0
    (gpus_panel,) = reading.panels
    assert [(s.labels, s.value) for s in gpus_panel.series] == [("", 3.0)]
    assert any(a.name == "VLLMKVCacheHigh" and a.state == "firing" for a in reading.alerts)
    assert any(a.metric == "prometheus:VLLMKVCacheHigh" for a in prometheus_alerts(reading.alerts))
    rules = GoldenRules()
    rules.update(reading.signals, now=0.0)
    assert any(a.metric == "kv_cache" for a in rules.update(reading.signals, now=300.0))


async def test_a_stopped_target_becomes_node_down_and_a_dead_prometheus_keeps_last_data(lab: Lab) -> None:
    names = ["gpu-a", "gpu-b", "cpu-c"]
    source = lab.source()
    try:
        first = await wait_for(source, names, lambda r: {n.name for n in r.nodes if n.host} >= set(names))
        assert first.down == ()
        await lab.servers["gpu-b"].stop()
        reading = await wait_for(source, names, lambda r: "gpu-b" in r.down, timeout=20)
        node = reading.node("gpu-b")
        assert node is not None and node.down and len(node.down_targets) == 3
        assert reading.down == ("gpu-b",)
        down = node.reading(reading.at)
        assert down.host is not None and "scrape failed" in down.host.reason  # type: ignore[union-attr]

        await asyncio.to_thread(lab.prom.stop)
        failed = await source.read(names)
        assert failed.error == "connection refused"
        assert failed.last_good == reading.last_good and failed.age_s is not None and failed.age_s >= 0
        assert [n.name for n in failed.nodes] == [n.name for n in reading.nodes]  # the last good data
    finally:
        await source.aclose()


async def test_delta_reads_follow_each_scrape_and_equal_a_full_read(lab: Lab) -> None:
    """Between full reads the source asks only about targets scraped since its last read; a value
    changed on an exporter arrives with that target's next scrape, and at a frozen instant the
    delta-read state equals what a full read of the same Prometheus gives."""
    names = ["gpu-a", "gpu-b", "cpu-c"]
    source = lab.source()  # default tiers: full reads only at start and every 60 s
    # Scraped every second, every target is fresh at every read, which reads them all at once
    # (past half of them a narrowed query costs what a full one does): narrow anyway, to test it.
    source._fresh.max_share = 1.0
    full = lab.source(slow_refresh_s=0)  # every read a full one
    try:
        await wait_for(source, names, complete)
        await wait_for(source, names, lambda r: source.last_read.startswith("delta"), timeout=10)
        lab.exporter.set_vllm("gpu-a", kv_cache=0.42, waiting=5)
        llama = "vllm:meta-llama/Llama-3.1-70B-Instruct@gpu-a"

        def changed(reading: PromReading) -> bool:
            values = {(s.metric, s.subject): s.value for s in reading.signals}
            return values.get(("kv_cache", llama)) == 0.42 and source.last_read.startswith("delta")

        await wait_for(source, names, changed, timeout=10)
        lab.clock.frozen = time.time()
        await asyncio.sleep(3.5)  # every target scraped at least twice at the frozen values
        delta = await wait_for(source, names, lambda r: source.last_read.startswith("delta"), timeout=10)
        whole = await full.read(names)
    finally:
        await source.aclose()
        await full.aclose()
    assert full.last_read == "full"
    for name in names:
        a, b = delta.node(name), whole.node(name)
        assert a is not None and b is not None and a.host is not None and b.host is not None
        assert a.gpus == b.gpus, name
        assert (a.host.load1, a.host.mem_available_bytes) == (b.host.load1, b.host.mem_available_bytes)
    assert [(s.metric, s.subject, s.value) for s in delta.signals if s.metric in ("kv_cache", "waiting")] == [
        (s.metric, s.subject, s.value) for s in whole.signals if s.metric in ("kv_cache", "waiting")
    ]
