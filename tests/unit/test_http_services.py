"""Service probes against real HTTP servers on 127.0.0.1: the simulated products, and raw odd ones."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator

import httpx
import pytest

from cockpit.config import Expect, ServiceConfig
from cockpit.sim.http import ServiceSim, ServiceSims
from cockpit.sim.server import SimError
from cockpit.sources.http import ServiceProber
from tests.raw_server import raw_server


def _service(
    name: str, kind: str = "http", url: str = "http://127.0.0.1:1", **fields: object
) -> ServiceConfig:
    return ServiceConfig(name=name, url=url, kind=kind, **fields)  # type: ignore[arg-type]


@contextlib.asynccontextmanager
async def sim(service: ServiceConfig, **options: object) -> AsyncIterator[ServiceSim]:
    server = ServiceSim(service, ephemeral_port=True, **options)  # type: ignore[arg-type]
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


async def _head(reader: asyncio.StreamReader) -> bytes:
    return await reader.readuntil(b"\r\n\r\n")


@pytest.fixture
async def prober() -> AsyncIterator[ServiceProber]:
    async with ServiceProber() as p:
        yield p


# -- each product, as simulated -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "path", "detail"),
    [
        ("tabbyapi", "/v1/model", "model Llama-3.3-70B-Instruct-exl2-4.0bpw"),
        ("ollama", "/api/tags", "3 models"),
        ("litellm", "/health", "1/1 endpoints healthy"),
        ("grafana", "/api/health", "version 11.4.0"),
        ("prometheus", "/-/healthy", "healthy"),
        ("open-webui", "/health", "healthy"),
        ("triton", "/v2/health/ready", "2/2 models ready: densenet_onnx, text_recognition"),
        ("dns", "/", None),
        ("http", "/", None),
    ],
)
async def test_each_kind_is_healthy_on_its_default_path(
    prober: ServiceProber, kind: str, path: str, detail: str | None
) -> None:
    async with sim(_service("svc", kind)) as server:
        reading = await prober.probe(server.effective(), lambda: 1234.0)
    assert (reading.ok, reading.detail, reading.error) == (True, detail, None)
    assert reading.url == f"http://127.0.0.1:{server.port}{path}"
    assert reading.at == 1234.0
    assert reading.latency_s is not None and 0 < reading.latency_s < 1
    assert server.requests[0] == ("GET", path)


@pytest.mark.parametrize(
    ("kind", "status", "error"),
    [
        ("tabbyapi", 503, "HTTP 503: No models are currently loaded."),
        ("ollama", 503, "HTTP 503: server busy, please try again.  maximum pending requests exceeded"),
        ("litellm", 200, "1 of 1 endpoints unhealthy (ollama/llama3.2:3b)"),
        ("grafana", 503, "HTTP 503: database failing"),
        ("prometheus", 503, "HTTP 503: Service Unavailable"),
        ("open-webui", 500, "HTTP 500: Internal Server Error"),
        ("triton", 400, "not ready (HTTP 400)"),
    ],
)
async def test_each_kind_fails_in_its_own_words(
    prober: ServiceProber, kind: str, status: int, error: str
) -> None:
    async with sim(_service("svc", kind), state="error") as server:
        reading = await prober.probe(server.effective())
    assert (reading.ok, reading.status_code, reading.error) == (False, status, error)


@pytest.mark.parametrize("kind", ["tabbyapi", "ollama", "litellm", "grafana", "open-webui"])
async def test_a_cut_json_body_is_not_json(prober: ServiceProber, kind: str) -> None:
    async with sim(_service("svc", kind), state="bad-json") as server:
        reading = await prober.probe(server.effective())
    assert (reading.ok, reading.status_code, reading.error) == (False, 200, "not JSON")


async def test_a_down_service_refuses_and_comes_back_on_the_same_port(prober: ServiceProber) -> None:
    async with sim(_service("tabby", "tabbyapi")) as server:
        service = server.effective()
        assert (await prober.probe(service)).ok
        await server.set_state("down")
        down = await prober.probe(service)
        assert (down.ok, down.error, down.status_code, down.latency_s) == (
            False,
            "connection refused",
            None,
            None,
        )
        await server.set_state("ok")
        assert server.effective().url == service.url
        assert (await prober.probe(service)).ok


async def test_a_slow_service_times_out_without_delaying_the_others(prober: ServiceProber) -> None:
    async with (
        sim(_service("slow", "ollama", timeout=0.3), state="slow", slow_s=5) as slow,
        sim(_service("fast", "prometheus", timeout=0.3)) as fast,
    ):
        started = time.perf_counter()
        readings = await prober.probe_all([slow.effective(), fast.effective()])
        elapsed = time.perf_counter() - started
        await slow.set_state("ok")
        again = await prober.probe_all([slow.effective(), fast.effective()])  # the pool survived the cut
    assert [r.name for r in readings] == ["slow", "fast"]
    assert (readings[0].ok, readings[0].error) == (False, "timeout after 0.3s")
    assert readings[1].ok and readings[1].latency_s is not None and readings[1].latency_s < 0.2
    assert elapsed < 1.0
    assert [r.ok for r in again] == [True, True]


async def test_latency_over_the_expected_maximum(prober: ServiceProber) -> None:
    service = _service("tabby", "tabbyapi", expect=Expect(max_latency_s=0.05), timeout=2)
    async with sim(service, state="slow", slow_s=0.2) as server:
        reading = await prober.probe(server.effective())
    assert not reading.ok
    assert reading.error is not None and reading.error.startswith("slow: 0.2s > 0.05s")
    assert reading.detail == "model Llama-3.3-70B-Instruct-exl2-4.0bpw"
    assert reading.latency_s is not None and 0.2 <= reading.latency_s < 1


async def test_probes_reuse_one_kept_alive_connection(prober: ServiceProber) -> None:
    async with sim(_service("ollama", "ollama")) as server:
        for _ in range(5):
            assert (await prober.probe(server.effective())).ok
        assert server.connections == 1
        assert len(server.requests) == 5


async def test_a_connection_the_server_drops_as_we_reuse_it_is_retried(prober: ServiceProber) -> None:
    """uvicorn closes idle connections after 5 s; a probe that lands in that instant must not fail."""
    async with sim(_service("ollama", "ollama"), keepalive_s=0.1) as server:
        readings = []
        for pause in (0.1, 0.09, 0.11, 0.1, 0.12, 0.1, 0.08, 0.1):
            readings.append(await prober.probe(server.effective()))
            await asyncio.sleep(pause)
    assert [r.error for r in readings] == [None] * 8


async def test_a_same_origin_redirect_is_followed_on_the_same_connection(prober: ServiceProber) -> None:
    async with sim(_service("grafana", "grafana", url="http://127.0.0.1:1/login-page")) as server:
        service = server.effective().model_copy(
            update={"kind": "http", "url": f"http://127.0.0.1:{server.port}/"}
        )
        reading = await prober.probe(service)
    assert (reading.ok, reading.status_code) == (True, 200)
    assert list(server.requests) == [("GET", "/"), ("GET", "/login")]
    assert server.connections == 1


async def test_a_redirect_to_another_origin_is_not_followed(prober: ServiceProber) -> None:
    async def elsewhere(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _head(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")

    async with raw_server(elsewhere) as (other, other_hits):

        async def redirect(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await _head(reader)
            writer.write(
                f"HTTP/1.1 302 Found\r\nLocation: {other}/v1/model\r\nContent-Length: 0\r\n\r\n".encode()
            )

        async with raw_server(redirect) as (url, _):
            reading = await prober.probe(_service("tabby", "tabbyapi", url=url))
    port = other.rsplit(":", 1)[1]
    assert reading.error == f"HTTP 302: redirects to 127.0.0.1:{port} (another host, not followed)"
    assert other_hits == []


async def test_a_proxy_in_the_environment_is_not_used(monkeypatch: pytest.MonkeyPatch) -> None:
    async def proxy(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _head(reader)

    async with raw_server(proxy) as (proxy_url, proxy_hits):
        for name in ("HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"):
            monkeypatch.setenv(name, proxy_url)
        monkeypatch.delenv("NO_PROXY", raising=False)
        monkeypatch.delenv("no_proxy", raising=False)
        async with ServiceProber() as prober, sim(_service("prom", "prometheus")) as server:
            reading = await prober.probe(server.effective())
    assert reading.ok
    assert proxy_hits == []


# -- servers that misbehave ---------------------------------------------------------------------


async def test_a_server_that_closes_mid_response(prober: ServiceProber) -> None:
    async def cut(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _head(reader)
        writer.write(
            b'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"id":"Ll'
        )
        await writer.drain()

    async with raw_server(cut) as (url, _):
        reading = await prober.probe(_service("tabby", "tabbyapi", url=url))
    assert (reading.ok, reading.error) == (False, "connection closed mid-response")


async def test_a_server_that_closes_before_answering(prober: ServiceProber) -> None:
    async def hang_up(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _head(reader)

    async with raw_server(hang_up) as (url, hits):
        reading = await prober.probe(_service("tabby", "tabbyapi", url=url))
    assert (reading.ok, reading.error) == (False, "connection closed before any answer")
    assert len(hits) == 2  # one retry: a kept-alive connection may have been closed as we reused it


async def test_a_server_that_drips_its_answer_is_cut_at_the_timeout(prober: ServiceProber) -> None:
    async def drip(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _head(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n")
        for _ in range(1000):
            writer.write(b" ")
            await writer.drain()
            await asyncio.sleep(0.02)

    async with raw_server(drip) as (url, _):
        started = time.perf_counter()
        reading = await prober.probe(_service("tabby", "tabbyapi", url=url, timeout=0.3))
        elapsed = time.perf_counter() - started
    assert (reading.ok, reading.error) == (False, "timeout after 0.3s")
    assert elapsed < 0.8


async def test_a_server_that_never_answers(prober: ServiceProber) -> None:
    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await asyncio.sleep(10)

    async with raw_server(silent) as (url, _):
        reading = await prober.probe(_service("tabby", "tabbyapi", url=url, timeout=0.2))
    assert (reading.ok, reading.error) == (False, "timeout after 0.2s")


async def test_an_ssh_port_is_not_http(prober: ServiceProber) -> None:
    async def sshd(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"SSH-2.0-OpenSSH_9.6p1 Ubuntu-3ubuntu13.5\r\n")
        await _head(reader)
        writer.write(b"Invalid SSH identification string.\r\n")  # what sshd says, then it hangs up

    async with raw_server(sshd) as (url, _):
        reading = await prober.probe(_service("wrong-port", "http", url=url, timeout=2))
    assert (reading.ok, reading.error) == (False, "connection closed before any answer")


async def test_a_garbage_answer_is_a_bad_http_answer(prober: ServiceProber) -> None:
    async def garbage(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _head(reader)
        writer.write(b"\x1b[2JHELLO\r\n\r\n")
        await asyncio.sleep(1)

    async with raw_server(garbage) as (url, _):
        reading = await prober.probe(_service("garbage", "http", url=url, timeout=2))
    assert (reading.ok, reading.error) == (False, "not an HTTP answer (is this the right port?)")


async def test_an_oversized_answer_is_refused() -> None:
    async def flood(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _head(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 8192\r\n\r\n" + b"[" * 8192)

    async with ServiceProber(max_body=1024) as prober, raw_server(flood) as (url, _):
        reading = await prober.probe(_service("big", "ollama", url=url))
    assert (reading.ok, reading.error) == (False, "answer larger than 1 KiB")


async def test_escapes_in_a_body_never_reach_the_reading(prober: ServiceProber) -> None:
    body = b'{"id":"\\u001b]0;pwned\\u0007Llama\\u001b[2J\xff","object":"model"}'

    async def hostile(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _head(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))

    async with raw_server(hostile) as (url, _):
        reading = await prober.probe(_service("tabby", "tabbyapi", url=url))
    assert reading.ok
    assert reading.detail == "model Llama?"


# -- the simulator itself -------------------------------------------------------------------------


async def test_the_simulator_speaks_http_1_1_with_keep_alive_and_content_length() -> None:
    async with sim(_service("prom", "prometheus")) as server:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(b"HEAD /-/healthy HTTP/1.1\r\nHost: x\r\n\r\nGET /-/ready HTTP/1.1\r\nHost: x\r\n\r\n")
        head = await _head(reader)
        assert head.startswith(b"HTTP/1.1 200 OK\r\n")
        assert b"content-length: 30\r\n" in head and b"connection" not in head
        second = await _head(reader)
        assert second.startswith(b"HTTP/1.1 200 OK\r\n")
        assert await reader.readexactly(28) == b"Prometheus Server is Ready.\n"
        writer.write(b"GET /nope HTTP/1.0\r\n\r\n")
        rest = await reader.read()  # HTTP/1.0 without keep-alive: the server closes after answering
        writer.close()
    assert rest.startswith(b"HTTP/1.1 404 Not Found\r\n")
    assert b"connection: close\r\n" in rest and rest.endswith(b"404 page not found\n")
    assert server.connections == 1


async def test_the_simulator_refuses_garbage_with_400() -> None:
    async with sim(_service("tabby", "tabbyapi")) as server:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(b"\x16\x03\x01 TLS hello?\r\n\r\n")
        answer = await reader.read()
        writer.close()
    assert answer.startswith(b"HTTP/1.1 400 Bad Request\r\n")


async def test_the_simulator_serves_many_clients_at_once() -> None:
    async with sim(_service("ollama", "ollama")) as server:
        limits = httpx.Limits(max_connections=40)
        async with httpx.AsyncClient(limits=limits, trust_env=False) as client:
            answers = await asyncio.gather(
                *(client.get(f"http://127.0.0.1:{server.port}/api/tags") for _ in range(40))
            )
    assert {a.status_code for a in answers} == {200}
    assert all(len(a.json()["models"]) == 3 for a in answers)
    assert server.connections > 1


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("http://192.168.1.250:5000", "is not a loopback address"),
        ("http://hydra-ai:5000", "is not an IP address"),
        ("https://127.0.0.1:5000", "plain http://"),
    ],
)
def test_the_simulator_listens_on_loopback_only(url: str, message: str) -> None:
    with pytest.raises(SimError, match=message):
        ServiceSim(_service("tabby", "tabbyapi", url=url))


async def test_service_sims_run_a_cluster_and_litellm_reports_its_backends(prober: ServiceProber) -> None:
    services = [
        _service("tabbyapi", "tabbyapi"),
        _service("ollama", "ollama"),
        _service("litellm", "litellm", depends_on=["tabbyapi", "ollama"]),
    ]
    async with ServiceSims(ephemeral_ports=True) as sims:
        await sims.start(services, {"ollama": "down"})
        effective = sims.effective_services()
        first = {r.name: r for r in await prober.probe_all(effective)}
        assert first["ollama"].error == "connection refused"
        assert first["litellm"].error == "1 of 2 endpoints unhealthy (ollama/llama3.2:3b)"
        await sims.set_state("ollama", "ok")
        assert sims.state("ollama") == "ok"
        second = {r.name: r for r in await prober.probe_all(effective)}
        assert all(r.ok for r in second.values())
        assert second["litellm"].detail == "2/2 endpoints healthy"
        with pytest.raises(SimError, match="must be one of"):
            await sims.set_state("ollama", "melting")
        with pytest.raises(SimError, match="no simulated service"):
            await sims.set_state("qdrant", "down")
    with pytest.raises(SimError, match="no such service: qdrant"):
        await ServiceSims().start(services, {"qdrant": "down"})


async def test_a_port_in_use_is_a_clear_error() -> None:
    async with sim(_service("a", "ollama")) as first:
        taken = _service("b", "ollama", url=f"http://127.0.0.1:{first.port}")
        sims = ServiceSims()
        with pytest.raises(SimError, match=r"127\.0\.0\.1:\d+ is already in use"):
            await sims.start([taken])
