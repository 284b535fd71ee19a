"""RingRift P2P orchestrators: ``GET /health`` and ``GET /status`` on each configured one (port 8770).

The JSON is the real orchestrator's (an0mium/RingRift, ``ai-service/scripts/p2p_orchestrator.py``
``handle_status`` and ``handle_health``, later moved to ``scripts/p2p/handlers/status.py`` and
``status_monitoring_mixin``), as read by ``scripts/check_p2p_status.py`` (``role``, ``leader_id`` or
``effective_leader_id``, ``alive_peers``, ``self.selfplay_jobs``) and ``scripts/vast_p2p_sync.py``
(``peers`` keyed by node id, ``reported_host`` or ``host``, ``retired``, ``selfplay_jobs``):

- ``/status``: ``node_id``, ``role`` (leader, follower, candidate, provisional_leader),
  ``leader_id``, ``effective_leader_id``, ``leaders_reported``, ``voter_node_ids``,
  ``voter_quorum_ok``, ``self`` and ``peers`` (``NodeInfo.to_dict()``: ``last_heartbeat``,
  ``gpu_name``, ``gpu_percent``, ``selfplay_jobs``, ``retired``...; newer releases add ``is_alive``
  and ``seconds_since_heartbeat`` and drop dead peers unless ``alive_only=false``), ``alive_peers``,
  and, since 2026, cluster-wide ``selfplay_jobs``.
- ``/health``: ``healthy``, ``node_id``, ``role``, ``leader_id``, ``active_peers``, ``uptime_seconds``.

Both are asked for at once; an orchestrator whose ``/status`` is slow (it can take seconds on a busy
leader) but whose ``/health`` answers is reachable, with a partial reading. Parsers are pure and
never raise: a hostile answer becomes a :class:`ProbeError` with one line.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, fields
from typing import Any

import httpx

import cockpit.config  # noqa: F401  (config loads fleet_config at its end: it must come first)
from cockpit.fleet_config import P2PConfig
from cockpit.fleet_model import MeshReading, Peer
from cockpit.model import ProbeError
from cockpit.sanitize import clean
from cockpit.sources.http import failure_reason
from cockpit.sources.jsonapi import PooledClient, count, error_words, loads, new_client, number, string

PEER_TIMEOUT_S = 90.0
"""``PEER_TIMEOUT`` of the orchestrator: no heartbeat for this long and a peer is dead."""
MAX_BODY = 16 * 1024 * 1024
"""A leader's ``/status`` with a few hundred peers and its metrics is a few MiB at most."""
MAX_PEERS = 5000
NODE_ID_LIMIT = 80


@dataclass(frozen=True, slots=True)
class HealthInfo:
    """What ``/health`` said, in the vocabulary of :class:`MeshReading`."""

    healthy: bool | None
    node_id: str | None = None
    role: str | None = None
    leader_id: str | None = None
    alive_peers: int | None = None
    """``active_peers``."""
    selfplay_jobs: int | None = None
    uptime_s: float | None = None


@dataclass(frozen=True, slots=True)
class StatusInfo:
    """What ``/status`` said, in the vocabulary of :class:`MeshReading`."""

    node_id: str
    role: str | None
    leader_id: str | None
    effective_leader_id: str | None
    leaders_reported: tuple[str, ...]
    voters: tuple[str, ...]
    quorum_ok: bool | None
    peers: tuple[Peer, ...]
    alive_peers: int | None
    selfplay_jobs: int | None
    uptime_s: float | None


def _node_id(value: Any) -> str | None:
    return string(value, NODE_ID_LIMIT)


def _role(value: Any) -> str | None:
    role = string(value, 40)
    return role.lower() if role else None


def _doc(body: bytes | str, probe: str) -> dict[str, Any] | ProbeError:
    try:
        doc = loads(body.encode() if isinstance(body, str) else body)
    except ValueError as exc:
        return ProbeError(probe, str(exc))
    if not isinstance(doc, dict):
        return ProbeError(probe, f"not a JSON object ({type(doc).__name__})")
    return doc


def parse_health(body: bytes | str) -> HealthInfo | ProbeError:
    """``GET /health``'s body; an orchestrator that failed says ``{"error": ..., "healthy": false}``."""
    doc = _doc(body, "p2p health")
    if isinstance(doc, ProbeError):
        return doc
    healthy = doc.get("healthy")
    if not isinstance(healthy, bool) and _node_id(doc.get("node_id")) is None:
        return ProbeError("p2p health", "no 'healthy' or 'node_id' (is this a P2P orchestrator?)")
    return HealthInfo(
        healthy=healthy if isinstance(healthy, bool) else None,
        node_id=_node_id(doc.get("node_id")),
        role=_role(doc.get("role")),
        leader_id=_node_id(doc.get("leader_id")),
        alive_peers=count(doc.get("active_peers")),
        selfplay_jobs=count(doc.get("selfplay_jobs")),
        uptime_s=number(doc.get("uptime_seconds")),
    )


