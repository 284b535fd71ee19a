"""cluster.yaml -> a validated, frozen :class:`Cluster`.

Every error is one line, ``PATH:LINE:COL: field.path: what is wrong (what was expected)``, because an
operator reading it at 3 a.m. must be able to fix the file without reading our code.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Annotated, Any, Literal

from platformdirs import user_cache_dir, user_config_dir
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    model_validator,
)
from pydantic_core import PydanticCustomError

from cockpit.config_messages import describe_errors
from cockpit.secrets import SecretRef, is_secret_like
from cockpit.yaml_source import ConfigError, Loc, Positioned, load_yaml

APP_NAME = "gpu-cockpit"
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$")
HOST_RE = re.compile(r"^[A-Za-z0-9_.:%\[\]-]{1,253}$")
USER_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9._-]{0,31}\$?$")
UNIT_RE = re.compile(r"^[A-Za-z0-9:_.@\\-]{1,255}$")
BINDING_ID_RE = re.compile(r"^[a-z][a-z_]*\.[a-z][a-z_]*$")
JUMP_SPEC_RE = re.compile(
    r"^(?:(?P<user>[^@\s]+)@)?(?P<host>[^@:\s\[\]]+|\[[0-9A-Fa-f:.]+\])(?::(?P<port>\d{1,5}))?$"
)


def _matching(pattern: re.Pattern[str], what: str, expected: str):
    def check(value: str) -> str:
        if not pattern.match(value):
            raise PydanticCustomError("bad_value", f"{value!r} is not a valid {what} (expected {expected})")
        return value

    return AfterValidator(check)


def _not_bool(value: Any) -> Any:
    """YAML reads ``port: yes`` as ``True``, which pydantic would quietly turn into port 1."""
    if isinstance(value, bool):
        raise PydanticCustomError("int_type", "a boolean is not a number")
    return value


def _secret(value: Any) -> SecretRef:
    if isinstance(value, SecretRef):
        return value
    ref = SecretRef.parse(value) if isinstance(value, str) else None
    if ref is None:
        raise PydanticCustomError(
            "literal_secret",
            "a literal secret is not allowed here (expected ${env:VAR} or ${file:PATH})",
        )
    return ref


NAME_RULE = "letters, digits, '.', '_' or '-', at most 63, starting with a letter or digit"
Name = Annotated[str, _matching(NAME_RE, "name", NAME_RULE)]
HostName = Annotated[
    str, _matching(HOST_RE, "host name or address", "a DNS name or an IP address, no spaces")
]
UserName = Annotated[
    str, _matching(USER_RE, "user name", "a login name such as ubuntu: letters, digits, '.', '_' or '-'")
]
UnitName = Annotated[str, _matching(UNIT_RE, "systemd unit name", "a unit such as ollama or nginx.service")]
Port = Annotated[int, BeforeValidator(_not_bool), Field(ge=1, le=65535)]
Secret = Annotated[SecretRef, BeforeValidator(_secret)]
Probe = Literal["host", "gpus", "containers"]
ServiceKind = Literal[
    "http", "tabbyapi", "ollama", "litellm", "grafana", "prometheus", "open-webui", "triton", "dns"
]
URL_RE = re.compile(r"^https?://[^\s/?#]+(?:[/?#]\S*)?$")
Url = Annotated[str, _matching(URL_RE, "URL", "http://host:port/path")]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, arbitrary_types_allowed=True)


class SshDefaults(Strict):
    """Defaults for every node; a node's own fields win, then ``~/.ssh/config``."""

    user: UserName | None = None
    port: Port | None = None
    identity_file: str | list[str] | None = None
    passphrase: Secret | None = None
    known_hosts: str = "~/.ssh/known_hosts"
    host_key_policy: Literal["strict", "accept-new"] = "strict"
    config_file: str | None = "~/.ssh/config"
    agent: bool = True
    connect_timeout: float = Field(5.0, gt=0, le=300)
    command_timeout: float = Field(10.0, gt=0, le=3600)
    max_concurrency: int = Field(64, ge=1, le=4096)
    reconnect_max: float | None = Field(None, gt=0, le=3600)


class SimDisk(Strict):
    mount: str
    size_gib: float = Field(gt=0)
    used_pct: float = Field(ge=0, le=100)


