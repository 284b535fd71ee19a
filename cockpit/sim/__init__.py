"""The embedded demo cluster: real SSH servers on loopback that answer like real GPU nodes.

``cockpit demo`` and ``cockpit sim`` run a :class:`SimCluster` built from a cluster.yaml; tests and
benchmarks use it to exercise the real SSH path (host keys, auth, timeouts, jump hosts) against
machines whose state they can script. This package imports only :mod:`cockpit.model` and
:mod:`cockpit.config` of ours: it is the far side of the wire and must never call into sources.

Typical use::

    async with SimCluster(cluster, state_dir=tmp, ephemeral_ports=True) as sim:
        host, port = sim.addresses["hydra-ai"]
        sim.set_gpu("hydra-ai", 0, temp=91)
        sim.set_container("hydra-storage", "litellm", "crash-loop")
        sim.set_unit("hydra-ai", "tabbyapi", "failed")

A config with ``prometheus:`` also gets the nodes' exporter pages and a real ``prometheus`` scraping
them every second (:mod:`cockpit.sim.prom_stack`); one with ``kube: {via_node: X}`` gets ``kubectl``
on node X, answering for the pods of :attr:`SimCluster.kube`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from urllib.parse import urlsplit

import asyncssh

from cockpit.config import Cluster, cache_dir, expand_path
from cockpit.sim import hostkeys
from cockpit.sim.exporter import JOBS, SimExporter
from cockpit.sim.fleet import POLLED, FleetSim
from cockpit.sim.http import ServiceSims
from cockpit.sim.kubectl import KubeSim
from cockpit.sim.prom_stack import PromStack
from cockpit.sim.server import NodeServer, SimError, loopback_address
from cockpit.sim.world import Clock, NodeWorld

__all__ = ["AuthorizedKeys", "NodeWorld", "SimCluster", "SimError", "serve_forever"]
NVIDIA_SMI_MODES = ("ok", "missing", "driver-error", "no-devices")


AuthorizedKeys = str | Path | asyncssh.SSHKey | Iterable[asyncssh.SSHKey] | asyncssh.SSHAuthorizedKeys
"""An authorized_keys file path, its text, one key, several keys, or asyncssh's parsed form."""


def _authorized(keys: AuthorizedKeys | None) -> asyncssh.SSHAuthorizedKeys | None:
    """Accept an authorized_keys path, its text, an SSHKey or a list of keys."""
    if keys is None or isinstance(keys, asyncssh.SSHAuthorizedKeys):
        return keys
    if isinstance(keys, Path) or (isinstance(keys, str) and "\n" not in keys and Path(keys).is_file()):
        return asyncssh.read_authorized_keys(str(keys))
    if isinstance(keys, str):
        return asyncssh.import_authorized_keys(keys)
    items = [keys] if isinstance(keys, asyncssh.SSHKey) else list(keys)
    text = "".join(hostkeys.public_line(k) + "\n" for k in items)
    return asyncssh.import_authorized_keys(text)


def _fleet_for(cluster: Cluster, ephemeral: bool, clock: Clock) -> FleetSim | None:
    """Runbook 001's fleet, on the loopback ports the config names (or any, for tests)."""
    if not (cluster.p2p or cluster.vast):
        return None
    ports: dict[str, int] = {}
    for entry in cluster.p2p:
        port = _loopback_port(entry.url, f"p2p {entry.name}")
        ports[entry.name] = 0 if ephemeral else port
    api_port = 0
    if cluster.vast is not None:
        port = _loopback_port(cluster.vast.url, "vast")
        api_port = 0 if ephemeral else port
    serve = [p.name for p in cluster.p2p] or list(POLLED)
    return FleetSim(serve=serve, ports=ports, api_port=api_port, clock=clock)


def _prometheus_for(cluster: Cluster, exporter: SimExporter, ephemeral: bool) -> PromStack | None:
    """Runbook 004's Prometheus, on the loopback port its URL names (or any, for tests and demos)."""
    if cluster.prometheus is None:
        return None
    port = _loopback_port(cluster.prometheus.url, "prometheus")
    return PromStack(exporter, cluster.prometheus, port=0 if ephemeral else port)


def _loopback_port(url: str, what: str) -> int:
    parsed = urlsplit(url)
    host = parsed.hostname or ""
    try:
        loopback_address(host)
    except SimError as exc:
        raise SimError(f"{what} cannot be simulated: {exc}") from None
    return parsed.port or (443 if parsed.scheme == "https" else 80)


