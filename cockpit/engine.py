"""The engine: polls every node on its own, folds the answers into a new ClusterState per cycle.

Each node has at most one poll in flight (a source never overlaps itself). A cycle starts the polls
that are not running, waits until they all answer or the cycle's deadline passes, then publishes a
state from the latest answers. A node that hangs keeps its own poll running into later cycles and
shows as stale; it never delays the others.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Awaitable, Callable, Coroutine, Generator
from dataclasses import dataclass, replace

from cockpit.alerts import AlertTracker
from cockpit.config import Cluster, NodeConfig
from cockpit.fleet_reader import FleetReader, FleetView
from cockpit.model import (
    Alert,
    Container,
    CpuSample,
    GpuProcess,
    GpuReading,
    HostReading,
    NodeStatus,
    ProbeError,
    ServiceReading,
    Unit,
)
from cockpit.scale_reader import ScaleReader
from cockpit.service_graph import blocked_by
from cockpit.sliced import Sliced
from cockpit.sources import containers as docker
from cockpit.sources.gpu_procs import parse_cgroups, parse_compute_apps, with_containers
from cockpit.sources.http import ServiceProber
from cockpit.sources.probes import Part, build_script, new_nonce, parse_gpus, parse_host, split_parts
from cockpit.sources.ssh import CommandFailure, ConnectFailure, SshPool
from cockpit.sources.units import parse_units
from cockpit.state import ClusterState, History, HistoryView, NodeState, Ring

NODES_PER_STEP = 32
"""Nodes judged between two chances for the loop to take a key (about a millisecond)."""
HISTORY_SECONDS = 15 * 60
GPU_SERIES = ("util", "temp", "power_pct", "mem")
"""What each GPU's history keeps, in the order the engine writes it: percentages (of the power
limit for power) and degrees whole, as every pane shows them, so that each point is 1 byte
(:class:`~cockpit.state.Ring`); at 16,000 GPUs, tenths of power in watts and of memory took 29 MB."""
SERVICES = "\0services"
FLEET = "\0fleet"
SCALE = "\0scale"
"""In-flight key of the services probe (a name no node can have)."""
CRASH_LOOP_MEMORY_S = 5 * 60
"""A container whose restart count rose is called crash-looping for this long: a loop that restarts
every 30 s is up between restarts most of the time, and must not flicker in and out of the alerts."""
Publish = Callable[[ClusterState], Awaitable[None] | None]


@dataclass(frozen=True, slots=True)
class _Success:
    at: float
    host: HostReading | ProbeError | None
    gpus: tuple[GpuReading, ...] | ProbeError | None
    containers: tuple[Container, ...] = ()
    crash_looping: frozenset[str] = frozenset()
    units: tuple[Unit, ...] = ()
    procs: tuple[GpuProcess, ...] = ()
    probe_errors: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class _Failure:
    at: float
    reason: str
    connect: bool


class Engine:
    """Owns the SSH pool and the history; produces one ClusterState per :meth:`cycle`."""

    def __init__(
        self,
        cluster: Cluster,
        *,
        pool: SshPool | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.cluster = cluster
        self.pool = pool or SshPool(cluster)
        self._clock = clock
        self._nonce = new_nonce()
        self._sem = asyncio.Semaphore(cluster.ssh.max_concurrency)
        self._connect_sem = asyncio.Semaphore(cluster.ssh.max_concurrency)
        self._polls = 0
        self._inflight: dict[str, asyncio.Task[None]] = {}
        self._last_ok: dict[str, _Success] = {}
        self._last_gpus: dict[str, tuple[GpuReading, ...]] = {}
        self._last: dict[str, _Success | _Failure] = {}
        self._cpu: dict[str, CpuSample] = {}
        self._cpu_pct: dict[str, float] = {}
        self._scripts: dict[tuple[object, ...], str] = {}
        self._restarts: dict[str, dict[str, int]] = {}
        self._rose_at: dict[tuple[str, str], float] = {}
        self._owners: dict[str, dict[int, str | None]] = {}
        """Per node, GPU process pid -> owning container id, from the cgroups read so far."""
        self._gpu_pids: dict[str, tuple[int, ...]] = {}
        self._workloads_at: dict[str, float] = {}
        """When each node's containers, units and GPU processes were last asked for."""
        """GPU processes seen in the last poll: the next poll reads their cgroups (same round trip)."""
        self._seq = 0
        self._recorded: dict[str, float] = {}
        self._gpu_rings: dict[tuple[str, int], tuple[Ring, ...]] = {}
        """Each GPU's history rings, in :data:`GPU_SERIES` order."""
        self.prober = ServiceProber(clock=clock)
        self.fleet = FleetReader(cluster, clock) if FleetReader.wanted(cluster) else None
        via = cluster.kube.via_node if cluster.kube else None
        runner = self._kube_over_ssh if via else None
        self.scale = ScaleReader(cluster, clock, runner) if ScaleReader.wanted(cluster) else None
        self._services: tuple[ServiceReading, ...] = ()
        self.history = History(math.ceil(HISTORY_SECONDS / cluster.refresh) + 1)
        self.alerts = AlertTracker(cluster.thresholds)
        self.wait_for_keys: Callable[[], Awaitable[None]] | None = None
        """Awaited before the CPU-heavy work on this loop (reading Prometheus, building a state):
        the TUI holds it back while keys are being pressed."""
        self.between_slices: Callable[[float], Awaitable[None]] | None = None
        """Awaited between the slices of building a state (cockpit/sliced.py), with the
        ``time.monotonic()`` after which it must not wait: at 16,000 GPUs a state is ~200 ms of
        Python on the loop the keys need."""

    async def cycle(self, wait: float | None = None) -> ClusterState:
        """Start the polls not in flight; wait for all of them, or ``wait`` seconds at most."""
        for node in self.cluster.nodes:
            if node.probes and node.name not in self._inflight:
                self._start(node.name, self._poll(node))
        if self.cluster.services and SERVICES not in self._inflight:
            self._start(SERVICES, self._probe_services())
        if self.fleet is not None and FLEET not in self._inflight:
            self._start(FLEET, self._read_fleet())
        if self.scale is not None and SCALE not in self._inflight:
            self._start(SCALE, self._read_scale())
        pending = list(self._inflight.values())
        if pending:
            await asyncio.wait(pending, timeout=wait)
        if self.wait_for_keys is not None:
            await self.wait_for_keys()
        build = Sliced(self._state_steps())
        if build.run():
            return build.value  # type: ignore[return-value]
        until = time.monotonic() + self.cluster.refresh
        between = self.between_slices
        return await build.finish(lambda: asyncio.sleep(0) if between is None else between(until))

    def _start(self, key: str, work: Coroutine[object, object, None]) -> None:
        task = asyncio.create_task(work, name=f"poll:{key}")
        self._inflight[key] = task
        task.add_done_callback(lambda _t: self._inflight.pop(key, None))

    async def _probe_services(self) -> None:
        """All HTTP services at once on one keep-alive client; each bounded by its own timeout."""
        try:
            readings = await self.prober.probe_all(self.cluster.services)
        except Exception as exc:  # the prober never raises by contract; a bug must not kill the loop
            at = self._clock()
            readings = tuple(
                ServiceReading(s.name, s.url, at, ok=False, error=f"{type(exc).__name__}: {exc}")
                for s in self.cluster.services
            )
        self._services = readings

    async def _read_fleet(self) -> None:
        assert self.fleet is not None
        try:
            await self.fleet.read()
        except Exception:  # the sources never raise by contract; a bug must not kill the loop
            return

    async def _read_scale(self) -> None:
        assert self.scale is not None
        if self.wait_for_keys is not None:
            await self.wait_for_keys()
        try:
            await self.scale.read()
        except Exception as exc:  # the sources never raise by contract; a bug must not kill the loop
            self.scale.pods_error = f"{type(exc).__name__}: {exc}"

    async def _kube_over_ssh(self, argv: list[str], timeout: float) -> tuple[str, str, int]:
        """kubectl on the control node (``kube.via_node``), over its existing SSH connection."""
        from cockpit.sources.kube import shell_command

        node = self.cluster.kube.via_node if self.cluster.kube else None
        if node is None:
            return "", "no kube.via_node", 1
        try:
            result = await self.pool.run(node, shell_command(argv), timeout)
        except (ConnectFailure, CommandFailure) as exc:
            return "", str(exc), 255
        return result.stdout, result.stderr, result.exit_status if result.exit_status is not None else 1

    def initial_state(self) -> ClusterState:
        """A state before any answer: every node listed, none judged yet."""
        return self._build_state()

    async def run(self, publish: Publish) -> None:
        """Cycle every ``refresh`` seconds until cancelled; publishes each state."""
        refresh = self.cluster.refresh
        loop = asyncio.get_running_loop()
        next_tick = loop.time()
        wait = refresh * 0.75
        while True:
            state = await self.cycle(wait=wait)
            result = publish(state)
            if result is not None:
                await result
            next_tick += refresh
            now = loop.time()
            if next_tick < now:
                next_tick = now
            await asyncio.sleep(next_tick - now)

    async def close(self) -> None:
        for task in list(self._inflight.values()):
            task.cancel()
        if self._inflight:
            await asyncio.gather(*self._inflight.values(), return_exceptions=True)
        await self.prober.aclose()
        if self.fleet is not None:
            await self.fleet.aclose()
        if self.scale is not None:
            await self.scale.aclose()
        await self.pool.close()

    def _timeout_for(self, node: NodeConfig) -> float:
        hops = 1
        hop = node.jump
        while hop is not None:
            hops += 1
            try:
                hop = self.cluster.node(hop).jump
            except KeyError:
                hop = None
        return (self.cluster.ssh.connect_timeout + 1) * hops + self.cluster.ssh.command_timeout

    async def _poll(self, node: NodeConfig) -> None:
        name = node.name
        try:
            await self._poll_once(node)
        except Exception as exc:  # one node's surprise must not die silently
            self._last[name] = _Failure(self._clock(), f"{type(exc).__name__}: {exc}", connect=False)

    async def _poll_once(self, node: NodeConfig) -> None:
        name = node.name
        previous = self._cpu.get(name)
        started = self._clock()
        workloads = started - self._workloads_at.get(name, -math.inf) >= self.cluster.workload_refresh
        script = self._script(node, first=previous is None, workloads=workloads)
        try:
            async with asyncio.timeout(self._timeout_for(node)):
                # Connects have their own bound, so nodes stuck connecting (a dead rack) cannot
                # hold the command slots that healthy, connected nodes need.
                async with self._connect_sem:
                    await self.pool.connection(name)
                async with self._sem:
                    result = await self.pool.poll(
                        name, script, self._next_marker(), self.cluster.ssh.command_timeout
                    )
        except ConnectFailure as exc:
            self._last[name] = _Failure(self._clock(), str(exc), connect=True)
            self._cpu.pop(name, None)  # a reboot restarts the counters; never diff across it
            return
        except CommandFailure as exc:
            self._last[name] = _Failure(self._clock(), str(exc), connect=False)
            return
        except TimeoutError:
            self._last[name] = _Failure(self._clock(), "no answer in time", connect=False)
            return
        parts = split_parts(result.stdout, self._nonce)
        now = self._clock()
        host: HostReading | ProbeError | None = None
        gpus: tuple[GpuReading, ...] | ProbeError | None = None
        if "host" in node.probes:
            host = self._with_cpu(name, parse_host(parts, previous), previous)
        if "gpus" in node.probes:
            part = parts.get("gpus")
            gpus = parse_gpus(part.text, part.rc) if part else ProbeError("gpus", "no answer")
        base = _Success(now, host, gpus)
        if workloads:
            self._workloads_at[name] = started
            success = self._workloads(node, parts, base)
        else:
            success = self._kept_workloads(name, base)
        self._last[name] = success
        self._last_ok[name] = success
        if isinstance(gpus, tuple):
            self._last_gpus[name] = gpus

    def _workloads(self, node: NodeConfig, parts: dict[str, Part], base: _Success) -> _Success:
        """Containers, units and GPU processes: optional, so a failure is a note, not a down node."""
        name = node.name
        errors: list[str] = []
        containers: tuple[Container, ...] = ()
        looping: frozenset[str] = frozenset()
        if "containers" in node.probes and "docker_ps" in parts:
            ps, inspect = parts["docker_ps"], parts.get("docker_inspect", Part("", None))
            found = docker.parse_containers(ps.text, ps.rc, inspect.text, inspect.rc)
            if isinstance(found, ProbeError):
                errors.append(f"containers: {found.reason}")
            else:
                containers = found
                looping = self._crash_looping(name, found, base.at)
        units: tuple[Unit, ...] = ()
        if node.units and "units" in parts:
            uptime = base.host.uptime_s if isinstance(base.host, HostReading) else None
            part = parts["units"]
            read = parse_units(part.text, part.rc, node.units, uptime, base.at)
            if isinstance(read, ProbeError):
                errors.append(f"units: {read.reason}")
            else:
                units = read
        procs: tuple[GpuProcess, ...] = ()
        if "procs" in parts:
            part = parts["procs"]
            found_procs = parse_compute_apps(part.text, part.rc)
            if isinstance(found_procs, tuple):
                owners = self._owners.setdefault(name, {})
                if "cgroups" in parts:
                    owners.update(parse_cgroups(parts["cgroups"].text))
                alive = {p.pid for p in found_procs}
                for pid in [p for p in owners if p not in alive]:
                    del owners[pid]
                self._gpu_pids[name] = tuple(sorted(alive))
                procs = with_containers(found_procs, owners)
        names = {c.id: c.name for c in containers}
        return replace(
            base,
            containers=containers,
            crash_looping=frozenset(names[i] for i in looping if i in names),
            units=units,
            procs=procs,
            probe_errors=tuple(errors),
        )

    def _kept_workloads(self, name: str, base: _Success) -> _Success:
        """A poll that skipped the slow parts keeps what the last full poll read."""
        last = self._last_ok.get(name)
        if last is None:
            return base
        return replace(
            base,
            containers=last.containers,
            crash_looping=last.crash_looping,
            units=last.units,
            procs=last.procs,
            probe_errors=last.probe_errors,
        )

    def refresh_workloads(self, name: str) -> None:
        """Read the node's containers, units and GPU processes on its next poll (after an action)."""
        self._workloads_at.pop(name, None)

    def _crash_looping(self, node: str, containers: tuple[Container, ...], now: float) -> frozenset[str]:
        """Restarting now, or restarted by docker within CRASH_LOOP_MEMORY_S (ids)."""
        previous = self._restarts.get(node, {})
        for cid in docker.crash_looping(previous, containers):
            self._rose_at[(node, cid)] = now
        for c in containers:
            before = previous.get(c.id)
            if before is not None and c.restart_count is not None and c.restart_count < before:
                # A count that went down is an operator's restart (docker resets it): the loop
                # is considered over unless it shows again.
                self._rose_at.pop((node, c.id), None)
        self._restarts[node] = docker.restart_counts(containers)
        recent = {
            c.id
            for c in containers
            if c.restarting or now - self._rose_at.get((node, c.id), -math.inf) < CRASH_LOOP_MEMORY_S
        }
        return frozenset(recent)

    def _next_marker(self) -> str:
        """A new end marker per poll: output left over from an abandoned poll can never be
        mistaken for this one's answer."""
        self._polls += 1
        return f"@@{self._nonce}:done:{self._polls}"

    def _script(self, node: NodeConfig, *, first: bool, workloads: bool = True) -> str:
        """The poll script for this node; cached, as it changes only on the first poll, with the
        slow parts, and when the set of GPU processes changes."""
        pids = self._gpu_pids.get(node.name, ()) if workloads else ()
        key = (tuple(node.probes), first, tuple(node.units), pids, workloads)
        script = self._scripts.get(key)
        if script is None:
            if len(self._scripts) > 4 * len(self.cluster.nodes) + 16:
                self._scripts.clear()  # PIDs come and go; keep the cache bounded
            script = self._scripts[key] = build_script(
                node.probes,
                self._nonce,
                first=first,
                # df, docker and nvidia-smi may all hang; together they must end inside the
                # poll's timeout.
                gpu_timeout=max(1.0, (self.cluster.ssh.command_timeout - 1) / 3),
                units=node.units,
                pids=pids,
                workloads=workloads,
            )
        return script

    def _with_cpu(
        self, name: str, host: HostReading | ProbeError, previous: CpuSample | None
    ) -> HostReading | ProbeError:
        """Keep the CPU sample to diff against next time. Polls closer together than a jiffy
        (a manual refresh right after a cycle) see no counter move: keep the older sample and
        the last CPU %, rather than showing CPU as unknown."""
        if not isinstance(host, HostReading) or host.cpu_sample is None:
            return host
        if previous is not None and host.cpu_sample.total == previous.total:
            return replace(host, cpu_pct=self._cpu_pct.get(name))
        self._cpu[name] = host.cpu_sample
        if host.cpu_pct is not None:
            self._cpu_pct[name] = host.cpu_pct
        return host

    def _stale_after(self) -> float:
        return 2.5 * self.cluster.refresh

    def _node_state(self, node: NodeConfig, now: float) -> NodeState:
        name = node.name
        last = self._last.get(name)
        ok = self._last_ok.get(name)
        base = NodeState(
            name=name, status=NodeStatus.STALE, tags=tuple(node.tags), has_gpu_probe="gpus" in node.probes
        )
        if last is None:
            return replace(base, error="connecting…")
        if isinstance(last, _Failure) and (last.connect or ok is None):
            return replace(base, status=NodeStatus.DOWN, error=last.reason, last_ok=ok.at if ok else None)
        assert ok is not None
        # A failed GPU probe keeps the last good GPUs on screen, flagged by gpu_error: GPUs that
        # vanish when the driver hangs would hide exactly the machine that needs attention.
        gpu_error = ok.gpus.reason if isinstance(ok.gpus, ProbeError) else None
        known = replace(
            base,
            last_ok=ok.at,
            host=ok.host if isinstance(ok.host, HostReading) else None,
            gpus=self._last_gpus.get(name, ()),
            gpu_error=gpu_error,
            containers=ok.containers,
            crash_looping=ok.crash_looping,
            units=ok.units,
            procs=ok.procs,
            probe_errors=ok.probe_errors,
        )
        if isinstance(last, _Failure):
            return replace(known, error=last.reason)
        age = now - last.at
        if age > self._stale_after():
            return replace(known, error=f"no answer for {age:.0f}s")
        error = None
        if isinstance(last.host, ProbeError):
            error = f"host: {last.host.reason}"
        elif isinstance(last.host, HostReading) and last.host.warnings:
            error = f"host: {'; '.join(last.host.warnings)}"
        elif gpu_error:
            error = f"gpus: {gpu_error}"
        return replace(known, status=NodeStatus.UP, error=error)

    def _record_history(self, state: NodeState, seq: int) -> None:
        """One point per answer, not per cycle: a slow node must not repeat its last values."""
        if state.status is not NodeStatus.UP or state.last_ok is None:
            return
        if self._recorded.get(state.name) == state.last_ok:
            return
        self._recorded[state.name] = state.last_ok
        name = state.name
        host = state.host
        if host is not None:
            add = self.history.add
            add((name, "cpu"), seq, _whole(host.cpu_pct))
            add((name, "mem"), seq, _whole(host.mem_pct))
            add((name, "load1"), seq, host.load1)
        rings = self._gpu_rings
        for gpu in () if state.gpu_error else state.gpus:
            found = rings.get((name, gpu.index))
            if found is None:
                ring = self.history.ring
                found = rings[(name, gpu.index)] = tuple(ring((name, gpu.index, m)) for m in GPU_SERIES)
            util, temp, power, mem = found
            util.add(seq, gpu.util_pct)
            temp.add(seq, gpu.temp_c)
            power.add(seq, _whole(gpu.power_pct))
            mem.add(seq, _whole(gpu.mem_pct))

    def _all_nodes(self) -> list[NodeConfig]:
        """The configured nodes, then the ones Prometheus discovered."""
        if self.scale is None:
            return list(self.cluster.nodes)
        return [*self.cluster.nodes, *self.scale.discovered()]

    def _any_node_state(self, node: NodeConfig, now: float) -> NodeState:
        if self.scale is None:
            return self._node_state(node, now)
        if not node.probes and self.scale.prom is not None:
            return self.scale.with_local_gpus(self.scale.node_state(node))
        return self.scale.with_local_gpus(self.scale.merged(self._node_state(node, now)))

    def _judge_fleet(self, nodes: tuple[NodeState, ...]) -> FleetView | None:
        if self.fleet is None:
            return None
        gpus = {n.name: (n.gpus if n.status is NodeStatus.UP and not n.gpu_error else None) for n in nodes}
        return self.fleet.judge(gpus)

    def _build_state(self) -> ClusterState:
        """A new state, built at once (the first one, before any answer)."""
        build = Sliced(self._state_steps())
        build.run(budget=math.inf)
        return build.value  # type: ignore[return-value]

    def _state_steps(self) -> Generator[None, None, ClusterState]:
        """A new state, yielding every :data:`NODES_PER_STEP` nodes (see :attr:`between_slices`)."""
        self._seq += 1
        seq = self._seq
        now = self._clock()
        nodes = []
        for count, node in enumerate(self._all_nodes(), 1):
            state_of = self._any_node_state(node, now)
            self._record_history(state_of, seq)
            nodes.append(state_of)
            if not count % NODES_PER_STEP:
                yield
        judged = tuple(nodes)
        state = ClusterState(
            cluster=self.cluster.cluster,
            seq=seq,
            at=now,
            nodes=judged,
            history=HistoryView(self.history, seq),
            refresh=self.cluster.refresh,
            thresholds=self.cluster.thresholds,
            services=self._services,
            blocked_by=blocked_by(self.cluster.services, {r.name: r for r in self._services}),
            fleet=self._judge_fleet(judged),
        )
        yield
        alerts = self.alerts.update(state)
        if self.scale is not None:
            view = self.scale.view()
            alerts = tuple(sorted((*alerts, *view.alerts), key=_alert_order))
            state = replace(state, scale=view)
        return replace(state, alerts=alerts, _index={})


def _alert_order(alert: Alert) -> tuple[bool, float, str]:
    return (alert.severity != "critical", alert.since or 0.0, alert.subject)


def _whole(value: float | None) -> float | None:
    """Rounded; None for no value or one that is not a number (inf would read back as a hole)."""
    return round(value) if value is not None and math.isfinite(value) else None
