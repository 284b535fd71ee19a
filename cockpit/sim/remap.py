"""Any cluster.yaml, played on loopback: what lets ``cockpit demo --config examples/X.yaml`` drill
a runbook's real system without touching it.

Every node becomes 127.0.0.1 on a port the OS picks, and so does every HTTP endpoint (services,
P2P orchestrators, the cloud API, Prometheus). Names, users, tags, units, thresholds, panels and
actions stay as written, so the cockpit shows the real system's shape. Credentials are dropped: the
simulator needs none, and a demo must never read the operator's real keys, agent or Prometheus
token. Sources that would read this machine instead of the simulator go: ``kube`` without a
``via_node`` (it would run the operator's own kubectl against their real cluster) and ``nvml``.
"""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

from cockpit.config import Cluster, SecretRef

LOOPBACK = "127.0.0.1"
DEMO_KEY_ENV = "COCKPIT_DEMO_VAST_KEY"
DEMO_KEY = SecretRef("env", DEMO_KEY_ENV)
"""The demo's cloud API takes the simulator's key, set in this variable by the demo itself."""


def needs_remap(cluster: Cluster) -> bool:
    urls = [s.url for s in cluster.services] + [p.url for p in cluster.p2p]
    if cluster.vast is not None:
        urls.append(cluster.vast.url)
    if cluster.prometheus is not None:
        urls.append(cluster.prometheus.url)
    hosts = [n.host for n in cluster.nodes] + [urlsplit(u).hostname or "" for u in urls]
    return any(not _is_loopback(h) for h in hosts)


def _is_loopback(host: str) -> bool:
    return host in ("localhost", "::1", "[::1]") or host.startswith("127.")


def _url(url: str) -> str:
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return urlunsplit(("http", f"{LOOPBACK}:{port}", parts.path, parts.query, parts.fragment))


def on_loopback(cluster: Cluster) -> Cluster:
    """The same cluster with every address on loopback (ports are picked when the demo starts)."""
    names = {n.name for n in cluster.nodes}
    nodes = [
        n.model_copy(update={"host": LOOPBACK, "port": 1, "jump": n.jump if n.jump in names else None})
        for n in cluster.nodes
    ]
    ssh = cluster.ssh.model_copy(
        update={
            "identity_file": None,
            "passphrase": None,
            "agent": False,
            "config_file": None,
            "port": None,
            # Never the operator's own known_hosts: the demo's keys go in its own file.
            "known_hosts": f"{{cache}}/demo/{cluster.cluster}/known_hosts",
            "host_key_policy": "strict",
        }
    )
    update: dict[str, object] = {
        "nodes": nodes,
        "ssh": ssh,
        "services": [s.model_copy(update={"url": _url(s.url)}) for s in cluster.services],
        "p2p": [p.model_copy(update={"url": _url(p.url)}) for p in cluster.p2p],
    }
    if cluster.vast is not None:
        update["vast"] = cluster.vast.model_copy(update={"url": _url(cluster.vast.url), "api_key": DEMO_KEY})
    if cluster.prometheus is not None:
        prom = cluster.prometheus
        update["prometheus"] = prom.model_copy(
            update={"url": _url(prom.url), "headers": {}, "verify_tls": True}
        )
    if cluster.kube is not None and cluster.kube.via_node not in names:
        update["kube"] = None
    update["nvml"] = None
    return cluster.model_copy(update=update)
