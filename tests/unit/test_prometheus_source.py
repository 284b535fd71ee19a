"""The Prometheus source over real HTTP: a loopback server replays the bodies a real Prometheus sent.

tests/fixtures/prometheus holds what Prometheus 2.42 answered to each of the source's queries; the
replay server answers ``POST /api/v1/query`` with the file for that exact query text (HTTP 400 with
Prometheus's own ``bad_data`` body for anything else) and ``/api/v1/alerts`` with alerts.json. The
integration tier runs the same source against the real binary.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import parse_qs

import pytest

import cockpit.config  # noqa: F401  (config imports prom_config at its end: load it first)
from cockpit.model import ProbeError
from cockpit.prom_config import PanelConfig, PrometheusConfig
from cockpit.sources import prom_queries as q
from cockpit.sources.prometheus import PrometheusSource

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "prometheus"
NAMES = ["gpu-a", "gpu-b", "cpu-c"]


class Replay:
    """A tiny HTTP/1.1 server on 127.0.0.1 answering from the captured bodies."""

    def __init__(self) -> None:
        every = {
            **q.queries("instance", "instance", "10s"),
            **q.window_queries("instance"),
            **q.slow_queries("instance", "instance"),
        }
        self.bodies = {
            q: (FIXTURES / f"query_{k.replace(':', '_')}.json").read_bytes() for k, q in every.items()
        }
        self.bodies["scalar(count(up))"] = (FIXTURES / "query_scalar.json").read_bytes()
        self.names = {q: k for k, q in every.items()}
        self.seen: list[str] = []
        self.headers: list[dict[str, str]] = []
        self.server: asyncio.Server | None = None
        self.writers: set[asyncio.StreamWriter] = set()
        self.port = 0

    async def start(self) -> None:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", self.port)
        self.port = self.server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self.server is not None:
            self.server.close()
            for writer in list(self.writers):
                writer.transport.abort()  # the process died: its connections die with it
            await self.server.wait_closed()
            self.server = None

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.writers.add(writer)
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                method, path, _ = lines[0].split(" ")
                headers = {k.lower(): v.strip() for k, _, v in (ln.partition(":") for ln in lines[1:] if ln)}
                self.headers.append(headers)
                body = await reader.readexactly(int(headers.get("content-length", "0")))
                status, answer = self._answer(method, path, body)
                writer.write(
                    f"HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {len(answer)}\r\n\r\n".encode()
                    + answer
                )
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            self.writers.discard(writer)
            writer.close()

    def _answer(self, method: str, path: str, body: bytes) -> tuple[int, bytes]:
        if path == "/api/v1/alerts":
            self.seen.append("alerts")
            return 200, (FIXTURES / "alerts.json").read_bytes()
        query = parse_qs(body.decode())["query"][0]
        self.seen.append(self.names.get(query, query))
        if query in self.bodies:
            return 200, self.bodies[query]
        return 400, (FIXTURES / "query_error_parse.json").read_bytes()


@pytest.fixture
async def replay() -> AsyncIterator[Replay]:
    server = Replay()
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def source(replay: Replay, clock: Clock, **options: object) -> PrometheusSource:
    panels = options.pop("panels", ())
    config = PrometheusConfig(url=f"http://127.0.0.1:{replay.port}", rate_window="10s", **options)  # type: ignore[arg-type]
    return PrometheusSource(config, clock, panels=panels)  # type: ignore[arg-type]


async def test_one_cycle_reads_every_part(replay: Replay) -> None:
    panels = [
        PanelConfig(name="targets", promql="scalar(count(up))"),
        PanelConfig(name="bad", promql="sum(up"),
    ]
    async with source(replay, Clock(), panels=panels) as prom:
        reading = await prom.read(NAMES)
    assert reading.error is None and reading.errors == ()
    assert (reading.at, reading.last_good, reading.age_s) == (1000.0, 1000.0, 0.0)
    assert [n.name for n in reading.nodes] == NAMES and reading.down == ("gpu-b",)
    a = reading.node("gpu-a")
    assert a is not None and a.host is not None and a.gpus is not None
    assert (a.host.mem_total_bytes, a.host.cpu_pct, len(a.host.disks)) == (67688684544, 52.1, 2)
    assert [(g.index, g.uuid is not None, g.mem_total_mib) for g in a.gpus] == [
        (0, True, 81559.0),
        (1, True, 81559.0),
    ]
    assert {s.metric for s in reading.signals} >= {
        "kv_cache",
        "waiting",
        "ttft_p95_s",
        "gen_tokens_s",
        "replicas",
    }
    assert [(p.name, p.error) for p in reading.panels] == [
        ("targets", None),
        ("bad", 'bad_data: invalid parameter "query": 1:7: parse error: unclosed left parenthesis'),
    ]
    assert len(reading.alerts) == 5
    assert set(replay.seen) >= {"up", "gpu:util", "gpu_ids", "fs", "host_window", "alerts"}
    assert (a.host.load5, a.host.load15) == (3.69, 3.69)  # the window tier's


async def test_unchanged_boards_keep_their_reading_and_slow_data_is_mapped_once(replay: Replay) -> None:
    """Prometheus's values move once per scrape: a second cycle over the same answers builds nothing
    new for a board, and the uptime read in the slow tier advances by the source's clock."""
    clock = Clock()
    async with source(replay, clock) as prom:
        first = await prom.read(NAMES)
        clock.t += 5
        second = await prom.read(NAMES)
    a1, a2 = first.node("gpu-a"), second.node("gpu-a")
    assert a1 is not None and a2 is not None and a1.gpus and a2.gpus
    assert all(g1 is g2 for g1, g2 in zip(a1.gpus, a2.gpus, strict=True))
    assert a1.host is not None and a2.host is not None
    assert a1.host.uptime_s is not None and a2.host.uptime_s == pytest.approx(a1.host.uptime_s + 5)
    assert a2.host.disks == a1.host.disks and a2.gpus[0].uuid is not None