class SimCluster:
    """Every loopback node of ``cluster`` as a live SSH server, with scenario and fault controls.

    ``state_dir`` holds host keys (default: the cockpit cache's ``demo`` folder); ``known_hosts``
    overrides the cluster's ``ssh.known_hosts``; ``clock`` drives the simulated hardware (pass a
    fake one to freeze time); ``ephemeral_ports`` lets the OS pick every port (tests);
    ``authorized_keys`` turns on public-key auth; ``shared_host_key`` uses one key for all nodes
    (benchmarks with hundreds of nodes); ``nodes`` limits which nodes are simulated.
    """

    def __init__(
        self,
        cluster: Cluster,
        *,
        state_dir: str | Path | None = None,
        known_hosts: str | Path | None = None,
        clock: Clock = time.time,
        ephemeral_ports: bool = False,
        authorized_keys: AuthorizedKeys | None = None,
        shared_host_key: bool = False,
        nodes: Iterable[str] | None = None,
    ) -> None:
        self.cluster = cluster
        self.state_dir = Path(state_dir) if state_dir is not None else Path(cache_dir()) / "demo"
        self.known_hosts = Path(known_hosts) if known_hosts else expand_path(cluster.ssh.known_hosts)
        self.clock = clock
        self._shared = shared_host_key
        self._auth = _authorized(authorized_keys)
        wanted = set(nodes) if nodes is not None else None
        seed = cluster.sim.seed if cluster.sim else 1
        self.worlds: dict[str, NodeWorld] = {}
        self._ports: dict[str, int] = {}
        for node in cluster.nodes:
            if wanted is not None and node.name not in wanted:
                continue
            try:
                loopback_address(node.host)
            except SimError as exc:
                raise SimError(f"node {node.name!r} cannot be simulated: {exc}") from None
            self.worlds[node.name] = NodeWorld(node, seed, clock)
            port = node.port or cluster.ssh.port or 0
            self._ports[node.name] = 0 if ephemeral_ports else port
        if wanted is not None and (missing := wanted - set(self.worlds)):
            raise SimError(f"no such node in the cluster: {', '.join(sorted(missing))}")
        self._servers: dict[str, NodeServer] = {}
        self.services = ServiceSims(ephemeral_ports=ephemeral_ports)
        """The cluster's HTTP services (runbook 000's service ports), on loopback."""
        self._pinned: set[str] = set()
        """Services a scenario set by hand: their units and containers no longer drive them."""
        self._tasks: set[asyncio.Task[None]] = set()
        self.fleet = _fleet_for(cluster, ephemeral_ports, clock)
        """The rented fleet (P2P orchestrators and a Vast-compatible API) when the config has one."""
        self.exporter = SimExporter(self.worlds, clock)
        """node_exporter, dcgm-exporter and vLLM pages of every node (served only with ``prometheus:``)."""
        self.prometheus = _prometheus_for(cluster, self.exporter, ephemeral_ports)
        """The exporters and a real prometheus scraping them, when the config has ``prometheus:``."""
        self.kube = KubeSim(self.worlds, clock, namespace=cluster.kube.namespace if cluster.kube else None)
        """The cluster's pods; ``kubectl`` answers for them on ``kube.via_node``."""
        via = cluster.kube.via_node if cluster.kube is not None else None
        if via in self.worlds:
            self.worlds[via].kube = self.kube  # type: ignore[attr-defined]  # what kubectl looks for

    # -- lifecycle -----------------------------------------------------------------------------

    async def start(self) -> None:
        """Start every node's listener and write their host keys to known_hosts."""
        keydir = hostkeys.private_dir(self.state_dir / "hostkeys")
        shared = hostkeys.load_or_create(keydir / "_shared.key") if self._shared else None
        try:
            for name, world in self.worlds.items():
                key = shared or hostkeys.load_or_create(keydir / f"{name}.key")
                node = world.node
                server = NodeServer(name, node.host, self._ports[name], world, key, self._auth)
                await server.start()
                self._servers[name] = server
            if self.fleet is not None:
                await self.fleet.start()
            wanted = [s for s in self.cluster.services if s.node is None or s.node in self.worlds]
            await self.services.start(wanted, {s.name: s.sim for s in wanted if s.sim is not None})
            if self.prometheus is not None:
                await self.prometheus.start()
        except BaseException:
            await self.stop()
            raise
        self._write_known_hosts()
        self._follow_backends()

    def _follow_backends(self) -> None:
        """A service goes down when the unit or container that serves it stops, and comes back
        when it runs again: restarting tabbyapi from the cockpit brings its health check back."""
        for service in self.cluster.services:
            if service.node not in self.worlds or not (service.unit or service.container):
                continue
            if service.unit:
                unit = service.unit if "." in service.unit else f"{service.unit}.service"
                key, healthy = f"unit:{unit}", ("active",)
            else:
                key, healthy = f"container:{service.container}", ("ok",)

            def follow(changed: str, state: str, key: str = key, name: str = service.name,
                       healthy: tuple[str, ...] = healthy) -> None:  # fmt: skip
                if changed != key or name in self._pinned:
                    return
                wanted = "ok" if state in healthy else "down"
                if self.services.state(name) != wanted:
                    task = asyncio.get_running_loop().create_task(self.services.set_state(name, wanted))
                    self._tasks.add(task)
                    task.add_done_callback(self._tasks.discard)

            self.world(service.node).services.watch(follow)

    async def stop(self) -> None:
        """Stop every listener and drop every connection."""
        servers, self._servers = list(self._servers.values()), {}
        await asyncio.gather(*(s.stop() for s in servers), return_exceptions=True)
        await self.services.stop()
        if self.fleet is not None:
            await self.fleet.stop()
        if self.prometheus is not None:
            await self.prometheus.stop()

    async def __aenter__(self) -> SimCluster:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    def _write_known_hosts(self) -> None:
        entries = {
            name: (hostkeys.host_pattern(s.host, s.port), s.host_key) for name, s in self._servers.items()
        }
        hostkeys.write_known_hosts(self.known_hosts, entries)

    # -- where the nodes are -------------------------------------------------------------------

    @property
    def ports(self) -> dict[str, int]:
        """Node name -> the port it listens on (known once started)."""
        return {name: s.port for name, s in self._servers.items()}

    @property
    def addresses(self) -> dict[str, tuple[str, int]]:
        """Node name -> (host as configured, port): what a client should connect to."""
        return {name: (s.host, s.port) for name, s in self._servers.items()}

    def effective_cluster(self) -> Cluster:
        """The cluster with the ports actually bound and the known_hosts actually written."""
        nodes = [
            n.model_copy(update={"port": self._servers[n.name].port}) if n.name in self._servers else n
            for n in self.cluster.nodes
        ]
        ssh = self.cluster.ssh.model_copy(update={"known_hosts": str(self.known_hosts)})
        moved = {s.name: s for s in self.services.effective_services()}
        services = [moved.get(s.name, s) for s in self.cluster.services]
        update: dict[str, object] = {"nodes": nodes, "ssh": ssh, "services": services}
        if self.fleet is not None:
            bound = self.fleet.config()
            urls = {p["name"]: p["url"] for p in bound["p2p"]}
            update["p2p"] = [p.model_copy(update={"url": urls.get(p.name, p.url)}) for p in self.cluster.p2p]
            if self.cluster.vast is not None:
                update["vast"] = self.cluster.vast.model_copy(update={"url": bound["vast"]["url"]})
        if self.prometheus is not None and self.prometheus.process is not None and self.cluster.prometheus:
            update["prometheus"] = self.cluster.prometheus.model_copy(update={"url": self.prometheus.url})
        return self.cluster.model_copy(update=update)

    def world(self, name: str) -> NodeWorld:
        return self.worlds[self._known(name)]

    def _known(self, name: str) -> str:
        if name not in self.worlds:
            raise SimError(f"no simulated node named {name!r}")
        return name

    def _server(self, name: str) -> NodeServer:
        self._known(name)
        if name not in self._servers:
            raise SimError(f"simulated node {name!r} is not started (call start() first)")
        return self._servers[name]

    # -- scenario hooks ------------------------------------------------------------------------

    async def set_service(self, name: str, state: str, *, delay: float | None = None) -> None:
        """``ok``, ``down``, ``slow``, ``error`` or ``bad-json``; pins it against its backend's state
        until set back to ``ok``."""
        await self.services.set_state(name, state, delay=delay)
        if state == "ok":
            self._pinned.discard(name)
        else:
            self._pinned.add(name)

    def set_gpu(self, node: str, index: int, **values: float | None) -> None:
        """Pin ``temp``, ``util``, ``power`` or ``mem_used`` of one GPU; ``None`` releases."""
        self.world(node).set_gpu(index, **values)

    def set_disk(self, node: str, mount: str, used_pct: float | None) -> None:
        self.world(node).set_disk(mount, used_pct)

    def set_container(self, node: str, name: str, state: str) -> None:
        """Put a container in ``ok`` / ``crash-loop`` / ``exited`` / ``stopped`` from now on."""
        world = self.world(node)
        if name not in world.services.containers:
            raise SimError(f"node {node!r} runs no container named {name!r}")
        try:
            world.services.set_container(name, state, world.advance())
        except ValueError as exc:
            raise SimError(str(exc)) from None
        world.advance()

    def set_unit(self, node: str, unit: str, state: str) -> None:
        """Put a systemd unit in ``active`` / ``failed`` / ``activating`` (held) / ``inactive``."""
        world = self.world(node)
        if not world.systemd:
            raise SimError(f"node {node!r} does not run systemd")
        try:
            world.services.set_unit(unit, state, world.advance())
        except ValueError as exc:
            raise SimError(str(exc)) from None
        world.advance()

    def set_nvidia_smi(self, node: str, mode: str) -> None:
        """Switch the node's nvidia-smi to ok / missing / driver-error / no-devices."""
        if mode not in NVIDIA_SMI_MODES:
            raise SimError(f"nvidia_smi mode must be one of {', '.join(NVIDIA_SMI_MODES)}, not {mode!r}")
        self.world(node).faults.nvidia_smi = mode

    def set_vllm(self, node: str, **values: float | None) -> None:
        """Pin the node's vLLM ``kv_cache`` (0-1), ``waiting``, ``running``, ``ttft_p95_s`` or
        ``healthy`` (0: the Ray Serve replica is down); ``None`` releases. Seen through Prometheus."""
        self._known(node)
        if node not in self.exporter.inference:
            raise SimError(f"node {node!r} runs no inference server (no GPU process of its own)")
        try:
            self.exporter.set_vllm(node, **values)
        except TypeError as exc:
            raise SimError(str(exc)) from None

    def set_pod(self, name: str, state: str) -> None:
        """Put a pod in ``ok`` / ``crash-loop`` (OOMKilled) / ``cuda-oom`` / ``pending``."""
        try:
            self.kube.set_pod(name, state)
        except ValueError as exc:
            raise SimError(str(exc)) from None

    def slow_command(self, node: str, seconds: float) -> None:
        """Make nvidia-smi on ``node`` wait ``seconds`` before answering (0 to undo)."""
        self.world(node).faults.smi_delay = max(0.0, float(seconds))

    # -- faults --------------------------------------------------------------------------------

    async def stop_node(self, name: str) -> None:
        """The node goes down: its port refuses connections, open sessions drop, and its exporters
        fail their scrapes (``up == 0`` in Prometheus)."""
        await self._server(name).stop()
        self._exporters_down(name, True)

    async def stop_ssh(self, name: str) -> None:
        """Only sshd dies: the node runs on and its exporters still answer Prometheus."""
        await self._server(name).stop()

    async def start_node(self, name: str) -> None:
        """The node comes back on the same port with the same host key."""
        await self._server(name).start()
        self._exporters_down(name, False)

    async def freeze_node(self, name: str) -> None:
        """The node hangs: TCP connects but no SSH banner ever comes; its scrapes fail."""
        await self._server(name).freeze()
        self._exporters_down(name, True)

    async def unfreeze_node(self, name: str) -> None:
        await self._server(name).unfreeze()
        self._exporters_down(name, False)

    def _exporters_down(self, name: str, down: bool) -> None:
        pairs = {(job, name) for job in JOBS}
        if down:
            self.exporter.down |= pairs
        else:
            self.exporter.down -= pairs

    async def rotate_host_key(self, name: str) -> asyncssh.SSHKey:
        """Serve a new host key that known_hosts does not know (to test "host key changed")."""
        key = asyncssh.generate_private_key("ssh-ed25519")
        self._server(name).rotate_host_key(key)
        return key


async def serve_forever(
    cluster: Cluster, *, ready: Callable[[SimCluster], None] | None = None, **options: object
) -> None:
    """Run the simulated cluster until cancelled (``cockpit sim``); ``ready`` is called once up."""
    async with SimCluster(cluster, **options) as sim:  # type: ignore[arg-type]
        if ready is not None:
            ready(sim)
        await asyncio.Event().wait()
