"""Judging the rented fleet: partitions, nodes that never joined the mesh, idle instances, thresholds.

Pure functions over readings (plus :class:`IdleTracker`, which only remembers timestamps), so every
rule is a table test. The findings have the fields of :class:`cockpit.alerts.Finding` (subject,
metric, severity, message, value, limit), so the engine's alert tracker can hold and age them.

Partition (runbook 001, Scenario 4 "Multiple leaders", "Leader election stuck"), over the
orchestrators that answered:

- split brain: more than one node claims leadership, by its own ``role`` or in an orchestrator's
  ``leaders_reported`` (alive peers whose role is leader or provisional_leader);
- disagreement: the orchestrators believe in more than one leader (``leader_id``);
- no leader: nobody claims it and nobody believes in one.

Not joining (Scenario 1 "Vast Instance Not Joining P2P"): the matching rule between names is

- a cluster node ``N`` is in the mesh when an orchestrator configured with ``node: N`` answers, or
  when any alive mesh member's node id equals ``N`` ignoring case;
- a running instance is in the mesh when a member's node id is ``vast-<id>`` (the runbook's
  ``--node-id vast-INSTANCE_ID``) or ``vast<id>``, or equals the instance's label (ignoring case), or
  when a member's host is the instance's public IP. Unlike ``vast_p2p_sync.py`` we never match a
  substring: ``vast-1234`` is not ``vast-12345``.

Nobody is reported missing while no orchestrator answers (that is its own finding), nor an instance
younger than ``join_grace_s`` (it is still booting).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from cockpit.config import Limit
from cockpit.fleet_config import FleetThresholds, Floor
from cockpit.fleet_model import LEADER_ROLES, CostReading, Instance, InstancesReading, MeshReading
from cockpit.model import Alert
from cockpit.rules import Severity, judge


@dataclass(frozen=True, slots=True)
class FleetFinding:
    """Something past a threshold, shaped like :class:`cockpit.alerts.Finding`."""

    subject: str
    metric: str
    severity: Severity
    message: str
    value: float | str | None = None
    limit: Limit | None = None
    """For "high is bad" thresholds only; a minimum's bound is in ``threshold``."""
    threshold: float | None = None

    def alert(self, since: float | None = None) -> Alert:
        critical = self.severity is Severity.CRITICAL
        bound = self.threshold
        if bound is None and self.limit is not None:
            bound = self.limit.critical if critical else self.limit.warning
        return Alert(
            severity="critical" if critical else "warning",
            subject=self.subject,
            metric=self.metric,
            message=self.message,
            value=self.value,
            threshold=bound,
            since=since,
        )


def judge_floor(floor: Floor, value: float | None) -> Severity:
    """Warning from ``warning`` down, critical below ``critical``."""
    if value is None:
        return Severity.UNKNOWN
    if value < floor.critical:
        return Severity.CRITICAL
    if value <= floor.warning:
        return Severity.WARNING
    return Severity.OK


# -- partition ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Partition:
    kind: str
    """``split-brain``, ``disagreement`` or ``no-leader``."""
    leaders: tuple[str, ...]
    """Nodes claiming leadership."""
    beliefs: tuple[tuple[str, str | None], ...]
    """(orchestrator's node id, the leader it believes in), for every one that answered."""
    message: str


def _who(reading: MeshReading) -> str:
    return reading.node_id or reading.name


