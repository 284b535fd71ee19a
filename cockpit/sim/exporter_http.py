"""Loopback HTTP listeners serving :class:`~cockpit.sim.exporter.SimExporter` pages to a real Prometheus.

One :class:`ExporterServer` can serve every node (the 2,000-node benchmark: one port, one path per
target) or only some (the integration test: one listener per node, so stopping it makes that node's
targets refuse connections, exactly what Prometheus records as ``up == 0``). The request handling is
:mod:`cockpit.sim.http`'s (keep-alive, bounded heads, HTTP/1.0 and 1.1); only the routing differs.
:func:`scrape_config` writes the ``scrape_configs`` that point Prometheus at the targets, with
``instance`` set to ``NODE:PORT`` as a real cluster's targets would read.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable
from typing import Any

from cockpit.sim.exporter import CONTENT_TYPE, JOBS, SimExporter
from cockpit.sim.http import _keep_alive, _parse, _send, close_abruptly, listen
from cockpit.sim.http_answers import Answer
from cockpit.sim.server import SimError, loopback_address

KEEPALIVE_S = 120.0
"""Prometheus keeps its scrape connections open between scrapes; so do the real exporters."""


class ExporterServer:
    """Serves ``/JOB/NODE/metrics`` for ``nodes`` (default: all) on ``host:port`` (0: any port)."""

    def __init__(
        self,
        exporter: SimExporter,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        nodes: Iterable[str] | None = None,
        cache_s: float = 0.0,
    ) -> None:
        self.exporter = exporter
        self.cache_s = cache_s
        """Serve a rendered page again for this long (the 2,000-node benchmark: a Python renderer
        must not be what limits how many targets Prometheus can scrape)."""
        self._cache: dict[str, tuple[float, bytes]] = {}
        self.host = loopback_address(host)
        self.port = port
        self.nodes = set(exporter.worlds) if nodes is None else set(nodes)
        if unknown := self.nodes - set(exporter.worlds):
            raise SimError(f"no such simulated node: {', '.join(sorted(unknown))}")
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self.scrapes = 0

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}" if ":" not in self.host else f"[{self.host}]:{self.port}"

    @property
    def listening(self) -> bool:
        return self._server is not None

    async def start(self) -> None:
        self._server = await listen(self._serve, self.host, self.port, "exporter")
        if self.port == 0:
            self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        """The exporter process dies: the port refuses, open connections are cut."""
        server, self._server = self._server, None
        await close_abruptly(server, self._writers, self._tasks)

    async def __aenter__(self) -> ExporterServer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    def targets(self) -> list[dict[str, Any]]:
        """``static_configs`` entries (one per target) for this server's nodes, grouped by job."""
        out = []
        for target in self.exporter.targets(n for n in self.exporter.worlds if n in self.nodes):
            out.append({
                "job": target.job,
                "targets": [self.address],
                "labels": {"__metrics_path__": target.path, "instance": target.instance},
            })  # fmt: skip
        return out

    def route(self, method: str, path: str) -> Answer:
        if method not in ("GET", "HEAD"):
            return Answer(405, b"Method Not Allowed\n", "text/plain; charset=utf-8")
        parts = path.strip("/").split("/")
        node = parts[1] if len(parts) == 3 else ""
        if node not in self.nodes:
            return Answer(404, b"404 page not found\n", "text/plain; charset=utf-8")
        if (parts[0], node) in self.exporter.down:
            return Answer(503, b"collector failed\n", "text/plain; charset=utf-8")
        self.scrapes += 1
        now = time.monotonic()
        cached = self._cache.get(path)
        if cached is not None and now - cached[0] < self.cache_s:
            return Answer(200, cached[1], CONTENT_TYPE)
        page = self.exporter.page(path)
        if page is None:
            return Answer(404, b"404 page not found\n", "text/plain; charset=utf-8")
        body = page.encode()
        if self.cache_s > 0:
            self._cache[path] = (now, body)
        return Answer(200, body, CONTENT_TYPE)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        self._writers.add(writer)
        try:
            while await self._one(reader, writer):
                pass
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.CancelledError):
            pass
        finally:
            self._tasks.discard(task)
            self._writers.discard(writer)
            writer.close()

    async def _one(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), KEEPALIVE_S)
        except (TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError):
            return False
        request = _parse(head)
        if request is None:
            await _send(writer, Answer(400, b"Bad Request"), close=True)
            return False
        method, path, version, headers = request
        keep = _keep_alive(version, headers.get("connection", ""))
        reply = self.route(method, path)
        await _send(writer, reply, close=not keep, head_only=method == "HEAD", http10=version == "HTTP/1.0")
        return keep


def scrape_config(servers: Iterable[ExporterServer], *, interval_s: float = 15.0) -> dict[str, Any]:
    """A prometheus.yml document scraping every target of ``servers``, one job per exporter kind."""
    groups: dict[str, list[dict[str, Any]]] = {job: [] for job in JOBS}
    for server in servers:
        for entry in server.targets():
            groups[entry.pop("job")].append(entry)
    interval = f"{interval_s:g}s" if interval_s >= 1 else f"{int(interval_s * 1000)}ms"
    return {
        "global": {"scrape_interval": interval, "evaluation_interval": interval, "scrape_timeout": interval},
        "scrape_configs": [
            {"job_name": job, "static_configs": configs} for job, configs in groups.items() if configs
        ],
    }