async def test_slow_queries_wait_for_their_refresh(replay: Replay) -> None:
    clock = Clock()
    async with source(replay, clock, slow_refresh_s=60) as prom:
        await prom.read(NAMES)
        replay.seen.clear()
        clock.t += 10
        reading = await prom.read(NAMES)
        assert "gpu_ids" not in replay.seen and "fs" not in replay.seen and "gpu:util" in replay.seen
        a = reading.node("gpu-a")
        assert a is not None and a.gpus is not None and a.gpus[0].uuid is not None  # from the last slow read
        assert a.host is not None and len(a.host.disks) == 2
        replay.seen.clear()
        clock.t += 60
        await prom.read(NAMES)
        assert "gpu_ids" in replay.seen


async def test_kept_tiers_hold_what_they_mapped_and_are_asked_again_when_the_nodes_change(
    replay: Replay,
) -> None:
    """Identities, totals, limits, disks and slow gauges are mapped once and their answers dropped
    (16,000 GPUs' label dicts were ~40 MB held for ten minutes); a node list that changes before the
    next slow read keeps the last mapping for a cycle and has the tiers asked again."""
    mapped_once = {"gpu_ids", "gpu:total", "gpu:limit", "host_static", "fs", "host_window"}
    clock = Clock()
    async with source(replay, clock, slow_refresh_s=600, window_refresh_s=600) as prom:
        await prom.read(NAMES)
        assert all(prom._kept[k] == [] for k in mapped_once)
        replay.seen.clear()
        clock.t += 2
        second = await prom.read([*NAMES, "gpu-z"])
        assert not mapped_once & set(replay.seen)
        a = second.node("gpu-a")
        assert a is not None and a.gpus and a.gpus[0].uuid is not None and a.host and len(a.host.disks) == 2
        clock.t += 2
        await prom.read([*NAMES, "gpu-z"])
        assert mapped_once <= set(replay.seen)
        replay.seen.clear()
        clock.t += 2
        third = await prom.read([*NAMES, "gpu-z"])
        assert not mapped_once & set(replay.seen), "asked again once, not every cycle"
    a = third.node("gpu-a")
    assert a is not None and a.gpus and a.gpus[0].uuid is not None and a.host and a.host.load5 == 3.69