class SimContainer(Strict):
    """A container the demo plays on a node: what ``docker ps`` lists and how it behaves."""

    name: Name
    image: str = Field(min_length=1)
    project: Name | None = None
    """The compose project it belongs to (``com.docker.compose.project``), if any."""
    state: Literal["ok", "crash-loop", "exited", "stopped"] = "ok"
    """ok: up; crash-loop: dies every few seconds and docker restarts it; exited: died on its own;
    stopped: stopped by an operator."""
    gpu: int | None = Field(None, ge=0)
    """Index of the GPU its main process holds a CUDA context on, if any."""
    gpu_mem_mib: int = Field(1500, ge=1)
    ports: list[Port] = []
    """Host ports published to the same container port (tcp, IPv4 and IPv6)."""


class SimNode(Strict):
    """How the demo simulator plays this node; ignored by the real cockpit."""

    gpus: list[str] | None = None
    cpus: int = Field(16, ge=1, le=1024)
    mem_gib: float = Field(64, gt=0)
    disks: list[SimDisk] | None = None
    nvidia_smi: Literal["ok", "missing", "driver-error", "no-devices"] = "ok"
    busy: float = Field(0.5, ge=0, le=1)
    containers: list[SimContainer] | None = None
    """None: the demo's usual containers for a node of this name (and no docker on other nodes);
    a list, even empty, installs docker with exactly these."""
    units: dict[UnitName, Literal["active", "failed", "activating", "inactive"]] = {}
    """Starting state of systemd units; units listed in the node's ``units:`` default to active."""


class NodeConfig(Strict):
    name: Name
    host: HostName
    port: Port | None = None
    user: UserName | None = None
    jump: str | None = None
    tags: list[Name] = []
    gpu_model: str | None = None
    probes: list[Probe] = ["host", "gpus", "containers"]
    """A node without docker (or nvidia-smi) simply shows none; drop a probe to skip its cost."""
    units: list[UnitName] = []
    stacks: dict[Name, str] = {}
    """Compose project -> the directory of its compose file on the node (for "compose restart")."""
    sim: SimNode | None = None


class Limit(Strict):
    """Warning from ``warning`` up, critical above ``critical`` (the runbooks' "> 80")."""

    warning: float
    critical: float

    @model_validator(mode="after")
    def _ordered(self) -> Limit:
        if self.warning > self.critical:
            raise PydanticCustomError(
                "bad_value",
                f"warning {self.warning:g} is above critical {self.critical:g} (expected warning ≤ critical)",
            )
        return self


class LimitOverrides(Strict):
    """Per tag or per GPU model: only the metrics given change."""

    cpu: Limit | None = None
    ram: Limit | None = None
    disk: Limit | None = None
    gpu_temp: Limit | None = None
    gpu_power: Limit | None = None
    latency: Limit | None = None


class Thresholds(Strict):
    """Defaults are runbook 000's "Normal Operating Ranges"; override per metric, tag or model."""

    cpu: Limit = Limit(warning=60, critical=80)
    ram: Limit = Limit(warning=70, critical=85)
    disk: Limit = Limit(warning=80, critical=90)
    gpu_temp: Limit = Limit(warning=70, critical=80)
    latency: Limit = Limit(warning=2, critical=5)
    """Inference (service) response time in seconds."""
    gpu_power_of_limit: Limit = Limit(warning=90, critical=97)
    """For GPU models without their own power limits: percent of the card's power limit."""
    by_model: dict[str, LimitOverrides] = {
        "RTX 5090": LimitOverrides(gpu_power=Limit(warning=400, critical=450)),
        "RTX 4090": LimitOverrides(gpu_power=Limit(warning=280, critical=300)),
    }
    """Keys match GPU names as nvidia-smi prints them, by substring ("RTX 5090")."""
    by_tag: dict[str, LimitOverrides] = {}
    hold_s: float = Field(10.0, ge=0, le=3600)
    """How long a value must stay past a threshold before the alert fires (no flapping)."""
    clear_margin_pct: float = Field(3.0, ge=0, le=50)
    """An alert clears only when the value is this much (percent of the threshold) back below it."""


class Expect(Strict):
    """What a healthy answer looks like; a service's ``kind`` supplies the runbook's default."""

    status: list[int] | int = 200
    json_path: str | None = None
    """Dotted path into the JSON body (``data.0.id``) that must exist and be non-empty."""
    equals: str | int | float | bool | None = None
    """If given, the value at ``json_path`` must equal this."""
    min_items: int | None = Field(None, ge=0)
    """If given, the value at ``json_path`` must be a list or object with at least this many items."""
    max_latency_s: float | None = Field(None, gt=0)


class SimService(Strict):
    """How the demo plays a service's state: healthy, down (refused), slow, erroring, or wrong."""

    state: Literal["ok", "down", "slow", "error", "bad-json"] = "ok"


