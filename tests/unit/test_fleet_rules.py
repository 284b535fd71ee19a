"""Fleet rules as tables: partitions, who is not joining, idle tracking, thresholds and their findings."""

from __future__ import annotations

import pytest

from cockpit.config import Limit
from cockpit.fleet_config import FleetThresholds, Floor
from cockpit.fleet_model import CostReading, Instance, InstancesReading, MeshReading, Peer
from cockpit.fleet_rules import (
    FleetFinding,
    IdleTracker,
    Membership,
    detect_partition,
    expected_mesh_nodes,
    fleet_findings,
    instance_in_mesh,
    judge_floor,
    leaderless,
    not_joining,
)
from cockpit.rules import Severity

T = 1767225600.0


def peer(node_id: str, *, alive: bool | None = True, role: str = "follower", host: str | None = None,
         retired: bool = False) -> Peer:  # fmt: skip
    return Peer(node_id=node_id, role=role, alive=alive, host=host, retired=retired)


def orch(
    node_id: str | None,
    role: str | None = "follower",
    leader: str | None = "mac-studio",
    *,
    sees: tuple[Peer, ...] = (),
    reported: tuple[str, ...] = (),
    reachable: bool = True,
    node: str | None = None,
    alive_peers: int | None = None,
    jobs: int | None = None,
) -> MeshReading:
    me = (peer(node_id, role=role or "unknown"),) if node_id else ()
    return MeshReading(
        name=node_id or "x", url="http://127.0.0.1:8770", at=T, reachable=reachable,
        error=None if reachable else "connection refused", node_id=node_id if reachable else None,
        role=role if reachable else None, leader_id=leader if reachable else None, leaders_reported=reported,
        peers=(*me, *sees) if reachable else (), node=node, alive_peers=alive_peers, selfplay_jobs=jobs,
    )  # fmt: skip


LEADER = orch("mac-studio", "leader", "mac-studio", reported=())
FOLLOWER = orch("lambda-h100", reported=("mac-studio",))


# -- partition ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("readings", "kind"),
    [
        pytest.param([LEADER, FOLLOWER], None, id="agree"),
        pytest.param([FOLLOWER], None, id="one follower"),
        pytest.param([], None, id="nothing read"),
        pytest.param([orch("a", reachable=False), orch("b", reachable=False)], None, id="nobody answers"),
        pytest.param(
            [LEADER, orch("lambda-h100", "leader", "lambda-h100")],
            "split-brain",
            id="two self-claimed leaders",
        ),
        pytest.param(
            [LEADER, orch("lambda-h100", "provisional_leader", "lambda-h100")],
            "split-brain",
            id="provisional counts",
        ),
        pytest.param(
            [orch("lambda-h100", reported=("mac-studio", "lambda-gh200"))],
            "split-brain",
            id="one sees two leaders",
        ),
        pytest.param(
            [LEADER, orch("lambda-h100", leader="lambda-gh200")], "disagreement", id="beliefs differ"
        ),
        pytest.param(
            [orch("a", leader="x"), orch("b", leader="y"), orch("c", leader="y")],
            "disagreement",
            id="followers only",
        ),
        pytest.param([orch("a", leader=None), orch("b", leader=None)], "no-leader", id="election stuck"),
        pytest.param(
            [LEADER, FOLLOWER, orch("lambda-gh200", reachable=False)], None, id="unreachable ignored"
        ),
        pytest.param([LEADER, orch("lambda-gh200", leader=None)], None, id="one lost node is not a split"),
    ],
)
def test_partition(readings: list[MeshReading], kind: str | None) -> None:
    found = detect_partition(readings)
    assert (found.kind if found else None) == kind


def test_partition_messages_name_the_sides() -> None:
    split = detect_partition([LEADER, orch("lambda-h100", "leader", "lambda-h100")])
    assert (
        split is not None and split.message == "split brain: lambda-h100 and mac-studio both claim leadership"
    )
    disagree = detect_partition([orch("a", leader="x"), orch("b", leader="y"), orch("c", leader="y")])
    assert (
        disagree is not None
        and disagree.message == "peers disagree on the leader: b, c follow y; a follows x"
    )
    assert leaderless([LEADER, orch("lambda-gh200", leader=None)]) == ("lambda-gh200",)


# -- not joining -------------------------------------------------------------------------------


MESH = orch(
    "mac-studio", "leader", "mac-studio",
    sees=(peer("Lambda-H100"), peer("vast-28889768"), peer("vast-5090", host="203.0.113.9"),
          peer("dead-node", alive=False), peer("old-node", retired=True), peer("vast28918740")),
)  # fmt: skip


