"""What the simulated nodes run: container and unit definitions, and the demo's defaults.

A container's spec holds what ``docker run``/compose fixed when it was created (image, command,
ports, mounts, labels); its runtime state lives in :mod:`cockpit.sim.services_world`. The demo
cluster (runbook 000) runs the Hydra compose stack on hydra-storage and Open WebUI on hydra-ai; a
node whose ``sim.containers`` is given runs exactly those instead.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from cockpit.config import NodeConfig, SimContainer

COMPOSE_VERSION = "2.29.7"
APPDATA = "/mnt/user/appdata"


@dataclass(frozen=True, slots=True)
class ContainerSpec:
    """One container as created: ``app`` picks the log profile, ``proc`` the name nvidia-smi shows."""

    name: str
    image: str
    command: str
    project: str | None = None
    service: str | None = None
    ports: tuple[tuple[int, int], ...] = ()
    """(host, container) tcp ports published on 0.0.0.0 and [::]."""
    exposed: tuple[int, ...] = ()
    """Ports the image exposes without publishing them."""
    volumes: tuple[tuple[str, str], ...] = ()
    """(named volume, container path)."""
    binds: tuple[tuple[str, str], ...] = ()
    """(host path, container path)."""
    gpu: int | None = None
    gpu_mib: int = 0
    app: str = ""
    proc: str = "python3"
    healthcheck: bool = False
    image_labels: tuple[tuple[str, str], ...] = ()
    env: tuple[str, ...] = ()
    depends_on: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class UnitSpec:
    """A systemd service as its unit file declares it."""

    description: str
    exec_start: str
    notify: bool = True
    """Type=notify units spend a while "activating (start)" before they are active."""
    restart: str = "on-failure"
    identifier: str = ""
    app: str = ""


@dataclass(frozen=True, slots=True)
class NodeServices:
    """Containers and units a node starts with; ``docker`` False means the binary is missing."""

    docker: bool
    containers: tuple[ContainerSpec, ...] = ()
    units: dict[str, str] = field(default_factory=dict)
    """Unit id (``x.service``) -> starting state."""
    states: dict[str, str] = field(default_factory=dict)
    """Container name -> starting state from cluster.yaml (ok when absent)."""


def _stack(service: str, **kw: object) -> ContainerSpec:
    """A container of the hydra-stack compose project (container_name set to the service)."""
    return ContainerSpec(name=service, project="hydra-stack", service=service, app=service, **kw)  # type: ignore[arg-type]


HYDRA_STACK = (
    _stack("postgres", image="postgres:16-alpine", command="docker-entrypoint.sh postgres",
           exposed=(5432,), volumes=(("hydra-stack_pgdata", "/var/lib/postgresql/data"),),
           healthcheck=True, proc="postgres", env=("POSTGRES_DB=litellm", "POSTGRES_USER=litellm")),
    _stack("redis", image="redis:7-alpine", command="docker-entrypoint.sh redis-server --appendonly yes",
           exposed=(6379,), volumes=(("hydra-stack_redis-data", "/data"),), proc="redis-server"),
    _stack("qdrant", image="qdrant/qdrant:v1.12.1", command="./entrypoint.sh",
           ports=((6333, 6333), (6334, 6334)), binds=((f"{APPDATA}/hydra-stack/qdrant", "/qdrant/storage"),),
           proc="qdrant"),
    _stack("prometheus", image="prom/prometheus:v2.55.0",
           command="/bin/prometheus --config.file=/etc/prometheus/prometheus.yml "
           "--storage.tsdb.path=/prometheus --storage.tsdb.retention.time=30d",
           ports=((9090, 9090),), volumes=(("hydra-stack_prometheus-data", "/prometheus"),),
           binds=((f"{APPDATA}/hydra-stack/prometheus.yml", "/etc/prometheus/prometheus.yml"),),
           proc="prometheus"),
    _stack("litellm", image="ghcr.io/berriai/litellm:main-v1.52.0",
           command="docker/prod_entrypoint.sh --port 4000 --config /app/config.yaml",
           ports=((4000, 4000),), binds=((f"{APPDATA}/hydra-stack/litellm/config.yaml", "/app/config.yaml"),),
           healthcheck=True, depends_on=("postgres", "redis"),
           env=("DATABASE_URL=postgresql://litellm@postgres:5432/litellm", "STORE_MODEL_IN_DB=True")),
    _stack("grafana", image="grafana/grafana:11.3.0", command="/run.sh", ports=((3003, 3000),),
           volumes=(("hydra-stack_grafana-data", "/var/lib/grafana"),), proc="grafana",
           depends_on=("prometheus",), image_labels=(("maintainer", "Grafana Labs <hello@grafana.com>"),)),
)  # fmt: skip
OPEN_WEBUI = ContainerSpec(
    name="open-webui", image="ghcr.io/open-webui/open-webui:cuda", command="bash start.sh",
    ports=((3000, 8080),), volumes=(("open-webui", "/app/backend/data"),), gpu=0, gpu_mib=1462,
    app="open-webui", healthcheck=True, env=("OLLAMA_BASE_URL=http://192.168.1.203:11434",),
    image_labels=(("org.opencontainers.image.source", "https://github.com/open-webui/open-webui"),
                  ("org.opencontainers.image.title", "open-webui")),
)  # fmt: skip
DEMO_CONTAINERS: dict[str, tuple[ContainerSpec, ...]] = {
    "hydra-storage": HYDRA_STACK,
    "hydra-ai": (OPEN_WEBUI,),
    "lambda-h100": (),
}
"""The demo's containers by node name; a node not named here has no docker unless configured."""