def detect_partition(readings: Sequence[MeshReading]) -> Partition | None:
    """A split mesh as the answering orchestrators describe it, or None when they agree."""
    answered = [r for r in readings if r.reachable and r.node_id]
    if not answered:
        return None
    claims: set[str] = set()
    for r in answered:
        if r.role in LEADER_ROLES and r.node_id:
            claims.add(r.node_id)
        claims.update(r.leaders_reported)
    beliefs = tuple(sorted((_who(r), r.leader_id) for r in answered))
    believed: dict[str, list[str]] = defaultdict(list)
    for who, leader in beliefs:
        if leader:
            believed[leader].append(who)
    leaders = tuple(sorted(claims))
    if len(claims) > 1:
        who = " and ".join(leaders) if len(leaders) == 2 else ", ".join(leaders)
        verb = "both claim" if len(leaders) == 2 else "all claim"
        return Partition("split-brain", leaders, beliefs, f"split brain: {who} {verb} leadership")
    if len(believed) > 1:
        groups = sorted(believed.items(), key=lambda kv: (-len(kv[1]), kv[0]))
        parts = [
            f"{', '.join(sorted(nodes))} follow{'s' if len(nodes) == 1 else ''} {leader}"
            for leader, nodes in groups
        ]
        return Partition(
            "disagreement", leaders, beliefs, "peers disagree on the leader: " + "; ".join(parts)
        )
    if not claims and not believed:
        return Partition("no-leader", leaders, beliefs, "no leader: no node claims it (election stuck?)")
    return None


def leaderless(readings: Sequence[MeshReading]) -> tuple[str, ...]:
    """Answering orchestrators that see no leader while others do (lost contact, or electing)."""
    answered = [r for r in readings if r.reachable and r.node_id]
    if not any(r.leader_id for r in answered):
        return ()
    return tuple(sorted(_who(r) for r in answered if not r.leader_id))


# -- membership ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Absent:
    kind: str
    """``node`` (cluster.yaml) or ``instance`` (Vast)."""
    name: str
    subject: str
    """Alert subject: the node's name, or ``vast:<id>``."""
    detail: str


@dataclass(frozen=True, slots=True)
class Membership:
    """Who is in the mesh, as the union of what the answering orchestrators see."""

    ids: frozenset[str]
    """Lower-cased node ids of alive members."""
    hosts: frozenset[str]
    nodes: frozenset[str]
    """Cluster nodes whose configured orchestrator answered."""
    known: bool
    """False when no orchestrator answered: nobody can be said to be missing."""

    @classmethod
    def of(cls, readings: Iterable[MeshReading]) -> Membership:
        ids: set[str] = set()
        hosts: set[str] = set()
        nodes: set[str] = set()
        known = False
        for r in readings:
            if not (r.reachable and r.node_id):
                continue
            known = True
            if r.node:
                nodes.add(r.node)
            for p in r.peers:
                if p.alive is not False and not p.retired:
                    ids.add(p.node_id.lower())
                    if p.host:
                        hosts.add(p.host)
        return cls(frozenset(ids), frozenset(hosts), frozenset(nodes), known)

    def has_node(self, name: str) -> bool:
        return name in self.nodes or name.lower() in self.ids

    def has_instance(self, instance: Instance) -> bool:
        names = {f"vast-{instance.id}", f"vast{instance.id}"}
        if instance.label:
            names.add(instance.label.lower())
        if names & self.ids:
            return True
        return bool(instance.public_ipaddr and instance.public_ipaddr in self.hosts)


def instance_in_mesh(instance: Instance, readings: Iterable[MeshReading]) -> bool | None:
    """For the instances pane; None when no orchestrator answered."""
    members = Membership.of(readings)
    return members.has_instance(instance) if members.known else None


def not_joining(
    expected_nodes: Iterable[str],
    readings: Sequence[MeshReading],
    instances: Iterable[Instance] = (),
    *,
    now: float,
    grace_s: float = 600.0,
) -> tuple[Absent, ...]:
    """Cluster nodes and running instances that should be in the mesh but are not."""
    members = Membership.of(readings)
    if not members.known:
        return ()
    out = [
        Absent("node", name, name, f"{name}: not in the P2P mesh (no orchestrator sees it)")
        for name in expected_nodes
        if not members.has_node(name)
    ]
    for inst in instances:
        if not inst.running or members.has_instance(inst):
            continue
        if inst.start_date is not None and now - inst.start_date < grace_s:
            continue
        gpus = (
            f"{inst.gpu_name} x{inst.num_gpus}" if inst.gpu_name and inst.num_gpus else inst.gpu_name or "?"
        )
        out.append(
            Absent(
                "instance",
                inst.name,
                f"vast:{inst.id}",
                f"vast:{inst.id} ({inst.name}, {gpus}): running but not in the P2P mesh",
            )
        )
    return tuple(out)