class ServiceConfig(Strict):
    """An HTTP endpoint probed every cycle (runbook 000's "Critical Service Ports")."""

    name: Name
    url: Url
    kind: ServiceKind = "http"
    node: Name | None = None
    """The node it runs on, so its alerts and actions (restart the unit) land there."""
    unit: UnitName | None = None
    container: str | None = None
    expect: Expect | None = None
    timeout: float = Field(5.0, gt=0, le=300)
    depends_on: list[Name] = []
    sim: SimService | None = None
    """How the demo plays it; ignored by the real cockpit."""


class SimCluster(Strict):
    seed: int = 1


from cockpit.actions.schema import ActionConfig  # noqa: E402  (it builds on Strict and Name above)
from cockpit.fleet_config import CostConfig, FleetThresholds, P2PConfig, VastConfig  # noqa: E402
from cockpit.prom_config import KubeConfig, NvmlConfig, PanelConfig, PrometheusConfig  # noqa: E402


class Cluster(Strict):
    cluster: Name
    refresh: float = Field(2.0, ge=1, le=3600)
    workload_refresh: float = Field(6.0, ge=1, le=3600)
    """Seconds between reads of containers, units and GPU processes (they change slowly; an
    action's node is re-read at once when the action ends)."""
    ssh: SshDefaults = SshDefaults()
    nodes: list[NodeConfig] = []
    """At least one, unless ``prometheus.discover`` finds them."""
    thresholds: Thresholds = Thresholds()
    services: list[ServiceConfig] = []
    p2p: list[P2PConfig] = []
    """P2P mesh orchestrators to poll (runbook 001)."""
    vast: VastConfig | None = None
    cost: CostConfig | None = None
    fleet_thresholds: FleetThresholds = FleetThresholds()
    prometheus: PrometheusConfig | None = None
    """Read nodes and GPUs from Prometheus (node_exporter, DCGM): the path past hundreds of nodes."""
    panels: list[PanelConfig] = []
    kube: KubeConfig | None = None
    nvml: NvmlConfig | None = None
    actions: list[ActionConfig] = []
    """Runbook remediations added to (or, with ``override: true``, replacing) the built-ins."""
    read_only: bool = False
    """Hide every action that is not safe, and refuse one invoked any other way."""
    keys: dict[Annotated[str, _matching(BINDING_ID_RE, "binding id", "an id such as app.quit")], str] = {}
    """Binding id -> key(s), e.g. ``app.quit: ctrl+q`` or ``dashboard.gpus: g,f2`` (see ``?``)."""
    sim: SimCluster | None = None
    source: str = Field("<memory>", exclude=True)

    def node(self, name: str) -> NodeConfig:
        for node in self.nodes:
            if node.name == name:
                return node
        raise KeyError(name)

    @property
    def reconnect_max(self) -> float:
        return self.ssh.reconnect_max or self.refresh


def expand_path(text: str) -> Path:
    """``~`` and ``{cache}`` (the cockpit's cache dir, where the demo keeps its keys)."""
    return Path(text.replace("{cache}", cache_dir())).expanduser()


def cache_dir() -> str:
    return user_cache_dir(APP_NAME)


def _check_literal_secrets(doc: Positioned, value: Any, loc: Loc) -> None:
    """Reject ``token: abc123`` anywhere, without echoing the value."""
    if isinstance(value, dict):
        for key, child in value.items():
            if (
                is_secret_like(key)
                and isinstance(child, str | int | float)
                and not (isinstance(child, str) and SecretRef.parse(child))
            ):
                raise doc.error(
                    (*loc, key),
                    "a literal secret is not allowed in a config file (expected ${env:VAR} or ${file:PATH})",
                )
            _check_literal_secrets(doc, child, (*loc, key))
    elif isinstance(value, list):
        for i, child in enumerate(value):
            _check_literal_secrets(doc, child, (*loc, i))


