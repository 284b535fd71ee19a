"""The Vast.ai API: parsers on the real bodies, and the client against a real server on loopback."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from email.utils import formatdate
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cockpit.config import Cluster  # noqa: F401  (config first: it loads fleet_config)
from cockpit.fleet_config import VastConfig
from cockpit.fleet_model import Instance
from cockpit.model import ProbeError
from cockpit.sim.server import SimError
from cockpit.sim.vast import SIM_API_KEY, SimInstance, VastApiSim, demo_instances
from cockpit.sources.vast import VastClient, parse_instance, parse_instances, retry_after

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "vast"
T = 1767225600.0
KEY_ENV = "COCKPIT_TEST_VAST_KEY"


def fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


# -- parsers -----------------------------------------------------------------------------------


def test_v0_instances() -> None:
    rows = parse_instances(fixture("instances_v0.json"))
    assert isinstance(rows, tuple)
    busy, idle, unlabeled, stopped = rows
    assert busy == Instance(
        id=28889768, label="vast-3090-64cpu", machine_id=14211, gpu_name="RTX 3090", num_gpus=1,
        actual_status="running", intended_status="running", cur_state="running",
        dph_total=pytest.approx(0.2 + 0.15 * 50 / 720), storage_usd_h=pytest.approx(0.15 * 50 / 720),
        gpu_util=91.3, ssh_host="ssh5.vast.ai", ssh_port=38768, public_ipaddr="203.0.113.21",
        start_date=T - 86400 * 3, status_msg="success, running pytorch/pytorch_2.4.0-cuda12.4-cudnn9-devel/ssh",
    )  # fmt: skip
    assert idle.gpu_util == 0.0 and idle.running and idle.gpu_billed
    assert unlabeled.label is None and unlabeled.name == "vast-28918740" and unlabeled.gpu_util is None
    assert unlabeled.num_gpus == 4
    assert stopped.actual_status == "stopped" and not stopped.running and not stopped.gpu_billed


def test_cli_raw_output_and_v1_pages_read_the_same() -> None:
    v0 = parse_instances(fixture("instances_v0.json"))
    raw = parse_instances(fixture("show_instances_raw.json"))
    page1 = parse_instances(fixture("instances_v1_page1.json"))
    page2 = parse_instances(fixture("instances_v1_page2.json"))
    assert isinstance(v0, tuple) and isinstance(raw, tuple)
    assert raw == v0[:2]
    assert page1 + page2 == v0  # type: ignore[operator]


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (fixture("instances_truncated.json"), "not JSON"),
        (fixture("error_500.html"), "not JSON (an HTML page)"),
        (b'{"detail": "API requests too frequent"}', "no 'instances' list in the answer"),
        (fixture("error_401.json"), "Invalid user key."),
        (b"", "empty answer"),
    ],
)
def test_bad_bodies_are_one_line(body: bytes, reason: str) -> None:
    parsed = parse_instances(body)
    assert isinstance(parsed, ProbeError) and parsed.reason.startswith(reason)


def test_hostile_rows() -> None:
    rows = [
        {"id": "12"}, {"id": True}, {"id": -4}, {"label": "no id"}, "row",
        {"id": 7, "label": "\x1b]0;owned\x07x", "gpu_util": 250, "dph_total": -1, "ssh_port": 70000,
         "num_gpus": 1.5, "actual_status": ["running"]},
    ]  # fmt: skip
    (inst,) = parse_instances(json.dumps({"instances": rows}))  # type: ignore[misc]
    assert inst == Instance(id=7, label="x", gpu_util=100.0)


json_values = st.recursive(
    st.none() | st.booleans() | st.floats() | st.integers() | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=5),
    max_leaves=25,
)
row_keys = st.sampled_from(["id", "label", "gpu_util", "dph_total", "num_gpus", "actual_status", "ssh_port"])


@settings(max_examples=300, deadline=None)
@given(st.lists(st.dictionaries(row_keys, json_values, max_size=7), max_size=5) | json_values)
def test_instance_parser_never_raises(doc: object) -> None:
    body = json.dumps({"instances": doc} if isinstance(doc, list) else doc)
    assert isinstance(parse_instances(body), tuple | ProbeError)
    if isinstance(doc, dict):
        assert parse_instance(doc) is None or isinstance(parse_instance(doc), Instance)


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("30", 30.0),
        ("0", 0.0),
        (formatdate(T + 45, usegmt=True), 45.0),
        ("soon", None),
        (None, None),
        ("", None),
    ],
)
def test_retry_after(value: str | None, seconds: float | None) -> None:
    assert retry_after(value, T) == seconds


# -- the client against the simulated API ------------------------------------------------------


class Clock:
    def __init__(self, now: float = T) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@contextlib.asynccontextmanager
async def api(
    instances: list[SimInstance] | None = None,
    *,
    timeout: float = 5.0,
    clock: Clock | None = None,
    **sim: object,
) -> AsyncIterator[tuple[VastApiSim, VastClient]]:
    clock = clock or Clock()
    server = VastApiSim(instances if instances is not None else demo_instances("ok", T), clock=clock, **sim)  # type: ignore[arg-type]
    await server.start()
    config = VastConfig(url=server.base_url, api_key=f"${{env:{KEY_ENV}}}", timeout=timeout)
    client = VastClient(config, clock=clock)
    try:
        yield server, client
    finally:
        await client.aclose()
        await server.stop()


@pytest.fixture(autouse=True)
def _key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(KEY_ENV, SIM_API_KEY)


async def test_reads_instances_with_the_bearer_key_only() -> None:
    async with api() as (server, client):
        reading = await client.instances()
    assert reading.ok and reading.error is None and reading.age_s == 0
    assert len(reading.instances) == 12 and reading.instances[0].id == 28844365
    request = server.last_request
    assert request is not None and request.path == "/api/v0/instances/"
    assert request.headers["authorization"] == f"Bearer {SIM_API_KEY}"
    assert request.query == {"owner": "me"}  # no api_key in the URL


async def test_401_keeps_the_last_good_list_with_its_age() -> None:
    clock = Clock()
    async with api(clock=clock) as (server, client):
        good = await client.instances()
        await server.set_mode("unauthorized")
        clock.now += 90
        bad = await client.instances()
    assert good.ok and not bad.ok and bad.stale
    assert bad.error == "HTTP 401: Invalid user key. (check vast.api_key)"
    assert bad.instances == good.instances and bad.age_s == 90


async def test_wrong_key_is_401_and_never_echoed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(KEY_ENV, "not-the-key")
    async with api() as (_server, client):
        reading = await client.instances()
    assert not reading.ok and reading.data_at is None and reading.instances == ()
    assert (
        reading.error is not None
        and reading.error.startswith("HTTP 401")
        and "not-the-key" not in reading.error
    )


async def test_missing_key_says_which_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(KEY_ENV)
    async with api() as (server, client):
        reading = await client.instances()
    assert reading.error == f"environment variable {KEY_ENV} is not set (for ${{env:{KEY_ENV}}})"
    assert server.last_request is None


async def test_429_with_retry_after_waits_before_asking_again() -> None:
    clock = Clock()
    async with api(clock=clock, mode="rate-limited", retry_after="30") as (server, client):
        first = await client.instances()
        asked = len(server.requests)
        clock.now += 10
        second = await client.instances()
        assert len(server.requests) == asked  # no request inside the window
        await server.set_mode("ok")
        clock.now += 21
        third = await client.instances()
    assert first.error == "HTTP 429: API requests too frequent endpoint threshold=3.0, next try in 30s"
    assert second.error == "rate limited (HTTP 429), next try in 20s"
    assert third.ok and len(third.instances) == 12


async def test_429_without_retry_after_backs_off_on_its_own() -> None:
    clock = Clock()
    async with api(clock=clock, mode="rate-limited") as (_server, client):
        first = await client.instances()
        clock.now += 11
        second = await client.instances()
    assert first.error is not None and first.error.endswith("next try in 10s")
    assert second.error is not None and second.error.endswith("next try in 20s")


async def test_500_slow_and_malformed_are_one_line_each() -> None:
    async with api(timeout=0.4, slow_s=2.0) as (server, client):
        good = await client.instances()
        await server.set_mode("error")
        error = await client.instances()
        await server.set_mode("bad-json")
        broken = await client.instances()
        await server.set_mode("slow")
        slow = await client.instances()
        await server.set_mode("down")
        down = await client.instances()
    assert error.error == "HTTP 500: Server Error (500)"
    assert broken.error is not None and broken.error.startswith("not JSON (")
    assert slow.error == "timeout after 0.4s"
    assert down.error == "connection refused"
    assert all(r.instances == good.instances and r.stale for r in (error, broken, slow, down))


async def test_v0_gone_switches_to_paged_v1() -> None:
    many = [
        SimInstance(id=30000000 + n, label=f"vast-{n}", gpu_name="RTX 4090", num_gpus=1, dph_base=0.4, busy=80,
                    start_date=T - 86400)
        for n in range(30)
    ]  # fmt: skip
    async with api(many, mode="v0-gone") as (server, client):
        reading = await client.instances()
        again = await client.instances()
    assert reading.ok and [i.id for i in reading.instances] == [i.id for i in many]
    assert client.api == "v1" and again.ok
    paths = [p for _, p in server.requests]
    assert paths.count("/api/v0/instances/") == 1 and paths.count("/api/v1/instances/") == 4


async def test_stop_and_destroy() -> None:
    async with api() as (server, client):
        stopped = await client.stop(28890015)
        destroyed = await client.destroy(28918742)
        missing = await client.destroy(999)
        after = await client.instances()
    assert (stopped.ok, stopped.status_code, stopped.message) == (True, 200, "instance 28890015: stopped")
    assert destroyed.ok and destroyed.message == "instance 28918742: destroyed"
    assert (missing.ok, missing.status_code, missing.message) == (
        False,
        404,
        "HTTP 404: Instance 999 not found.",
    )
    assert server.calls == [
        ("PUT", "/api/v0/instances/28890015/", {"state": "stopped"}),
        ("DELETE", "/api/v0/instances/28918742/", {}),
    ]
    by_id = {i.id: i for i in after.instances}
    assert by_id[28890015].actual_status == "stopped" and 28918742 not in by_id


async def test_actions_retry_429_then_give_up() -> None:
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    async with api(mode="rate-limited", retry_after="2") as (_server, client):
        client._sleep = sleep  # no real waiting in a unit test
        result = await client.stop(28890015)
    assert not result.ok and result.status_code == 429 and waits == [2.0, 2.0]


async def test_a_hostile_server_cannot_make_us_print_the_key() -> None:
    async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1")
        auth = next(line for line in head.split("\r\n") if line.lower().startswith("authorization"))
        body = json.dumps({"success": False, "msg": f"bad {auth}"}).encode()
        writer.write(b"HTTP/1.1 403 Forbidden\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(echo, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    config = VastConfig(url=f"http://127.0.0.1:{port}", api_key=f"${{env:{KEY_ENV}}}")
    async with VastClient(config) as client:
        reading = await client.instances()
        action = await client.stop(1)
    server.close()
    await server.wait_closed()
    assert reading.error is not None and SIM_API_KEY not in reading.error and "«redacted»" in reading.error
    assert SIM_API_KEY not in action.message


def test_sim_refuses_non_loopback_and_unknown_modes() -> None:
    with pytest.raises(SimError, match="loopback"):
        VastApiSim([], host="10.0.0.1")
    with pytest.raises(SimError, match="scenario"):
        demo_instances("bankrupt")


def test_demo_scenarios_cost_what_the_runbook_warns_about() -> None:
    ok = demo_instances("ok", T)
    spike = demo_instances("cost-spike", T)
    hourly = lambda fleet: sum(i.dph_base + i.disk_usd_h for i in fleet if i.status == "running")  # noqa: E731
    assert hourly(ok) < 8 < 12 < hourly(spike)
    assert sum(1 for i in spike if i.busy < 10) > 5 >= sum(1 for i in ok if i.busy < 10)