UNITS: dict[str, UnitSpec] = {
    "tabbyapi": UnitSpec(
        "TabbyAPI inference server",
        "/nix/store/5kgqnb3vhzmc0d5hxy6jcw8xq2vbfm8a-python3-3.12.7-env/bin/python3 /var/lib/tabbyapi/main.py",
        identifier="tabbyapi", app="tabbyapi",
    ),
    "ollama": UnitSpec(
        "Server for local large language models",
        "/nix/store/wq7vl0kd5ax8d2jrvh0i9x4sfn5q8y3c-ollama-0.5.7/bin/ollama serve",
        notify=False, restart="always", identifier="ollama", app="ollama",
    ),
    "vllm": UnitSpec("vLLM OpenAI-compatible server", "/opt/vllm/bin/vllm serve", identifier="vllm", app="tabbyapi"),
    "sshd": UnitSpec("SSH Daemon", "/nix/store/0m5gbf0nb5ikkc9yb8xq1xkb1lr0f9pw-openssh-9.9p1/bin/sshd -D -f /etc/ssh/sshd_config",
                     notify=False, restart="always", identifier="sshd", app="sshd"),
    "ssh": UnitSpec("OpenBSD Secure Shell server", "/usr/sbin/sshd -D", identifier="sshd", app="sshd"),
    "docker": UnitSpec("Docker Application Container Engine",
                       "/usr/bin/dockerd -H fd:// --containerd=/run/containerd/containerd.sock",
                       restart="always", identifier="dockerd", app="dockerd"),
}  # fmt: skip


def unit_spec(unit_id: str) -> UnitSpec:
    """The spec of ``name.service``; an unknown unit is a plain service named after itself."""
    base = unit_id.removesuffix(".service")
    return UNITS.get(base) or UnitSpec(f"{base}", f"/usr/bin/{base}", notify=False, identifier=base, app=base)


def unit_id(name: str) -> str:
    """systemctl's name mangling for the names we accept: no suffix means ``.service``."""
    return name if "." in name.rsplit("/", 1)[-1] else f"{name}.service"


def from_config(c: SimContainer) -> ContainerSpec:
    """A spec for a container written in cluster.yaml; known images get their usual command."""
    known = {s.image.split(":")[0]: s for s in (*HYDRA_STACK, OPEN_WEBUI)}
    base = known.get(c.image.split(":")[0])
    return ContainerSpec(
        name=c.name, image=c.image, command=base.command if base else "/docker-entrypoint.sh",
        project=c.project, service=c.name if c.project else None,
        ports=tuple((p, p) for p in c.ports), gpu=c.gpu, gpu_mib=c.gpu_mem_mib if c.gpu is not None else 0,
        app=base.app if base else c.name.split("-")[0], proc=base.proc if base else "python3",
        healthcheck=base.healthcheck if base else False,
    )  # fmt: skip


def node_services(node: NodeConfig, is_systemd: bool) -> NodeServices:
    """What ``node`` runs when the simulator starts, from its config or the demo's defaults."""
    sim = node.sim
    configured = sim.containers if sim is not None else None
    if configured is not None:
        containers = tuple(from_config(c) for c in configured)
        states = {c.name: c.state for c in configured}
    else:
        containers = DEMO_CONTAINERS.get(node.name, ())
        states = {}
    docker = configured is not None or node.name in DEMO_CONTAINERS
    units: dict[str, str] = {}
    if is_systemd:
        units["sshd.service" if "nixos" in node.tags else "ssh.service"] = "active"
        if docker:
            units["docker.service"] = "active"
        units.update({unit_id(u): "active" for u in node.units})
        units.update({unit_id(u): s for u, s in (sim.units if sim else {}).items()})
    return NodeServices(docker, containers, units, states)