def expected_mesh_nodes(
    node_names: Iterable[str], tags: Mapping[str, Iterable[str]] | None = None
) -> list[str]:
    """Nodes expected in the mesh: those tagged ``p2p`` if any node is, else every node."""
    names = list(node_names)
    tagged = [n for n in names if tags and "p2p" in tags.get(n, ())]
    return tagged or names


# -- idle instances -----------------------------------------------------------------------------


class IdleTracker:
    """When each instance's GPUs went idle, across readings: idle means below ``util_pct`` since then.

    Only fresh instance lists move it (a stale one says nothing new). An instance that is not running
    or has gone is forgotten; a ``gpu_util`` the API left empty changes nothing either way.
    """

    def __init__(self, util_pct: float = 10.0, after_s: float = 900.0) -> None:
        self.util_pct = util_pct
        self.after_s = after_s
        self._since: dict[int, float] = {}

    @classmethod
    def from_thresholds(cls, thresholds: FleetThresholds) -> IdleTracker:
        return cls(thresholds.idle_util_pct, thresholds.idle_after_s)

    def update(self, reading: InstancesReading) -> None:
        if not reading.ok or reading.data_at is None:
            return
        at = reading.data_at
        present = set()
        for inst in reading.instances:
            if not inst.running:
                continue
            present.add(inst.id)
            if inst.gpu_util is None:
                continue
            if inst.gpu_util < self.util_pct:
                self._since.setdefault(inst.id, at)
            else:
                self._since.pop(inst.id, None)
        for ident in list(self._since):
            if ident not in present:
                del self._since[ident]

    def idle_since(self, instance_id: int) -> float | None:
        return self._since.get(instance_id)

    def idle_for(self, instance_id: int, now: float) -> float | None:
        since = self._since.get(instance_id)
        return None if since is None else max(0.0, now - since)

    def is_idle(self, instance_id: int, now: float) -> bool:
        idle = self.idle_for(instance_id, now)
        return idle is not None and idle >= self.after_s

    def idle_instances(self, instances: Iterable[Instance], now: float) -> tuple[Instance, ...]:
        return tuple(i for i in instances if i.running and self.is_idle(i.id, now))


# -- findings -----------------------------------------------------------------------------------


def _finding(
    subject: str, metric: str, label: str, value: float | None, bounds: Floor | Limit, fmt: str = "{:.0f}"
) -> FleetFinding | None:
    """A finding when ``value`` is past a minimum (:class:`Floor`) or a maximum (:class:`Limit`).

    They read "p2p: 9 alive peers < 10" and "cost: hourly cost $41.00/h > $40.00/h".
    """
    severity = judge_floor(bounds, value) if isinstance(bounds, Floor) else judge(bounds, value)
    if value is None or severity in (Severity.OK, Severity.UNKNOWN):
        return None
    critical = severity is Severity.CRITICAL
    bound = bounds.critical if critical else bounds.warning
    if isinstance(bounds, Floor):
        message = f"{subject}: {fmt.format(value)} {label} {'<' if critical else '≤'} {bound:g}"
        return FleetFinding(subject, metric, severity, message, value, None, bound)
    message = f"{subject}: {label} {fmt.format(value)} {'>' if critical else '≥'} {fmt.format(bound)}"
    return FleetFinding(subject, metric, severity, message, value, bounds)


def _mesh_view(readings: Sequence[MeshReading]) -> MeshReading | None:
    """The reading whose numbers speak for the mesh: the leader seeing most peers, else anyone's best."""
    answered = [r for r in readings if r.reachable and r.node_id]
    leaders = [r for r in answered if r.role == "leader"]
    return max(leaders or answered, key=lambda r: r.alive_peers or 0, default=None)


