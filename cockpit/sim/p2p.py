"""A mesh of simulated RingRift P2P orchestrators on loopback, one HTTP server per node.

Each answers ``GET /health`` and ``GET /status`` in the real orchestrator's shape (an0mium/RingRift
``scripts/p2p_orchestrator.py`` ``handle_status``/``_compute_status``, ``handle_health``, and
``NodeInfo.to_dict()`` of ``scripts/p2p/models.py``), through aiohttp's ``json_response`` (Python's
``json.dumps`` spacing, ``Server: Python/3.11 aiohttp/3.9.5``). Leadership is the orchestrator's:
bully order among voters (the highest node id wins), and when a side of a split has no voter
quorum its highest node takes ``provisional_leader``.

Scenarios (:meth:`P2PMeshSim.set_scenario`):

- ``ok``: everyone sees everyone and follows one leader;
- ``partition``: the nodes in ``split`` (default: the second voter and every third other node)
  see only each other and elect their own leader; the others see them as dead;
- ``not-joining``: ``missing`` is not in the mesh: its orchestrator is down and nobody lists it;
- ``cost-spike``: the mesh is as in ``ok`` (the spike is in :mod:`cockpit.sim.vast`).
"""

from __future__ import annotations

import asyncio
import time
import zlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from cockpit.sim.api_server import ApiSim, json_answer
from cockpit.sim.http import Request
from cockpit.sim.http_answers import Answer
from cockpit.sim.server import SimError
from cockpit.sim.vast import NOT_JOINING_LABEL, SimInstance

SCENARIOS = ("ok", "partition", "not-joining", "cost-spike")
PORT = 8770
AIOHTTP_SERVER = "Python/3.11 aiohttp/3.9.5"
DEMO_COORDINATORS = (
    # node id, voter, GPU; runbook 001's architecture: mac-studio (leader), lambda-h100, lambda-gh200 (voters).
    ("mac-studio", True, "Apple M2 Ultra (MPS)"),
    ("lambda-h100", True, "H100 80GB HBM3"),
    ("lambda-gh200", True, "GH200 480GB"),
    ("lambda-gh200-2", False, "GH200 480GB"),
    ("lambda-gh200-3", False, "GH200 480GB"),
    ("lambda-h100-2", False, "H100 80GB HBM3"),
    ("lambda-a10", False, "A10"),
)


@dataclass(frozen=True, slots=True)
class MeshNode:
    node_id: str
    voter: bool = False
    gpu_name: str = ""
    selfplay_jobs: int = 24
    host: str = ""
    """Its Tailscale address, as peers report it."""


def demo_nodes(instances: Iterable[SimInstance] = ()) -> list[MeshNode]:
    """The demo mesh: runbook 001's coordinators, plus one node per running instance (named by label)."""
    nodes = [
        MeshNode(node_id, voter, gpu, 0 if "MPS" in gpu else 32 + 8 * n, f"100.107.168.{125 + n}")
        for n, (node_id, voter, gpu) in enumerate(DEMO_COORDINATORS)
    ]
    for n, inst in enumerate(instances):
        if inst.status == "running":
            jobs = 2 if inst.busy < 10 else 12 * inst.num_gpus
            nodes.append(
                MeshNode(inst.label or f"vast-{inst.id}", False, inst.gpu_name, jobs, f"100.88.{n}.{10 + n}")
            )
    return nodes


def _jitter(node_id: str, span: float) -> float:
    return (zlib.crc32(node_id.encode()) % 1000) / 1000 * span


