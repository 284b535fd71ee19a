"""cluster.yaml sections for the sources beyond SSH: Prometheus, panels, Kubernetes, local NVML.

Imported by :mod:`cockpit.config` near its end (these models build on its ``Strict`` base and its
field types), so this module imports only :mod:`cockpit.config` of ours, and only what exists before
that import line runs.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import AfterValidator, Field, model_validator
from pydantic_core import PydanticCustomError

from cockpit.config import Limit, Name, Secret, Strict, Url

LABEL_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
DURATION_RE = re.compile(r"^[0-9]+(ms|s|m|h|d)$")
HEADER_RE = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,128}$")
Source = Literal["ssh", "prometheus"]
PreferMetric = Literal["host", "gpus"]


def _label(value: str) -> str:
    if not LABEL_RE.match(value):
        raise PydanticCustomError(
            "bad_value", f"{value!r} is not a Prometheus label name (expected letters, digits, '_')"
        )
    return value


def _duration(value: str) -> str:
    if not DURATION_RE.match(value):
        raise PydanticCustomError(
            "bad_value", f"{value!r} is not a PromQL duration (expected a number and ms, s, m, h or d)"
        )
    return value


def _header(value: str) -> str:
    if not HEADER_RE.match(value):
        raise PydanticCustomError("bad_value", f"{value!r} is not an HTTP header name")
    return value


LabelName = Annotated[str, AfterValidator(_label)]
Duration = Annotated[str, AfterValidator(_duration)]
HeaderName = Annotated[str, AfterValidator(_header)]


class DiscoverConfig(Strict):
    """Nodes found in Prometheus's own targets: every ``up{job=JOB}`` series becomes a node."""

    job: str = Field("node", min_length=1, max_length=200)
    node_label: LabelName | None = None
    """The label that names the node; default: ``prometheus.node_label``."""


class PrometheusConfig(Strict):
    """One Prometheus server that already scrapes node_exporter, dcgm-exporter and vLLM."""

    url: Url
    headers: dict[HeaderName, Secret] = {}
    """Sent with every query (``Authorization: ${env:PROM_TOKEN}``); values are secret references."""
    verify_tls: bool = True
    timeout: float = Field(5.0, gt=0, le=300)
    node_label: LabelName = "instance"
    """The label whose value (without a ``:port``) names a series' node, matched against node names
    and hosts in ``nodes:``."""
    gpu_node_label: LabelName | None = None
    """The same for dcgm-exporter series, when they name their node differently: ``Hostname`` (the
    exporter's own label) or ``node`` on Kubernetes, where ``instance`` is the exporter pod."""
    discover: DiscoverConfig | None = None
    prefer: Source | dict[PreferMetric, Source] = "ssh"
    """Which source wins for a node that has both: one for all, or per metric (``{gpus: prometheus}``).
    The loser still fills in when the winner has nothing (node down, probe failed)."""
    rate_window: Duration = "1m"
    """Window of ``rate()`` for CPU from ``node_cpu_seconds_total`` (at least two scrape intervals)."""
    window_refresh_s: float = Field(15.0, ge=0, le=3600)
    """How often the 5-minute-window signals (TTFT p95, tokens/s, Ray replicas) are re-read."""
    slow_refresh_s: float = Field(60.0, ge=0, le=3600)
    """How often GPU identities, memory totals, power limits and disks are re-read (0: every cycle)."""

    def winner(self, metric: PreferMetric) -> Source:
        if isinstance(self.prefer, str):
            return self.prefer
        return self.prefer.get(metric, "ssh")


class PanelConfig(Strict):
    """A custom PromQL panel; each series of the result is judged against the thresholds."""

    name: Name
    promql: str = Field(min_length=1, max_length=4000)
    unit: str = Field("", max_length=16)
    warning: float | None = None
    critical: float | None = None
    for_s: float = Field(0.0, ge=0, le=86400)
    """How long a value must stay past a threshold before it counts (PromQL's ``for:``)."""
    below: bool = False
    """Alert when the value drops *below* the thresholds (free memory, healthy replicas)."""

    @model_validator(mode="after")
    def _ordered(self) -> PanelConfig:
        if self.warning is not None and self.critical is not None:
            worse = self.warning < self.critical if self.below else self.warning > self.critical
            if worse:
                raise PydanticCustomError(
                    "bad_value",
                    f"warning {self.warning:g} is past critical {self.critical:g} "
                    "(expected warning before critical)",
                )
        return self

    @property
    def limit(self) -> Limit | None:
        """As a :class:`Limit` when both thresholds are set and the panel alerts above them."""
        if self.warning is None or self.critical is None or self.below:
            return None
        return Limit(warning=self.warning, critical=self.critical)


class KubeConfig(Strict):
    """Pods from ``kubectl get pods -o json``: on a node over SSH, or here with a kubeconfig."""

    via_node: Name | None = None
    """Run kubectl on this node (a control-plane node with a working kubeconfig)."""
    kubeconfig: str | None = None
    """Local kubeconfig path (``~`` expanded); with ``via_node`` it is a path on that node."""
    namespace: str | None = Field(None, pattern=r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
    """One namespace; None lists all namespaces."""
    context: str | None = Field(None, min_length=1, max_length=253, pattern=r"^[^\s'\"]+$")
    log_lines: int = Field(200, ge=0, le=10000)
    """Lines of each GPU pod's log scanned for 'CUDA out of memory' (0: do not read logs)."""
    timeout: float = Field(10.0, gt=0, le=300)


class NvmlConfig(Strict):
    """Read this machine's GPUs through NVML and show them as node ``node``."""

    node: Name
