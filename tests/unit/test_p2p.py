"""P2P orchestrator answers: parsers on the real JSON shapes, and the source against real servers on loopback."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from cockpit.config import Cluster
from cockpit.fleet_config import CostConfig, FleetThresholds, P2PConfig, VastConfig, reference_errors
from cockpit.fleet_model import MeshReading
from cockpit.fleet_rules import detect_partition, not_joining
from cockpit.model import ProbeError
from cockpit.sim.fleet import FleetSim
from cockpit.sim.p2p import P2PMeshSim, demo_nodes
from cockpit.sim.server import SimError
from cockpit.sim.vast import demo_instances
from cockpit.sources.p2p import HealthInfo, P2PSource, StatusInfo, parse_health, parse_status, to_reading
from cockpit.sources.vast import VastClient
from tests.raw_server import raw_server

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "p2p"
T = 1767225600.0


def fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def status(name: str, at: float = T) -> StatusInfo:
    parsed = parse_status(fixture(name), at=at)
    assert isinstance(parsed, StatusInfo), parsed
    return parsed


# -- config ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("http://100.107.168.125", "http://100.107.168.125:8770"),
        ("http://100.107.168.125/", "http://100.107.168.125:8770/"),
        ("http://mac-studio:9000", "http://mac-studio:9000"),
        ("http://[fd7a:115c::1]", "http://[fd7a:115c::1]:8770"),
    ],
)
def test_p2p_url_gets_the_orchestrator_default_port(url: str, expected: str) -> None:
    config = P2PConfig(name="leader", url=url)
    assert config.url == expected
    assert config.host_port.endswith(":8770") or config.host_port.endswith(":9000")


def test_p2p_config_rejects_a_bad_port() -> None:
    with pytest.raises(ValidationError, match="bad port"):
        P2PConfig(name="x", url="http://host:99999")


def test_reference_errors_name_the_entry() -> None:
    p2p = [P2PConfig(name="a", url="http://h", node="ghost"), P2PConfig(name="a", url="http://h", node="mac")]
    cost = CostConfig(usd_per_kwh=0.3, base_watts_by_node={"mac": 90, "gone": 1})
    assert reference_errors(["mac"], p2p, cost) == [
        (("p2p", 0, "node"), "'ghost' is not a node (expected a node's name)"),
        (("p2p", 1, "name"), "'a' is already the name of p2p[0] (expected unique names)"),
        (("cost", "base_watts_by_node", "gone"), "'gone' is not a node (expected a node's name)"),
    ]


def test_cluster_yaml_sections_are_wired_when_config_has_them() -> None:
    """The lead adds ``p2p``/``vast``/``cost``/``fleet_thresholds`` to Cluster; until then, skip."""
    if "p2p" not in Cluster.model_fields:
        pytest.skip("Cluster has no p2p section yet")
    cluster = Cluster.model_validate(
        {
            "cluster": "ringrift",
            "nodes": [{"name": "mac-studio", "host": "127.0.0.1"}],
            "p2p": [{"name": "leader", "url": "http://127.0.0.1", "node": "mac-studio"}],
            "vast": {"url": "http://127.0.0.1:1", "api_key": "${env:VAST_API_KEY}"},
            "cost": {"usd_per_kwh": 0.3, "base_watts_per_node": 120},
        }
    )
    assert cluster.p2p[0].url == "http://127.0.0.1:8770"  # type: ignore[attr-defined]


# -- /status -----------------------------------------------------------------------------------


def test_modern_leader_status() -> None:
    s = status("status_leader_2026.json")
    assert (s.node_id, s.role, s.leader_id, s.effective_leader_id) == (
        "mac-studio", "leader", "mac-studio", "mac-studio"
    )  # fmt: skip
    assert s.voters == ("lambda-gh200", "lambda-h100", "mac-studio")
    assert (s.alive_peers, s.selfplay_jobs, s.quorum_ok) == (3, 116, True)
    me, *peers = s.peers
    assert me.is_self and me.node_id == "mac-studio" and me.role == "leader" and me.alive
    assert [p.node_id for p in peers] == ["lambda-h100", "lambda-gh200", "vast-28889768", "vast-28890015"]
    dead = peers[-1]
    assert (dead.alive, dead.seen_ago_s, dead.selfplay_jobs) == (False, 412, 0)
    assert peers[0].voter and not peers[2].voter
    assert peers[2].seen_ago_s == 3 and peers[2].host == "100.88.176.74" and peers[2].gpu_name == "RTX 3090"


def test_runbook_era_follower_status_dates_peers_itself() -> None:
    s = status("status_follower_2025.json", at=T + 1.0)
    assert (s.node_id, s.role, s.leader_id) == ("lambda-h100", "follower", "mac-studio")
    assert s.leaders_reported == ("mac-studio",)
    by_id = {p.node_id: p for p in s.peers}
    assert by_id["mac-studio"].seen_ago_s == pytest.approx(10.0)
    assert by_id["mac-studio"].alive is True
    assert by_id["vast-28844365"].alive is False  # an hour without a heartbeat, no is_alive field
    assert by_id["vast-old-a10"].retired
    assert s.alive_peers == 3
    # no cluster-wide count in this release: the sum over alive members (self 48 + 0 + 56 + 12)
    assert s.selfplay_jobs == 116


def test_provisional_leader_without_quorum() -> None:
    s = status("status_provisional_2026.json")
    assert (s.role, s.leader_id, s.effective_leader_id, s.quorum_ok) == (
        "provisional_leader", "lambda-gh200", None, False
    )  # fmt: skip
    reading = to_reading(P2PConfig(name="gh200", url="http://127.0.0.1"), T, None, s)
    assert reading.peers[0].shown_role == "leader?"
    assert reading.member_ids == {"lambda-gh200", "lambda-gh200-2"}


def test_cluster_api_status_lists_peers() -> None:
    s = status("api_cluster_status_2026.json")
    by_id = {p.node_id: p for p in s.peers}
    assert by_id["lambda-h100"].alive is True and by_id["vast-28890015"].alive is False


def test_health() -> None:
    health = parse_health(fixture("health.json"))
    assert health == HealthInfo(True, "lambda-h100", "follower", "mac-studio", 17, 48, 93622.41)
    failing = parse_health(fixture("health_error_500.json"))
    assert isinstance(failing, HealthInfo) and failing.healthy is False


def test_reading_from_both_endpoints_and_from_health_alone() -> None:
    config = P2PConfig(name="h100", url="http://127.0.0.1")
    health = parse_health(fixture("health.json"))
    assert isinstance(health, HealthInfo)
    s = status("status_follower_2025.json")  # this release's /status has no uptime_seconds
    both = to_reading(config, T, health, s)
    assert (both.node_id, both.role, both.alive_peers, both.peers) == (
        s.node_id,
        s.role,
        s.alive_peers,
        s.peers,
    )
    assert (both.healthy, both.uptime_s, both.error) == (True, 93622.41, None)
    alone = to_reading(config, T, health, ProbeError("p2p status", "timeout after 5s"))
    assert (alone.node_id, alone.leader_id, alone.alive_peers, alone.selfplay_jobs) == (
        "lambda-h100", "mac-studio", 17, 48
    )  # fmt: skip
    assert (alone.healthy, alone.uptime_s, alone.peers) == (True, 93622.41, ())
    assert alone.error == "status: timeout after 5s"


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"", "empty answer"),
        (b"<html><title>502 Bad Gateway</title></html>", "not JSON (an HTML page)"),
        (b"[1, 2]", "not a JSON object (list)"),
        (b'{"status": "ok"}', "no 'node_id' (is this a P2P orchestrator?)"),
        (b"\xff\xfe", "not UTF-8"),
        (b'{"node_id": "x", "peers": ', "not JSON (Expecting value at line 1 column 27)"),
    ],
)
def test_status_errors_are_one_line(body: bytes, reason: str) -> None:
    assert parse_status(body, at=T) == ProbeError("p2p status", reason)


def test_timeout_body_is_an_error() -> None:
    parsed = parse_status(fixture("status_timeout_504.json"), at=T)
    assert parsed == ProbeError("p2p status", "error: Request timed out")


def test_hostile_values_are_cleaned_or_dropped() -> None:
    doc = {
        "node_id": "evil\x1b]0;pwned\x07-node",
        "role": True,
        "leader_id": 7,
        "alive_peers": -3,
        "selfplay_jobs": float("nan"),
        "voter_node_ids": "mac-studio",
        "peers": {"\x1b[2Jx": {"last_heartbeat": "yesterday", "gpu_percent": True}, "ok": "not a dict"},
    }
    s = parse_status(json.dumps(doc), at=T)
    assert isinstance(s, StatusInfo)
    assert s.node_id == "evil-node" and s.role is None and s.leader_id is None
    assert s.alive_peers == 0 and s.voters == ()  # the garbage count is replaced by a count of the peers
    assert [p.node_id for p in s.peers] == ["evil-node", "x"]
    assert s.peers[1].gpu_percent is None and s.peers[1].alive is None


json_values = st.recursive(
    st.none() | st.booleans() | st.floats() | st.integers() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=5),
    max_leaves=30,
)
status_keys = st.sampled_from(
    ["node_id", "role", "leader_id", "effective_leader_id", "peers", "self", "voter_node_ids",
     "alive_peers", "selfplay_jobs", "leaders_reported", "timestamp", "voter_quorum_ok"]
)  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(status_keys, json_values, max_size=10))
def test_status_parser_never_raises(doc: dict[str, object]) -> None:
    parsed = parse_status(json.dumps(doc), at=T)
    assert isinstance(parsed, StatusInfo | ProbeError)


@settings(max_examples=100, deadline=None)
@given(json_values)
def test_health_parser_never_raises(doc: object) -> None:
    assert isinstance(parse_health(json.dumps(doc)), HealthInfo | ProbeError)


# -- the source against real servers -----------------------------------------------------------


@contextlib.asynccontextmanager
async def mesh(**options: object) -> AsyncIterator[P2PMeshSim]:
    sim = P2PMeshSim(demo_nodes(demo_instances("ok", T)), **options)  # type: ignore[arg-type]
    await sim.start()
    try:
        yield sim
    finally:
        await sim.stop()


def configs(sim: P2PMeshSim, timeout: float = 5.0) -> list[P2PConfig]:
    return [P2PConfig(name=n, url=u, node=n, timeout=timeout) for n, u in sim.urls().items()]


async def test_source_reads_a_healthy_mesh() -> None:
    async with mesh(serve=["mac-studio", "lambda-h100"]) as sim, P2PSource(configs(sim)) as source:
        leader, follower = await source.read()
    assert (leader.reachable, leader.error, leader.role, leader.leader_id) == (
        True,
        None,
        "leader",
        "mac-studio",
    )
    assert follower.leader_id == "mac-studio" and follower.role == "follower"
    assert leader.alive_peers == 18 and leader.healthy is True
    assert leader.role_counts == {"leader": 1, "voter": 2, "follower": 16}
    assert "vast-3090-64cpu" in leader.member_ids


async def test_source_reuses_one_connection_per_orchestrator() -> None:
    async with mesh(serve=["mac-studio"]) as sim, P2PSource(configs(sim)) as source:
        for _ in range(3):
            await source.read()
        server = sim.servers["mac-studio"]
    assert server.connections <= 2  # /health and /status in parallel, then kept alive
    assert ("GET", "/status") in server.requests


async def test_partition_as_the_orchestrators_tell_it() -> None:
    async with (
        mesh(serve=["mac-studio", "lambda-h100"], scenario="partition") as sim,
        P2PSource(configs(sim)) as src,
    ):
        a, b = await src.read()
    assert (a.role, a.leader_id) == ("leader", "mac-studio")
    assert (b.role, b.leader_id) == ("provisional_leader", "lambda-h100")
    assert not (a.member_ids & b.member_ids)


async def test_down_orchestrator_is_unreachable_and_the_rest_answer() -> None:
    async with (
        mesh(serve=["mac-studio", "vast-a40"], scenario="not-joining") as sim,
        P2PSource(configs(sim)) as src,
    ):
        leader, missing = await src.read()
    assert missing == MeshReading(
        name="vast-a40", url=sim.urls()["vast-a40"], at=missing.at, reachable=False,
        error="connection refused", node="vast-a40",
    )  # fmt: skip
    assert leader.reachable and "vast-a40" not in leader.member_ids


async def test_slow_orchestrator_costs_only_its_timeout() -> None:
    async with mesh(serve=["mac-studio", "lambda-h100"]) as sim:
        await sim.set_node_state("lambda-h100", "slow")
        async with P2PSource(configs(sim, timeout=0.3)) as source:
            started = asyncio.get_running_loop().time()
            fast, slow = await source.read()
            took = asyncio.get_running_loop().time() - started
    assert fast.reachable and not slow.reachable and slow.error == "timeout after 0.3s"
    assert took < 2.0


def http(status: int, body: bytes, ctype: str = "application/json; charset=utf-8") -> bytes:
    head = f"HTTP/1.1 {status} X\r\nContent-Type: {ctype}\r\nContent-Length: {len(body)}\r\n\r\n"
    return head.encode() + body


async def test_health_answers_while_status_hangs() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        if b"GET /health" in head:
            writer.write(http(200, fixture("health.json")))
            await writer.drain()
        else:
            await asyncio.sleep(30)

    async with (
        raw_server(handler) as (url, _),
        P2PSource([P2PConfig(name="h", url=url, timeout=0.3)]) as source,
    ):
        (reading,) = await source.read()
    assert reading.reachable and reading.error == "status: timeout after 0.3s"
    assert (reading.node_id, reading.leader_id, reading.alive_peers) == ("lambda-h100", "mac-studio", 17)


async def test_status_504_and_health_500_are_read_as_the_orchestrator_said() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            if b"GET /health" in head:
                writer.write(http(500, fixture("health_error_500.json")))
            else:
                writer.write(http(504, fixture("status_timeout_504.json")))
            await writer.drain()

    async with raw_server(handler) as (url, _), P2PSource([P2PConfig(name="h", url=url)]) as source:
        (reading,) = await source.read()
    assert reading.reachable
    assert reading.error == "HTTP 500: 'NoneType' object has no attribute 'is_healthy'"


async def test_not_an_orchestrator() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            await reader.readuntil(b"\r\n\r\n")
            writer.write(http(200, b"<html><title>Welcome to nginx!</title></html>", "text/html"))
            await writer.drain()

    async with raw_server(handler) as (url, _), P2PSource([P2PConfig(name="h", url=url)]) as source:
        (reading,) = await source.read()
    assert reading.reachable and reading.error == "not JSON (an HTML page)"


# -- the simulator -----------------------------------------------------------------------------


def test_sim_refuses_non_loopback_and_unknown_scenarios() -> None:
    nodes = demo_nodes()
    with pytest.raises(SimError, match="loopback"):
        P2PMeshSim(nodes, host="192.0.2.1")
    with pytest.raises(SimError, match="scenario"):
        P2PMeshSim(nodes, scenario="meltdown")


def test_sim_status_is_what_the_parser_reads() -> None:
    sim = P2PMeshSim(demo_nodes(demo_instances("ok", T)), clock=lambda: T)
    parsed = parse_status(json.dumps(sim.status("lambda-h100", alive_only=False)), at=T)
    assert isinstance(parsed, StatusInfo) and parsed.leader_id == "mac-studio"
    assert parse_health(json.dumps(sim.health("lambda-h100"))) == HealthInfo(
        True, "lambda-h100", "follower", "mac-studio", 18, 40, 0.0
    )


async def test_demo_fleet_scenarios_end_to_end(monkeypatch: pytest.MonkeyPatch) -> None:
    """The demo's mesh and Vast API together, read by the real sources and judged by the real rules."""
    async with FleetSim("ok") as fleet:
        monkeypatch.setenv("VAST_API_KEY", fleet.api_key)
        config = fleet.config()
        source = P2PSource([P2PConfig(**entry) for entry in config["p2p"]])
        client = VastClient(VastConfig(**config["vast"]))
        seen: dict[str, tuple[object, ...]] = {}
        for scenario in ("ok", "partition", "not-joining", "cost-spike"):
            await fleet.set_scenario(scenario)
            mesh_readings = await source.read()
            listed = await client.instances()
            partition = detect_partition(mesh_readings)
            absent = not_joining([], mesh_readings, listed.instances, now=time.time(), grace_s=600)
            hourly = sum(i.dph_total or 0 for i in listed.instances if i.gpu_billed)
            seen[scenario] = (partition.kind if partition else None, [a.name for a in absent], round(hourly))
        await source.aclose()
        await client.aclose()
    assert seen == {
        "ok": (None, [], 7),
        "partition": ("split-brain", [], 7),
        "not-joining": (None, ["vast-a40"], 7),
        "cost-spike": (None, [], 31),
    }
    assert FleetThresholds().hourly_cost.critical < 31