class P2PMeshSim:
    """The whole mesh: its state, one orchestrator server per served node, scenario switches."""

    def __init__(
        self,
        nodes: Sequence[MeshNode],
        *,
        scenario: str = "ok",
        serve: Iterable[str] | None = None,
        split: Iterable[str] | None = None,
        missing: str | None = NOT_JOINING_LABEL,
        host: str = "127.0.0.1",
        ports: Mapping[str, int] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.nodes = {n.node_id: n for n in nodes}
        if len(self.nodes) < 2:
            raise SimError("a P2P mesh needs at least two nodes")
        self.clock = clock
        self.started_at = clock()
        self.missing = missing if missing in self.nodes else None
        voters = [n.node_id for n in nodes if n.voter]
        others = [n.node_id for n in nodes if not n.voter]
        default_split = {*voters[1:2], *others[1::3]}
        self.split = frozenset(split) if split is not None else frozenset(default_split)
        self.scenario = "ok"
        self._check(scenario)
        self.scenario = scenario
        wanted = list(serve) if serve is not None else list(self.nodes)
        if unknown := [s for s in wanted if s not in self.nodes]:
            raise SimError(f"no mesh node named {', '.join(unknown)}")
        self.servers = {
            node_id: _Orchestrator(self, node_id, host=host, port=(ports or {}).get(node_id, 0))
            for node_id in wanted
        }

    # -- lifecycle ------------------------------------------------------------------------------

    async def start(self) -> None:
        try:
            for server in self.servers.values():
                await server.start()
            await self._apply()
        except BaseException:
            await self.stop()
            raise

    async def stop(self) -> None:
        await asyncio.gather(*(s.stop() for s in self.servers.values()), return_exceptions=True)

    async def __aenter__(self) -> P2PMeshSim:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    def urls(self) -> dict[str, str]:
        """Node id -> the URL its orchestrator answers on (ports as bound)."""
        return {node_id: server.base_url for node_id, server in self.servers.items()}

    async def set_scenario(self, scenario: str) -> None:
        self._check(scenario)
        self.scenario = scenario
        await self._apply()

    async def set_node_state(self, node_id: str, state: str) -> None:
        """``ok``, ``down`` or ``slow`` for one orchestrator (ServiceSim's states)."""
        if node_id not in self.servers:
            raise SimError(f"no simulated orchestrator for {node_id!r}")
        await self.servers[node_id].set_state(state)

    def set_nodes(self, nodes: Sequence[MeshNode]) -> None:
        """Who is in the mesh now (instances come and go); served orchestrators must stay in it."""
        table = {n.node_id: n for n in nodes}
        if gone := [s for s in self.servers if s not in table]:
            raise SimError(f"served orchestrators cannot leave the mesh: {', '.join(gone)}")
        self.nodes = table

    def _check(self, scenario: str) -> None:
        if scenario not in SCENARIOS:
            raise SimError(f"p2p scenario must be one of {', '.join(SCENARIOS)}, not {scenario!r}")

    async def _apply(self) -> None:
        for node_id, server in self.servers.items():
            absent = self.scenario == "not-joining" and node_id == self.missing
            await server.set_state("down" if absent else "ok")

    # -- the mesh as each node sees it ----------------------------------------------------------

    def members(self) -> list[str]:
        return [n for n in self.nodes if not (self.scenario == "not-joining" and n == self.missing)]

    def side(self, node_id: str) -> frozenset[str]:
        """The nodes ``node_id`` can reach (itself included)."""
        everyone = frozenset(self.members())
        if self.scenario != "partition":
            return everyone
        return everyone & self.split if node_id in self.split else everyone - self.split

    def leader_of(self, node_id: str) -> tuple[str, str]:
        """(leader id, its role) on ``node_id``'s side: bully order among voters, else provisional."""
        side = self.side(node_id)
        voters = [n for n, node in self.nodes.items() if node.voter]
        quorum = len(voters) // 2 + 1
        reachable = sorted(v for v in voters if v in side)
        if len(reachable) >= quorum:
            return reachable[-1], "leader"
        return max(reachable or side), "provisional_leader"

    def node_info(self, node_id: str, viewer: str, now: float) -> dict[str, Any]:
        """``NodeInfo.to_dict()`` of ``node_id`` as ``viewer`` holds it."""
        node = self.nodes[node_id]
        seen = node_id in self.side(viewer)
        leader, leader_role = self.leader_of(node_id)
        role = leader_role if leader == node_id else "follower"
        age = _jitter(node_id + viewer, 25.0) if seen else 240.0 + _jitter(node_id, 300.0)
        gpu = bool(node.gpu_name) and "MPS" not in node.gpu_name
        busy = 0.0 if not node.selfplay_jobs else 62.0 + _jitter(node_id, 35.0)
        info = {
            "node_id": node_id, "host": node.host or "127.0.0.1", "port": PORT, "scheme": "http",
            "role": role, "last_heartbeat": now - age, "cpu_count": 64, "cpu_percent": round(busy * 0.6, 1),
            "memory_percent": 41.3, "disk_percent": 47.9, "gpu_percent": round(busy, 1) if gpu else 0.0,
            "gpu_memory_percent": round(busy * 0.7, 1) if gpu else 0.0, "selfplay_jobs": node.selfplay_jobs,
            "training_jobs": 1 if node.voter and gpu else 0, "has_gpu": bool(node.gpu_name),
            "gpu_name": node.gpu_name, "memory_gb": 256, "capabilities": ["selfplay", "training"] if gpu else ["selfplay"],
            "version": "1.0.0", "reported_host": node.host, "reported_port": PORT, "consecutive_failures": 0 if seen else 7,
            "last_failure_time": 0.0 if seen else now - 60, "disk_cleanup_needed": False, "oom_events": 0,
            "last_oom_time": 0.0, "nat_blocked": False, "nat_blocked_since": 0.0, "last_nat_probe": 0.0,
            "relay_via": "", "retired": False, "retired_at": 0.0, "cmaes_running": False,
            "gauntlet_running": False, "tournament_running": False, "data_merge_running": False,
            "load_score": round(busy * 0.55, 2), "gpu_power_score": 100 if gpu else 0, "cpu_power_score": 64,
            "is_cpu_only_node": not node.gpu_name, "is_cuda_gpu_node": gpu, "has_external_work": False,
            "is_misrouted": False,
        }  # fmt: skip
        return info

    def status(self, node_id: str, *, alive_only: bool = True) -> dict[str, Any]:
        """``_compute_status`` of ``node_id``'s orchestrator."""
        now = self.clock()
        side = self.side(node_id)
        leader, leader_role = self.leader_of(node_id)
        role = leader_role if leader == node_id else "follower"
        voters = sorted(n for n, node in self.nodes.items() if node.voter)
        peers: dict[str, Any] = {}
        all_peers: dict[str, Any] = {}
        for other in self.members():
            if other == node_id:
                continue
            info = self.node_info(other, node_id, now)
            alive = other in side
            all_peers[other] = {
                "node_id": other, "host": info["host"], "port": PORT, "role": info["role"],
                "capabilities": info["capabilities"], "load_score": info["load_score"],
                "status": "alive" if alive else "dead", "is_alive": alive, "last_heartbeat": info["last_heartbeat"],
            }  # fmt: skip
            if alive_only and not alive:
                continue
            info.update(endpoint_conflict=False, leader_eligible=other in voters, is_alive=alive,
                        seconds_since_heartbeat=int(now - info["last_heartbeat"]))  # fmt: skip
            if not alive:
                info.update(selfplay_jobs=0, training_jobs=0, active_job_count=0)
            peers[other] = info
        alive_ids = [p for p in side if p != node_id]
        reported = sorted(p for p in alive_ids if self.leader_of(p) == (p, "leader"))
        local = self.nodes[node_id].selfplay_jobs
        cluster_jobs = local + sum(self.nodes[p].selfplay_jobs for p in alive_ids)
        voters_alive = sum(1 for v in voters if v in side)
        quorum = len(voters) // 2 + 1
        me = self.node_info(node_id, node_id, now)
        me["last_heartbeat"] = 0.0
        not_collected = {"error": "not_collected"}
        return {
            "node_id": node_id, "role": role, "leader_id": leader, "forced_leader_override": False,
            "effective_leader_id": leader if leader_role == "leader" else None,
            "is_provisional_leader": role == "provisional_leader",
            "provisional_claimed_at": now - 180 if role == "provisional_leader" else 0.0,
            "provisional_acks": 0, "provisional_challengers": 0, "fallback_leader_since": 0.0,
            "fallback_leader_reason": "voter quorum unavailable" if leader_role != "leader" else "",
            "leaders_reported": reported, "leaders_eligible": [r for r in reported if r in voters],
            "voter_node_ids": voters, "voter_quorum_size": quorum, "voters_alive": voters_alive,
            "voter_quorum_ok": voters_alive >= quorum, "voter_config_version": 3,
            "voter_config_hash": f"{zlib.crc32(','.join(voters).encode()):08x}", "voter_health": not_collected,
            "self": me, "peers": peers, "all_peers": all_peers, "local_jobs": {},
            "alive_peers": len(alive_ids), "improvement_cycle_manager": None,
            "diversity_metrics": {"error": "not_collected"}, "gossip_metrics": not_collected,
            "p2p_sync_metrics": {}, "distributed_training": not_collected, "cluster_elo": not_collected,
            "node_recovery": not_collected, "leader_consensus": not_collected, "peer_reputation": not_collected,
            "sync_intervals": not_collected, "tournament_scheduling": not_collected, "data_dedup": not_collected,
            "swim_raft": not_collected, "transport_latency": not_collected,
            "event_subscriptions": {"daemon_events": True, "feedback_signals": True, "manager_events": True,
                                    "all_healthy": True, "timestamp": now - 30},
            "partition": not_collected, "background_loops": not_collected,
            "cluster_observability": not_collected, "fallback_status": not_collected,
            "_lock_status": {"peers_lock_acquired": True, "jobs_lock_acquired": True},
            "work_queue_size": 0, "active_jobs": local, "selfplay_jobs": cluster_jobs, "training_jobs": 0,
            "local_selfplay_jobs": local,
            "network": {"advertise_host": self.nodes[node_id].host, "advertise_host_family": "ipv4",
                        "alternate_ips": [], "alternate_ipv4_count": 0, "alternate_ipv6_count": 0},
            "leadership_consistency": not_collected, "is_leader": role == "leader",
            "config_version": not_collected, "data_summary": not_collected, "cooldown_stats": not_collected,
            "peer_health_summary": not_collected, "_cache_time": now,
        }  # fmt: skip

    def health(self, node_id: str) -> dict[str, Any]:
        """``handle_health`` of ``node_id``'s orchestrator."""
        now = self.clock()
        side = self.side(node_id)
        me = self.node_info(node_id, node_id, now)
        leader, _role = self.leader_of(node_id)
        return {
            "healthy": True, "node_id": node_id, "role": me["role"], "disk_percent": me["disk_percent"],
            "memory_percent": me["memory_percent"], "cpu_percent": me["cpu_percent"],
            "gpu_percent": me["gpu_percent"], "gpu_memory_percent": me["gpu_memory_percent"],
            "selfplay_jobs": me["selfplay_jobs"], "training_jobs": me["training_jobs"], "leader_id": leader,
            "leader_last_seen_seconds": 0.0 if leader == node_id else _jitter(leader + node_id, 14.0),
            "active_peers": len(side) - 1, "total_peers": len(self.members()) - 1,
            "uptime_seconds": now - self.started_at,
            "timestamp": datetime.fromtimestamp(now, UTC).replace(tzinfo=None).isoformat(),
        }  # fmt: skip


class _Orchestrator(ApiSim):
    server_header = AIOHTTP_SERVER

    def __init__(self, mesh: P2PMeshSim, node_id: str, *, host: str, port: int) -> None:
        name = "p2p-" + "".join(c if c.isalnum() or c in "._-" else "-" for c in node_id)[:58]
        super().__init__(name, host=host, port=port)
        self.mesh = mesh
        self.node_id = node_id

    def respond(self, request: Request) -> Answer:
        if request.method not in ("GET", "HEAD"):
            return Answer(405, b"405: Method Not Allowed", "text/plain; charset=utf-8")
        if request.path == "/health":
            return json_answer(self.mesh.health(self.node_id))
        if request.path == "/status":
            alive_only = request.query.get("alive_only", "true").lower() != "false"
            return json_answer(self.mesh.status(self.node_id, alive_only=alive_only))
        return Answer(404, b"404: Not Found", "text/plain; charset=utf-8")