def _peer(
    node_id: str, info: Mapping[str, Any], voters: frozenset[str], ref: float | None, *, is_self: bool = False
) -> Peer:
    last = number(info.get("last_heartbeat"))
    last = last if last and last > 0 else None
    since = number(info.get("seconds_since_heartbeat"))
    ago: float | None = since if since is not None and since >= 0 else None
    if ago is None and last is not None and ref is not None:
        ago = max(0.0, ref - last)
    alive = info.get("is_alive")
    if not isinstance(alive, bool):
        status = info.get("status")  # /api/cluster/status writes online/offline
        if status in ("online", "alive"):
            alive = True
        elif status in ("offline", "dead"):
            alive = False
        elif is_self:
            alive = True
        else:
            alive = None if ago is None else ago < PEER_TIMEOUT_S
    if is_self:
        ago = 0.0
    return Peer(
        node_id=node_id,
        role=_role(info.get("role")) or "unknown",
        voter=node_id in voters,
        alive=alive,
        last_seen=last,
        seen_ago_s=ago,
        host=string(info.get("reported_host"), 64) or string(info.get("host"), 64),
        gpu_name=string(info.get("gpu_name"), 64),
        gpu_percent=number(info.get("gpu_percent")),
        selfplay_jobs=count(info.get("selfplay_jobs")),
        retired=info.get("retired") is True,
        is_self=is_self,
    )


def _peer_items(raw: Any) -> Iterable[tuple[str, Mapping[str, Any]]]:
    """``peers`` is a dict keyed by node id in ``/status``, a list in ``/api/cluster/status``."""
    if isinstance(raw, dict):
        items: Iterable[tuple[Any, Any]] = raw.items()
    elif isinstance(raw, list):
        items = ((p.get("node_id") if isinstance(p, dict) else None, p) for p in raw)
    else:
        return
    for n, (key, info) in enumerate(items):
        if n >= MAX_PEERS:
            return
        node_id = _node_id(key) or (_node_id(info.get("node_id")) if isinstance(info, dict) else None)
        if node_id and isinstance(info, dict):
            yield node_id, info


def parse_status(body: bytes | str, *, at: float) -> StatusInfo | ProbeError:
    """``GET /status``'s body (any release since the runbook's); ``at`` dates peers when it has no clock."""
    doc = _doc(body, "p2p status")
    if isinstance(doc, ProbeError):
        return doc
    me = doc.get("self") if isinstance(doc.get("self"), dict) else {}
    node_id = _node_id(doc.get("node_id")) or _node_id(me.get("node_id"))
    if node_id is None:
        if isinstance(doc.get("error"), str):
            return ProbeError("p2p status", f"error: {clean(doc['error'], limit=100)}")
        return ProbeError("p2p status", "no 'node_id' (is this a P2P orchestrator?)")
    voters_raw = doc.get("voter_node_ids")
    voters = tuple(v for v in (_node_id(x) for x in voters_raw) if v) if isinstance(voters_raw, list) else ()
    voter_set = frozenset(voters)
    ref = number(doc.get("timestamp")) or number(doc.get("_cache_time")) or at
    role = _role(doc.get("role")) or _role(me.get("role"))
    peers = [_peer(node_id, {**me, "role": role}, voter_set, ref, is_self=True)]
    seen = {node_id}
    for peer_id, info in _peer_items(doc.get("peers")):
        if peer_id not in seen:
            seen.add(peer_id)
            peers.append(_peer(peer_id, info, voter_set, ref))
    reported = doc.get("leaders_reported")
    leaders = tuple(x for x in (_node_id(v) for v in reported) if x) if isinstance(reported, list) else ()
    jobs = count(doc.get("selfplay_jobs"))
    if jobs is None:
        counted = [p.selfplay_jobs for p in peers if p.alive and p.selfplay_jobs is not None]
        jobs = sum(counted) if counted else None
    quorum = doc.get("voter_quorum_ok")
    alive_peers = count(doc.get("alive_peers"))
    if alive_peers is None and len(peers) > 1:
        alive_peers = sum(1 for p in peers[1:] if p.alive)
    return StatusInfo(
        node_id=node_id,
        role=role,
        leader_id=_node_id(doc.get("leader_id")) or _node_id(doc.get("effective_leader_id")),
        effective_leader_id=_node_id(doc.get("effective_leader_id")),
        leaders_reported=leaders,
        voters=voters,
        quorum_ok=quorum if isinstance(quorum, bool) else None,
        peers=tuple(peers),
        alive_peers=alive_peers,
        selfplay_jobs=jobs,
        uptime_s=number(doc.get("uptime_seconds")),
    )