async def test_a_dead_prometheus_keeps_the_last_good_data_and_says_how_old(replay: Replay) -> None:
    clock = Clock()
    prom = source(replay, clock)
    try:
        good = await prom.read(NAMES)
        await replay.stop()
        clock.t += 7
        failed = await prom.read(NAMES)
    finally:
        await prom.aclose()
    assert failed.error == "connection refused"
    assert (failed.at, failed.last_good, failed.age_s) == (1007.0, 1000.0, 7.0)
    assert failed.nodes == good.nodes and failed.signals == good.signals


async def test_never_reached_prometheus_has_no_data(replay: Replay) -> None:
    await replay.stop()
    async with source(replay, Clock()) as prom:
        reading = await prom.read(NAMES)
    assert (reading.error, reading.nodes, reading.last_good, reading.age_s) == (
        "connection refused",
        (),
        None,
        None,
    )


async def test_headers_are_secret_references(replay: Replay, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PROM_TOKEN", "Bearer s3cret")
    async with source(replay, Clock(), headers={"Authorization": "${env:PROM_TOKEN}"}) as prom:
        await prom.read(NAMES)
    assert all(h.get("authorization") == "Bearer s3cret" for h in replay.headers)
    monkeypatch.delenv("PROM_TOKEN")
    replay.headers.clear()
    async with source(replay, Clock(), headers={"Authorization": "${env:PROM_TOKEN}"}) as prom:
        reading = await prom.read(NAMES)
    assert reading.error == "environment variable PROM_TOKEN is not set (for ${env:PROM_TOKEN})"
    assert replay.headers == []  # nothing sent without its credentials


async def test_a_non_prometheus_answer_is_one_line(replay: Replay) -> None:
    replay.bodies = {q: b"<html>login</html>" for q in replay.bodies}
    async with source(replay, Clock()) as prom:
        reading = await prom.read(NAMES)
    assert reading.error is not None and reading.error.startswith("HTTP 200, not JSON")


def test_config_validation() -> None:
    with pytest.raises(ValueError, match="literal secret"):
        PrometheusConfig(url="http://p:9090", headers={"Authorization": "Bearer abc"})
    with pytest.raises(ValueError, match="not a Prometheus label name"):
        PrometheusConfig(url="http://p:9090", node_label="node-name")
    with pytest.raises(ValueError, match="PromQL duration"):
        PrometheusConfig(url="http://p:9090", rate_window="5 minutes")
    config = PrometheusConfig(url="http://p:9090", prefer={"gpus": "prometheus"})
    assert (config.winner("gpus"), config.winner("host")) == ("prometheus", "ssh")
    with pytest.raises(ValueError, match="past critical"):
        PanelConfig(name="x", promql="up", warning=5, critical=1)
    assert PanelConfig(name="x", promql="up", warning=5, critical=1, below=True).limit is None
    assert isinstance(json.dumps(PanelConfig(name="x", promql="up").model_dump()), str)
    assert ProbeError("a", "b") == ProbeError("a", "b")


async def test_an_answer_too_large_is_cut_off_and_no_answer_keeps_its_body(
    replay: Replay, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Answers are read as a stream: one over MAX_BODY stops being read as it passes it; and no
    httpx response (they sit in reference cycles until a full collection) holds a body read."""
    import gc

    import httpx

    from cockpit.sources import prometheus as prom_module

    async with source(replay, Clock()) as prom:
        with collector_paused():
            await prom.read(NAMES)
            held = [o for o in gc.get_objects() if isinstance(o, httpx.Response)]
            assert held, "the responses are still there, in their cycles"
            assert all(not getattr(r, "_content", None) for r in held), "a response kept its body"
        monkeypatch.setattr(prom_module, "MAX_BODY", 1000)
        reading = await prom.read(NAMES)
    reasons = [reading.error or "", *(e.reason for e in reading.errors)]
    assert any("answer too large (over 0 MiB)" in r for r in reasons), reasons


def collector_paused():  # type: ignore[no-untyped-def]
    from cockpit import collector

    return collector.paused()
