"""Readings about the rented fleet: P2P mesh peers, cloud instances, and what it all costs per hour.

Frozen, like everything in :mod:`cockpit.model`, so the engine can hand them to the UI as they are.
A value a source did not report is ``None``, never 0: "0 jobs" and "nobody said" are different
answers at 3 a.m.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

LEADER_ROLES = frozenset({"leader", "provisional_leader"})
"""RingRift's ``NodeRole`` values that claim leadership (``scripts/p2p/types.py``)."""


@dataclass(frozen=True, slots=True)
class Peer:
    """One member of the mesh as one orchestrator sees it (``NodeInfo.to_dict()`` in ``/status``)."""

    node_id: str
    role: str
    """``leader``, ``follower``, ``candidate``, ``provisional_leader``, or what the node said."""
    voter: bool = False
    """Listed in the orchestrator's ``voter_node_ids``."""
    alive: bool | None = None
    """The orchestrator's own verdict (``is_alive``), else heartbeat younger than 90 s."""
    last_seen: float | None = None
    """``last_heartbeat``, epoch seconds on the orchestrator's clock."""
    seen_ago_s: float | None = None
    """Seconds since that heartbeat, as the orchestrator measured it (no clock skew)."""
    host: str | None = None
    gpu_name: str | None = None
    gpu_percent: float | None = None
    selfplay_jobs: int | None = None
    retired: bool = False
    is_self: bool = False
    """The orchestrator's own entry (``self`` in ``/status``)."""

    @property
    def shown_role(self) -> str:
        """What the peers pane prints: leader, voter or follower (or the odd role as it is)."""
        if self.role in LEADER_ROLES:
            return "leader" if self.role == "leader" else "leader?"
        if self.role == "follower":
            return "voter" if self.voter else "follower"
        return self.role


@dataclass(frozen=True, slots=True)
class MeshReading:
    """One poll of one orchestrator: what it is, who it believes leads, and whom it sees."""

    name: str
    """The ``p2p:`` entry's name in cluster.yaml."""
    url: str
    at: float
    reachable: bool
    error: str | None = None
    """One line: "connection refused", "timeout after 5s", "status: HTTP 504" (answering but partial)."""
    node_id: str | None = None
    role: str | None = None
    leader_id: str | None = None
    """The leader this node believes in (``leader_id``, else ``effective_leader_id``)."""
    effective_leader_id: str | None = None
    """The leader it can actually reach and that says it leads (newer orchestrators)."""
    leaders_reported: tuple[str, ...] = ()
    """Alive peers it sees claiming leadership."""
    voters: tuple[str, ...] = ()
    quorum_ok: bool | None = None
    peers: tuple[Peer, ...] = ()
    """Its own entry first (``is_self``), then the peers it knows, alive or not."""
    alive_peers: int | None = None
    selfplay_jobs: int | None = None
    """Cluster-wide selfplay jobs when reported (``selfplay_jobs``), else the sum over alive members."""
    healthy: bool | None = None
    """``/health``'s ``healthy``."""
    uptime_s: float | None = None
    node: str | None = None
    """The cluster node this orchestrator runs on (from config)."""

    @property
    def role_counts(self) -> dict[str, int]:
        """Alive members by shown role: ``{"leader": 1, "voter": 4, "follower": 12}``."""
        return dict(Counter(p.shown_role for p in self.peers if p.alive is not False and not p.retired))

    @property
    def member_ids(self) -> frozenset[str]:
        """Node ids of the alive members, itself included."""
        return frozenset(p.node_id for p in self.peers if p.alive is not False and not p.retired)


@dataclass(frozen=True, slots=True)
class Instance:
    """One rented instance as ``GET /api/v0/instances/`` returns it (the ``vastai show instances`` row)."""

    id: int
    label: str | None = None
    machine_id: int | None = None
    gpu_name: str | None = None
    num_gpus: int | None = None
    actual_status: str | None = None
    """Container state: running, loading, stopped, frozen, exited, rebooting, unknown, offline, None."""
    intended_status: str | None = None
    cur_state: str | None = None
    dph_total: float | None = None
    """$/h with GPUs running (``dph_total``)."""
    storage_usd_h: float | None = None
    """$/h for the disk alone (``storage_total_cost``), which a stopped instance still pays."""
    gpu_util: float | None = None
    """Percent."""
    ssh_host: str | None = None
    ssh_port: int | None = None
    public_ipaddr: str | None = None
    start_date: float | None = None
    status_msg: str | None = None

    @property
    def running(self) -> bool:
        return self.actual_status == "running"

    @property
    def gpu_billed(self) -> bool:
        """Vast's docs: GPU charges apply while ``running`` or ``frozen``; otherwise only storage."""
        return self.actual_status in ("running", "frozen")

    @property
    def name(self) -> str:
        return self.label or f"vast-{self.id}"


@dataclass(frozen=True, slots=True)
class InstancesReading:
    """The instance list, or why it could not be read; the last good list is kept either way."""

    at: float
    instances: tuple[Instance, ...] = ()
    ok: bool = True
    error: str | None = None
    """One line: "HTTP 401: unauthorized (check api_key)", "rate limited (HTTP 429), next try in 30s"."""
    data_at: float | None = None
    """When ``instances`` were fetched; None if never."""

    @property
    def age_s(self) -> float | None:
        return None if self.data_at is None else max(0.0, self.at - self.data_at)

    @property
    def stale(self) -> bool:
        return not self.ok and self.data_at is not None


@dataclass(frozen=True, slots=True)
class CostReading:
    """What the fleet costs now, what it has cost today and this month, and what it will."""

    at: float
    cloud_usd_h: float
    """Sum of ``dph_total`` of GPU-billed instances (runbook 001's "Hourly" line)."""
    storage_usd_h: float
    """Disk of instances that are not running."""
    energy_usd_h: float | None
    """Owned hardware: (GPU draw + base draw) x price per kWh; None without a ``cost:`` section."""
    energy_watts: float | None
    total_usd_h: float
    today_usd: float
    """Accrued since local midnight, from what the cockpit observed."""
    today_projection_usd: float
    """Accrued, plus the current rate over the rest of the day and any unobserved part of it."""
    month_usd: float
    month_projection_usd: float
    gpus: int
    """GPUs paid for: rented on billed instances, plus owned ones counted in energy."""
    busy_gpus: int
    usd_per_busy_gpu_hour: float | None
    """Total $/h over busy GPUs: what a GPU doing work really costs. None when none is busy."""
    idle_usd_h: float = 0.0
    """What GPU-billed instances whose GPUs are idle right now cost per hour."""
    currency: str = "USD"
    notes: tuple[str, ...] = ()
    """What the figures are missing: "cloud data 3 min old", "no GPU power from gpu-node-2"."""