def _check_references(doc: Positioned, cluster: Cluster) -> None:
    names: dict[str, int] = {}
    for i, node in enumerate(cluster.nodes):
        if node.name in names:
            raise doc.error(
                ("nodes", i, "name"),
                f"{node.name!r} is already the name of nodes[{names[node.name]}] (expected unique names)",
            )
        names[node.name] = i
    for i, node in enumerate(cluster.nodes):
        if node.jump is None:
            continue
        if node.jump in names:
            if node.jump == node.name:
                raise doc.error(
                    ("nodes", i, "jump"),
                    "a node cannot be its own jump host (expected another node's name or user@host:port)",
                )
            continue
        spec = JUMP_SPEC_RE.match(node.jump)
        if not spec or not ("@" in node.jump or ":" in node.jump):
            raise doc.error(
                ("nodes", i, "jump"),
                f"{node.jump!r} is not a node name (expected a node name or user@host:port)",
            )
        if spec.group("port") is not None and not 1 <= int(spec.group("port")) <= 65535:
            raise doc.error(
                ("nodes", i, "jump"),
                f"{node.jump!r} has port {spec.group('port')} (expected a port from 1 to 65535)",
            )
    for i, node in enumerate(cluster.nodes):
        chain = [node.name]
        hop = node.jump
        while hop in names:
            if hop in chain:
                route = " -> ".join([*chain, hop])
                raise doc.error(
                    ("nodes", i, "jump"),
                    f"jump hosts form a loop: {route} (expected a chain that ends at a node without jump)",
                )
            chain.append(hop)
            hop = cluster.nodes[names[hop]].jump


def _check_services(doc: Positioned, cluster: Cluster) -> None:
    nodes = {node.name for node in cluster.nodes}
    seen: dict[str, int] = {}
    for i, service in enumerate(cluster.services):
        if service.name in seen:
            raise doc.error(
                ("services", i, "name"),
                f"{service.name!r} is already the name of services[{seen[service.name]}] (expected unique names)",
            )
        seen[service.name] = i
        if service.node is not None and service.node not in nodes:
            raise doc.error(
                ("services", i, "node"), f"{service.node!r} is not a node (expected a node's name)"
            )
    for i, service in enumerate(cluster.services):
        for j, dep in enumerate(service.depends_on):
            if dep not in seen:
                raise doc.error(
                    ("services", i, "depends_on", j), f"{dep!r} is not a service (expected a service's name)"
                )
    graph = {s.name: s.depends_on for s in cluster.services}
    for i, service in enumerate(cluster.services):
        path = _dependency_loop(graph, service.name, [])
        if path:
            raise doc.error(
                ("services", i, "depends_on"),
                f"dependencies form a loop: {' -> '.join(path)} (expected a graph without cycles)",
            )


def _dependency_loop(graph: dict[str, list[str]], name: str, path: list[str]) -> list[str] | None:
    if name in path:
        return [*path[path.index(name) :], name]
    for dep in graph.get(name, ()):
        loop = _dependency_loop(graph, dep, [*path, name])
        if loop:
            return loop
    return None


def _check_actions(doc: Positioned, cluster: Cluster) -> None:
    from cockpit.actions.catalog import ActionConflict, merge  # catalog imports this module

    try:
        merge(cluster.actions)
    except ActionConflict as exc:
        raise doc.error(exc.loc, exc.message) from None


def load_cluster(path: str | os.PathLike[str]) -> Cluster:
    """Load and validate; raises :class:`ConfigError` with one line on any problem."""
    doc = load_yaml(Path(path))
    _check_literal_secrets(doc, doc.data, ())
    try:
        cluster = Cluster.model_validate({**doc.data, "source": str(path)})
    except ValidationError as exc:
        errors = exc.errors(include_url=False)
        loc, message = describe_errors(errors, Cluster, doc.data)
        unknown = any(e["type"] == "extra_forbidden" for e in errors[:1])
        raise doc.error(loc, message, at_key=unknown) from None
    if not cluster.nodes and not (cluster.prometheus and cluster.prometheus.discover):
        if "nodes" not in doc.data:
            raise doc.error(
                ("nodes",), "required field is missing (expected nodes: at the top level)", at_key=True
            )
        raise doc.error(("nodes",), "the list is empty (expected at least 1 item, or prometheus.discover)")
    _check_references(doc, cluster)
    _check_services(doc, cluster)
    _check_actions(doc, cluster)
    from cockpit.fleet_config import reference_errors

    for loc, message in reference_errors([n.name for n in cluster.nodes], cluster.p2p, cluster.cost)[:1]:
        raise doc.error(loc, message)
    return cluster


def find_config(explicit: str | None) -> Path:
    """``--config``, then ``$COCKPIT_CONFIG``, then ``./cluster.yaml``, then the XDG config dir."""
    if explicit:
        return Path(explicit)
    env = os.environ.get("COCKPIT_CONFIG")
    if env:
        return Path(env)
    here = Path("cluster.yaml")
    if here.is_file():
        return here
    xdg = Path(user_config_dir(APP_NAME)) / "cluster.yaml"
    if xdg.is_file():
        return xdg
    raise ConfigError(
        f"no config found: pass --config, set COCKPIT_CONFIG, or create ./cluster.yaml or {xdg}"
    )