def mesh_findings(
    readings: Sequence[MeshReading],
    thresholds: FleetThresholds,
    *,
    expected_nodes: Iterable[str] = (),
    instances: Iterable[Instance] = (),
    now: float,
) -> list[FleetFinding]:
    out: list[FleetFinding | None] = []
    answered = any(r.reachable for r in readings)
    for r in readings:
        if not r.reachable:
            severity = Severity.WARNING if answered else Severity.CRITICAL
            out.append(
                FleetFinding(
                    f"p2p:{r.name}",
                    "p2p_unreachable",
                    severity,
                    f"p2p:{r.name}: unreachable ({r.error})",
                    r.error,
                )
            )
    partition = detect_partition(readings)
    if partition is not None:
        metric = "p2p_no_leader" if partition.kind == "no-leader" else "p2p_partition"
        out.append(
            FleetFinding("p2p", metric, Severity.CRITICAL, f"p2p: {partition.message}", partition.kind)
        )
    else:
        lost = leaderless(readings)
        if lost:
            message = f"p2p: {', '.join(lost)} see{'s' if len(lost) == 1 else ''} no leader"
            out.append(FleetFinding("p2p", "p2p_leaderless", Severity.WARNING, message, len(lost)))
    view = _mesh_view(readings)
    if view is not None:
        out.append(_finding("p2p", "p2p_peers", "alive peers", view.alive_peers, thresholds.p2p_peers))
        jobs = view.selfplay_jobs
        out.append(_finding("p2p", "selfplay_jobs", "selfplay jobs", jobs, thresholds.selfplay_jobs))
    for absent in not_joining(expected_nodes, readings, instances, now=now, grace_s=thresholds.join_grace_s):
        out.append(
            FleetFinding(absent.subject, "p2p_not_joining", Severity.WARNING, absent.detail, absent.name)
        )
    return [f for f in out if f is not None]


def vast_findings(
    reading: InstancesReading, thresholds: FleetThresholds, idle: IdleTracker, *, now: float
) -> list[FleetFinding]:
    out: list[FleetFinding | None] = []
    if not reading.ok:
        age = reading.age_s
        old = f", data {age / 60:.0f} min old" if age is not None else ", no data yet"
        severity = Severity.CRITICAL if reading.data_at is None else Severity.WARNING
        out.append(FleetFinding("vast", "vast_api", severity, f"vast: {reading.error}{old}", reading.error))
    if reading.data_at is not None:
        running = sum(1 for i in reading.instances if i.running)
        out.append(
            _finding("vast", "running_instances", "running instances", running, thresholds.running_instances)
        )
        idle_count = len(idle.idle_instances(reading.instances, now))
        out.append(
            _finding("vast", "idle_instances", "idle instances", idle_count, thresholds.idle_instances)
        )
    return [f for f in out if f is not None]


def cost_findings(cost: CostReading, thresholds: FleetThresholds) -> list[FleetFinding]:
    found = _finding(
        "cost", "hourly_cost", "hourly cost", cost.total_usd_h, thresholds.hourly_cost, "${:.2f}/h"
    )
    return [found] if found else []


def fleet_findings(
    thresholds: FleetThresholds,
    *,
    now: float,
    mesh: Sequence[MeshReading] = (),
    instances: InstancesReading | None = None,
    cost: CostReading | None = None,
    idle: IdleTracker | None = None,
    expected_nodes: Iterable[str] = (),
) -> list[FleetFinding]:
    """Everything the fleet sections of the cockpit alert on, right now, with no memory."""
    out: list[FleetFinding] = []
    listed = instances.instances if instances is not None else ()
    if mesh:
        out += mesh_findings(mesh, thresholds, expected_nodes=expected_nodes, instances=listed, now=now)
    if instances is not None:
        out += vast_findings(instances, thresholds, idle or IdleTracker.from_thresholds(thresholds), now=now)
    if cost is not None:
        out += cost_findings(cost, thresholds)
    return out
