"""The demo's Prometheus: the simulated exporters on one loopback port, scraped by the real server.

A config with ``prometheus:`` (runbook 004) is demoed against a real ``prometheus`` rather than a
fake query API, so the cockpit's PromQL runs as written. One :class:`ExporterServer` serves every
node's pages; each target's labels name its node the way :mod:`cockpit.sources.prom_map` matches
them: ``instance`` is ``NODE:PORT`` (the port is dropped when matching), dcgm-exporter's own
``Hostname`` label is the node name, and a ``node_label`` or ``gpu_node_label`` other than those two
(``node`` on Kubernetes) is added as a target label with the node name. node_exporter's job takes
``discover.job``'s name, so discovery finds the simulated nodes in ``up``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import shutil
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

from cockpit.config import PrometheusConfig
from cockpit.sim.exporter import JOBS, SimExporter
from cockpit.sim.exporter_http import ExporterServer, scrape_config
from cockpit.sim.prometheus_proc import PrometheusProcess, find_prometheus, free_port
from cockpit.sim.server import SimError

SCRAPE_INTERVAL_S = 1.0
FIRST_SCRAPE_S = 20.0
"""How long start() waits for every target's first scrape (Prometheus hands new targets to its
scrapers at most every 5 s, so the first samples land 5 to 7 s after it is ready)."""
FIXED_LABELS = frozenset({"instance", "job"})
MISSING = (
    "prometheus is not installed: a config with prometheus: is demoed against the real server "
    "(Debian package prometheus: apt-get install prometheus)"
)


def node_labels(config: PrometheusConfig, job: str) -> set[str]:
    """The labels of ``job``'s targets, besides ``instance``, that must carry the node's name:
    ``node_label`` everywhere (``up`` is mapped by it), ``gpu_node_label`` on dcgm-exporter unless
    it is the exporter's own ``Hostname``, and the discovery label on the discovered job."""
    wanted = {config.node_label}
    if job == "dcgm" and config.gpu_node_label:
        wanted.add(config.gpu_node_label)
    discover = config.discover
    if discover is not None and discover.node_label and job in (discover.job, _job_name(config, "node")):
        wanted.add(discover.node_label)
    if job == "dcgm":
        wanted.discard("Hostname")  # the exporter's own label already says it
    return wanted - FIXED_LABELS


def _job_name(config: PrometheusConfig, job: str) -> str:
    """node_exporter's job is named as ``discover.job`` says, unless that is another exporter's."""
    if job == "node" and config.discover is not None and config.discover.job not in JOBS:
        return config.discover.job
    return job


def labelled(document: dict[str, Any], config: PrometheusConfig) -> dict[str, Any]:
    """``scrape_config``'s document with node-naming target labels added and the node job renamed."""
    for job in document["scrape_configs"]:
        job["job_name"] = name = _job_name(config, job["job_name"])
        for entry in job["static_configs"]:
            node = entry["labels"]["__metrics_path__"].split("/")[2]
            for label in node_labels(config, name):
                entry["labels"][label] = node
    return document


class PromStack:
    """Start: exporters, then prometheus (scraping every second); :attr:`url` is where it answers."""

    def __init__(self, exporter: SimExporter, config: PrometheusConfig, *, port: int = 0) -> None:
        binary = find_prometheus()
        if binary is None:
            raise SimError(MISSING)
        self.binary = binary
        self.exporter = exporter
        self.config = config
        self.port = port
        self.server: ExporterServer | None = None
        self.process: PrometheusProcess | None = None
        self._workdir: Path | None = None

    @property
    def url(self) -> str:
        if self.process is None:
            raise SimError("the simulated Prometheus is not started (call start() first)")
        return self.process.url

    async def start(self) -> None:
        server = ExporterServer(self.exporter)
        await server.start()
        self.server = server
        self._workdir = Path(tempfile.mkdtemp(prefix="cockpit-sim-prometheus-"))
        document = labelled(scrape_config([server], interval_s=SCRAPE_INTERVAL_S), self.config)
        process = PrometheusProcess(
            document, self._workdir, binary=self.binary, port=self.port or free_port()
        )
        self.process = process
        await asyncio.to_thread(process.start)
        await self._first_scrape(len(server.targets()))

    async def _first_scrape(self, targets: int) -> None:
        """Return once ``up`` has a sample for every target: a cockpit started now reads every node."""
        assert self.process is not None
        query = urllib.parse.urlencode({"query": "count(up)"})
        url = f"{self.process.url}/api/v1/query?{query}"
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        deadline = time.monotonic() + FIRST_SCRAPE_S
        while time.monotonic() < deadline:
            if await asyncio.to_thread(_count, opener, url) >= targets:
                return
            await asyncio.sleep(0.2)
        raise SimError(f"prometheus scraped fewer than {targets} targets within {FIRST_SCRAPE_S:g} s")

    async def stop(self) -> None:
        process, self.process = self.process, None
        if process is not None:
            await asyncio.to_thread(process.stop)
        server, self.server = self.server, None
        if server is not None:
            await server.stop()
        workdir, self._workdir = self._workdir, None
        if workdir is not None:
            shutil.rmtree(workdir, ignore_errors=True)


def _count(opener: urllib.request.OpenerDirector, url: str) -> int:
    with contextlib.suppress(OSError, ValueError, KeyError, IndexError, TypeError):
        with opener.open(url, timeout=2) as answer:
            result = json.load(answer)["data"]["result"]
        return int(float(result[0]["value"][1])) if result else 0
    return 0