def vast(ident: int, label: str | None = None, *, status: str = "running", ip: str | None = None,
         started: float | None = T - 86400) -> Instance:  # fmt: skip
    return Instance(id=ident, label=label, actual_status=status, public_ipaddr=ip, start_date=started,
                    gpu_name="RTX 3090", num_gpus=1)  # fmt: skip


@pytest.mark.parametrize(
    ("name", "readings", "missing"),
    [
        ("lambda-h100", [MESH], False),  # node id matches, ignoring case
        ("gpu-node-2", [MESH], True),
        ("dead-node", [MESH], True),  # a dead member is not in the mesh
        ("old-node", [MESH], True),  # nor a retired one
        ("mac-mini", [MESH, orch("m2", node="mac-mini")], False),  # its configured orchestrator answered
        ("mac-mini", [MESH, orch("m2", node="mac-mini", reachable=False)], True),
        ("gpu-node-2", [orch("a", reachable=False)], False),  # nobody answers: nobody is "missing"
    ],
)
def test_not_joining_cluster_nodes(name: str, readings: list[MeshReading], missing: bool) -> None:
    absent = not_joining([name], readings, now=T)
    assert bool(absent) == missing
    if missing:
        assert absent[0].subject == name and absent[0].kind == "node"


@pytest.mark.parametrize(
    ("instance", "in_mesh", "missing"),
    [
        (vast(28889768), True, False),  # --node-id vast-INSTANCE_ID
        (vast(28918740), True, False),  # vast<id>
        (vast(1, "VAST-5090"), True, False),  # by label, ignoring case
        (vast(2, "anything", ip="203.0.113.9"), True, False),  # by host
        (vast(2888976), False, True),  # vast-2888976 is not vast-28889768: no substring match
        (vast(28918742, "vast-a40"), False, True),
        (vast(28918742, "vast-a40", status="stopped"), False, False),  # not running: not expected
        (vast(28918742, "vast-a40", started=T - 60), False, False),  # still booting
        (vast(28918742, "vast-a40", started=None), False, True),
    ],
)
def test_not_joining_instances(instance: Instance, in_mesh: bool, missing: bool) -> None:
    absent = not_joining([], [MESH], [instance], now=T, grace_s=600)
    assert bool(absent) == missing
    if missing:
        assert (
            absent[0].subject == f"vast:{instance.id}"
            and "running but not in the P2P mesh" in absent[0].detail
        )
    assert instance_in_mesh(instance, [MESH]) is in_mesh


def test_instance_in_mesh_unknown_without_answers() -> None:
    assert instance_in_mesh(vast(1), [orch("a", reachable=False)]) is None
    assert Membership.of([]).known is False


def test_expected_nodes_prefer_the_p2p_tag() -> None:
    assert expected_mesh_nodes(["a", "b"]) == ["a", "b"]
    assert expected_mesh_nodes(["a", "b"], {"b": ["p2p", "gpu"]}) == ["b"]


# -- idle tracking -----------------------------------------------------------------------------


def listing(at: float, *rows: tuple[int, str, float | None], ok: bool = True) -> InstancesReading:
    instances = tuple(
        Instance(id=i, actual_status=s, gpu_util=u, dph_total=1.0, num_gpus=1) for i, s, u in rows
    )
    return InstancesReading(at=at, instances=instances, ok=ok, data_at=at if ok else None)


def test_idle_since_survives_readings_and_resets_on_work() -> None:
    idle = IdleTracker(util_pct=10, after_s=900)
    idle.update(listing(T, (1, "running", 2.0), (2, "running", 95.0)))
    idle.update(listing(T + 300, (1, "running", None), (2, "running", 95.0)))  # unknown changes nothing
    idle.update(listing(T + 600, (1, "running", 0.0), (2, "running", 95.0), ok=False))  # stale: ignored
    assert idle.idle_since(1) == T and idle.idle_since(2) is None
    assert not idle.is_idle(1, T + 899) and idle.is_idle(1, T + 900)
    idle.update(listing(T + 1000, (1, "running", 40.0)))
    assert idle.idle_since(1) is None
    idle.update(listing(T + 1100, (1, "running", 5.0)))
    assert idle.idle_for(1, T + 1200) == 100
    idle.update(listing(T + 1300, (1, "stopped", None)))
    assert idle.idle_since(1) is None


def test_idle_instances_lists_only_running_idle_long_enough() -> None:
    idle = IdleTracker(util_pct=10, after_s=60)
    first = listing(T, (1, "running", 0.0), (2, "running", 3.0), (3, "running", 80.0))
    idle.update(first)
    idle.update(listing(T + 30, (1, "running", 0.0), (2, "running", 3.0), (3, "running", 80.0)))
    assert idle.idle_instances(first.instances, T + 59) == ()
    assert [i.id for i in idle.idle_instances(first.instances, T + 60)] == [1, 2]


