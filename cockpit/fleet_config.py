"""cluster.yaml's rented-fleet sections: P2P orchestrators, the Vast.ai account, energy prices, thresholds.

``cockpit.config`` imports this module near its end (after ``Strict``, ``Name``, ``Secret``, ``Url`` and
``Limit`` exist), so this module imports nothing else of ours. Defaults come from runbook 001
(RingRift), "Key Metrics to Watch":

| Metric         | Normal | Warning | Critical |
| P2P Peers      | > 15   | 10-15   | < 10     |
| Vast Instances | 10-15  | 5-10    | < 5      |
| Selfplay Jobs  | > 500  | 100-500 | < 100    |
| Hourly Cost    | < $8   | $8-12   | > $12    |
| Idle Instances | < 3    | 3-5     | > 5      |

Cost and idle counts are "high is bad" and use :class:`cockpit.config.Limit`. Peers, instances and
selfplay jobs are "low is bad": :class:`Floor` is Limit's mirror image.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

if "cockpit.config" not in sys.modules:
    # Imported before config: config imports this module at its end, and would find it half-built.
    # Step aside so that config loads a complete copy; the import system hands that copy to whoever
    # imported us (importlib supports a module replacing itself in sys.modules).
    _myself = sys.modules.pop(__name__)
    import cockpit.config  # noqa: F401

    sys.modules.setdefault(__name__, _myself)  # a config that does not import us: carry on as we are

from urllib.parse import urlsplit, urlunsplit

from pydantic import Field, field_validator, model_validator
from pydantic_core import PydanticCustomError

from cockpit.config import Limit, Name, Secret, Strict, Url

P2P_DEFAULT_PORT = 8770
"""``DEFAULT_PORT`` of RingRift's ``scripts/p2p_orchestrator.py`` (runbook 001, "Key Components")."""
VAST_DEFAULT_URL = "https://console.vast.ai"
"""``server_url_default`` of the ``vastai`` client (``vastai/api/client.py``)."""


class Floor(Strict):
    """Warning from ``warning`` down, critical below ``critical`` (Limit turned upside down).

    Runbook 001's "P2P Peers: > 15 normal, 10-15 warning, < 10 critical" is ``Floor(warning=15,
    critical=10)``: 15 and 10 warn, 9 is critical, 16 is normal.
    """

    warning: float
    critical: float

    @model_validator(mode="after")
    def _ordered(self) -> Floor:
        if self.warning < self.critical:
            raise PydanticCustomError(
                "bad_value",
                f"warning {self.warning:g} is below critical {self.critical:g} "
                "(expected warning ≥ critical for a minimum)",
            )
        return self


class P2PConfig(Strict):
    """One P2P orchestrator the cockpit polls at ``/health`` and ``/status``.

    A URL without a port gets 8770, the orchestrator's default (``http://100.107.168.125`` means
    ``http://100.107.168.125:8770``).
    """

    name: Name
    url: Url
    node: Name | None = None
    """The cluster node it runs on: that node counts as in the mesh when this orchestrator answers,
    whatever node id it was started with, and the restart action runs there."""
    timeout: float = Field(5.0, gt=0, le=300)
    """Seconds for one poll (``/health`` and ``/status`` together); a large ``/status`` is slow."""

    @field_validator("url")
    @classmethod
    def _default_port(cls, value: str) -> str:
        parts = urlsplit(value)
        try:
            port = parts.port
        except ValueError:
            raise PydanticCustomError("bad_value", f"{value!r} has a bad port (expected 1-65535)") from None
        if port is not None or not parts.hostname:
            return value
        host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
        userinfo = parts.netloc.rpartition("@")[0]
        netloc = f"{userinfo}@{host}:{P2P_DEFAULT_PORT}" if userinfo else f"{host}:{P2P_DEFAULT_PORT}"
        return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))

    @property
    def host_port(self) -> str:
        """``host:port`` as the orchestrator's ``--peers`` option takes it."""
        parts = urlsplit(self.url)
        host = parts.hostname or ""
        shown = f"[{host}]" if ":" in host else host
        return f"{shown}:{parts.port or P2P_DEFAULT_PORT}"