def to_reading(
    config: P2PConfig,
    at: float,
    health: HealthInfo | ProbeError | None,
    status: StatusInfo | ProbeError | None,
    *,
    unreachable: str | None = None,
) -> MeshReading:
    """One :class:`MeshReading` from whatever the two endpoints gave."""
    base = {"name": config.name, "url": config.url, "at": at, "node": config.node}
    if unreachable is not None:
        return MeshReading(reachable=False, error=unreachable, **base)
    h = health if isinstance(health, HealthInfo) else None
    s = status if isinstance(status, StatusInfo) else None
    if h is None and s is None:
        problems = [p.reason for p in (health, status) if isinstance(p, ProbeError)]
        return MeshReading(reachable=True, error=problems[0] if problems else "no answer", **base)
    error = None
    if s is None and isinstance(status, ProbeError):
        error = f"status: {status.reason}"
    elif h is None and isinstance(health, ProbeError):
        error = f"health: {health.reason}"
    said = {**_said(h), **_said(s)}  # /status knows more and wins; /health adds ``healthy``
    if said.get("uptime_s") is None and h is not None:
        said["uptime_s"] = h.uptime_s
    return MeshReading(reachable=True, error=error, **said, **base)


def _said(info: HealthInfo | StatusInfo | None) -> dict[str, Any]:
    """The info's fields as :class:`MeshReading` arguments (they share their names); {} for None."""
    return {} if info is None else {f.name: getattr(info, f.name) for f in fields(info)}


class _Answer(Exception):
    """An HTTP answer that is not a 200; the message is the one-line reason."""


class P2PSource(PooledClient):
    """Polls every configured orchestrator concurrently; each costs at most its own timeout.

    One pooled client for all of them, kept across cycles. Close with :meth:`aclose`.
    """

    def __init__(
        self,
        configs: Sequence[P2PConfig],
        *,
        clock: Callable[[], float] = time.time,
        client: httpx.AsyncClient | None = None,
        max_body: int = MAX_BODY,
    ) -> None:
        super().__init__(client or new_client(), max_body)
        self.configs = tuple(configs)
        self._clock = clock

    async def read(self) -> tuple[MeshReading, ...]:
        """One reading per configured orchestrator, in config order; never raises (but cancellation)."""
        return tuple(await asyncio.gather(*(self.poll(c) for c in self.configs)))

    async def poll(self, config: P2PConfig) -> MeshReading:
        base = config.url.rstrip("/")
        health_task = asyncio.ensure_future(self._get(f"{base}/health", config.timeout))
        status_task = asyncio.ensure_future(self._get(f"{base}/status?alive_only=false", config.timeout))
        try:
            answers = await asyncio.gather(health_task, status_task, return_exceptions=True)
        except asyncio.CancelledError:
            health_task.cancel()
            status_task.cancel()
            raise
        at = self._clock()
        failures: list[str] = []
        parsed: list[Any] = []
        for answer, parser in zip(answers, (parse_health, None), strict=True):
            if isinstance(answer, _Answer):
                parsed.append(ProbeError("p2p", str(answer)))
            elif isinstance(answer, BaseException):
                failures.append(failure_reason(answer, config.timeout))
                parsed.append(None)
            elif parser is parse_health:
                parsed.append(parse_health(answer))
            else:
                parsed.append(parse_status(answer, at=at))
        if len(failures) == 2:
            return to_reading(config, at, None, None, unreachable=failures[0])
        health, status = parsed
        if failures and status is None:
            status = ProbeError("p2p status", failures[0])
        if failures and health is None:
            health = ProbeError("p2p health", failures[0])
        return to_reading(config, at, health, status)

    async def _get(self, url: str, timeout: float) -> bytes:
        async with asyncio.timeout(timeout):
            response, body = await self.fetch(
                self._client.build_request("GET", url, timeout=httpx.Timeout(timeout))
            )
        if response.status_code != 200:
            words = error_words(body)
            raise _Answer(
                f"HTTP {response.status_code}: {words}" if words else f"HTTP {response.status_code}"
            )
        return body