# -- thresholds and findings -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "severity"),
    [
        (16, Severity.OK),
        (15, Severity.WARNING),
        (10, Severity.WARNING),
        (9, Severity.CRITICAL),
        (None, Severity.UNKNOWN),
    ],
)
def test_peer_floor_is_the_runbook_table(value: float | None, severity: Severity) -> None:
    assert judge_floor(FleetThresholds().p2p_peers, value) is severity


def test_runbook_defaults() -> None:
    t = FleetThresholds()
    assert t.hourly_cost == Limit(warning=8, critical=12) and t.idle_instances == Limit(warning=3, critical=5)
    assert t.running_instances == Floor(warning=9, critical=5) and t.selfplay_jobs == Floor(
        warning=500, critical=100
    )


def findings(**kw: object) -> dict[tuple[str, str], FleetFinding]:
    found = fleet_findings(FleetThresholds(), now=T, **kw)  # type: ignore[arg-type]
    return {(f.subject, f.metric): f for f in found}


def test_mesh_findings() -> None:
    split = [
        orch("mac-studio", "leader", "mac-studio", alive_peers=12, jobs=480),
        orch("lambda-h100", "provisional_leader", "lambda-h100", alive_peers=5, jobs=90),
        orch("lambda-gh200", reachable=False),
    ]
    found = findings(mesh=split, expected_nodes=["mac-studio", "gpu-node-9"])
    assert found[("p2p", "p2p_partition")].severity is Severity.CRITICAL
    assert found[("p2p", "p2p_peers")].message == "p2p: 12 alive peers ≤ 15"
    assert found[("p2p", "p2p_peers")].severity is Severity.WARNING
    assert found[("p2p", "selfplay_jobs")].message == "p2p: 480 selfplay jobs ≤ 500"
    unreachable = found[("p2p:lambda-gh200", "p2p_unreachable")]
    assert unreachable.severity is Severity.WARNING and unreachable.message.endswith("(connection refused)")
    assert found[("gpu-node-9", "p2p_not_joining")].severity is Severity.WARNING
    assert ("mac-studio", "p2p_not_joining") not in found


def test_everything_unreachable_is_critical() -> None:
    found = findings(mesh=[orch("a", reachable=False)])
    assert found[("p2p:a", "p2p_unreachable")].severity is Severity.CRITICAL
    assert found[("p2p:a", "p2p_unreachable")].alert(T).severity == "critical"


def test_vast_findings() -> None:
    idle = IdleTracker(util_pct=10, after_s=0)
    reading = listing(T, *[(i, "running", 0.0 if i < 6 else 90.0) for i in range(8)])
    idle.update(reading)
    found = findings(instances=reading, idle=idle)
    assert found[("vast", "idle_instances")].severity is Severity.CRITICAL
    assert found[("vast", "idle_instances")].message == "vast: idle instances 6 > 5"
    assert found[("vast", "running_instances")].message == "vast: 8 running instances ≤ 9"
    stale = InstancesReading(at=T + 240, instances=reading.instances, ok=False, error="HTTP 500", data_at=T)
    api = findings(instances=stale, idle=idle)[("vast", "vast_api")]
    assert (api.severity, api.message) == (Severity.WARNING, "vast: HTTP 500, data 4 min old")
    never = InstancesReading(at=T, ok=False, error="HTTP 401: unauthorized (check vast.api_key)")
    assert findings(instances=never)[("vast", "vast_api")].severity is Severity.CRITICAL


@pytest.mark.parametrize(
    ("usd_h", "severity"), [(7.99, None), (8.0, "warning"), (12.0, "warning"), (12.01, "critical")]
)
def test_hourly_cost(usd_h: float, severity: str | None) -> None:
    cost = CostReading(
        at=T, cloud_usd_h=usd_h, storage_usd_h=0, energy_usd_h=None, energy_watts=None, total_usd_h=usd_h,
        today_usd=0, today_projection_usd=0, month_usd=0, month_projection_usd=0, gpus=0, busy_gpus=0,
        usd_per_busy_gpu_hour=None,
    )  # fmt: skip
    found = findings(cost=cost).get(("cost", "hourly_cost"))
    assert (found.alert().severity if found else None) == severity
    if found is not None and severity == "critical":
        assert found.message == "cost: hourly cost $12.01/h > $12.00/h" and found.alert().threshold == 12