class VastConfig(Strict):
    """The Vast.ai account: REST API base URL and key, as the ``vastai`` client uses them.

    ``url`` is the server root (the client appends ``/api/v0/...``); tests and the demo point it at
    loopback. The key is sent as ``Authorization: Bearer``, never in the URL.
    """

    url: Url = VAST_DEFAULT_URL
    api_key: Secret
    timeout: float = Field(15.0, gt=0, le=300)
    """Seconds for one API call, answer included."""


class CostConfig(Strict):
    """What owned hardware costs to run: its power draw times the price of a kWh."""

    usd_per_kwh: float = Field(ge=0, le=100)
    base_watts_per_node: float = Field(0.0, ge=0, le=100_000)
    """Draw of a node besides its GPUs (CPU, disks, fans, PSU losses), for nodes not listed below."""
    base_watts_by_node: dict[Name, float] = {}
    """Per-node base draw, overriding ``base_watts_per_node``."""
    owned_nodes: list[Name] | None = None
    """Nodes whose energy the cluster pays for; None: every node that is not a rented instance."""
    currency: str = Field("USD", min_length=1, max_length=8)
    """Only a label: Vast.ai prices in USD, so a kWh price in another currency mixes the two."""

    @field_validator("base_watts_by_node")
    @classmethod
    def _watts(cls, value: dict[str, float]) -> dict[str, float]:
        for node, watts in value.items():
            if not 0 <= watts <= 100_000:
                raise PydanticCustomError("bad_value", f"{node}: {watts:g} W is not between 0 and 100000")
        return value

    def base_watts(self, node: str) -> float:
        return self.base_watts_by_node.get(node, self.base_watts_per_node)


class FleetThresholds(Strict):
    """Runbook 001's "Key Metrics to Watch" as defaults; override any of them in cluster.yaml."""

    p2p_peers: Floor = Floor(warning=15, critical=10)
    """Alive peers an orchestrator sees: > 15 normal, 10-15 warning, < 10 critical."""
    selfplay_jobs: Floor = Floor(warning=500, critical=100)
    """Cluster-wide selfplay jobs, when the orchestrators report them."""
    hourly_cost: Limit = Limit(warning=8, critical=12)
    """Total $/h: < 8 normal, 8-12 warning, > 12 critical."""
    idle_instances: Limit = Limit(warning=3, critical=5)
    """Idle rented instances: < 3 normal, 3-5 warning, > 5 critical."""
    running_instances: Floor = Floor(warning=9, critical=5)
    """Running Vast instances: 10-15 normal, 5-9 warning, < 5 critical (the runbook's 5-10 and
    10-15 overlap at 10; 10 is read as normal)."""
    idle_util_pct: float = Field(10.0, ge=0, le=100)
    """A GPU below this utilization is idle (Vast's ``gpu_util``, nvidia-smi's ``utilization.gpu``)."""
    idle_after_s: float = Field(900.0, ge=0, le=7 * 86400)
    """How long an instance must stay idle before it counts (runbook 001's keepalive runs every 15 min)."""
    join_grace_s: float = Field(600.0, ge=0, le=86400)
    """A running instance younger than this is not yet expected in the mesh (it is still booting)."""


def reference_errors(
    node_names: Sequence[str], p2p: Sequence[P2PConfig], cost: CostConfig | None
) -> list[tuple[tuple[str | int, ...], str]]:
    """(location, one line) for every fleet entry naming what does not exist; ``load_cluster`` raises the first."""
    nodes = set(node_names)
    out: list[tuple[tuple[str | int, ...], str]] = []
    seen: dict[str, int] = {}
    for i, entry in enumerate(p2p):
        if entry.name in seen:
            out.append(
                (
                    ("p2p", i, "name"),
                    f"{entry.name!r} is already the name of p2p[{seen[entry.name]}] (expected unique names)",
                )
            )
        seen.setdefault(entry.name, i)
        if entry.node is not None and entry.node not in nodes:
            out.append((("p2p", i, "node"), f"{entry.node!r} is not a node (expected a node's name)"))
    if cost is not None:
        for name in cost.base_watts_by_node:
            if name not in nodes:
                out.append(
                    (("cost", "base_watts_by_node", name), f"{name!r} is not a node (expected a node's name)")
                )
        for i, name in enumerate(cost.owned_nodes or ()):
            if name not in nodes:
                out.append((("cost", "owned_nodes", i), f"{name!r} is not a node (expected a node's name)"))
    return out
