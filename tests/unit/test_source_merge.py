"""A node read by both SSH and Prometheus: ``prometheus.prefer`` picks per metric, the loser fills in."""

from __future__ import annotations

from cockpit.config import PrometheusConfig
from cockpit.model import GpuReading, HostReading, NodeStatus
from cockpit.source_merge import merge_node
from cockpit.sources.prom_model import PromNode, Target
from cockpit.state import NodeState

SSH_HOST = HostReading(load1=1.0)
SSH_GPUS = (GpuReading(index=0, temp_c=60.0),)
PROM_HOST = HostReading(load1=2.0)
PROM_GPUS = (GpuReading(index=0, temp_c=70.0), GpuReading(index=1, temp_c=71.0))
PROM = PromNode("gpu-a", targets=(Target("node", "gpu-a:9100", True),), host=PROM_HOST, gpus=PROM_GPUS)


def config(prefer: object = "ssh") -> PrometheusConfig:
    return PrometheusConfig(url="http://127.0.0.1:9090", prefer=prefer)  # type: ignore[arg-type]


def ssh_up(**changes: object) -> NodeState:
    base = NodeState("gpu-a", NodeStatus.UP, last_ok=5.0, host=SSH_HOST, gpus=SSH_GPUS)
    return NodeState(**{**{f: getattr(base, f) for f in base.__slots__}, **changes})  # type: ignore[arg-type]


def test_ssh_wins_by_default_and_prometheus_per_metric_when_configured() -> None:
    assert merge_node(ssh_up(), PROM, 9.0, config()) == ssh_up()
    gpus_from_prom = merge_node(ssh_up(), PROM, 9.0, config({"gpus": "prometheus"}))
    assert gpus_from_prom.gpus == PROM_GPUS and gpus_from_prom.host == SSH_HOST
    host_from_prom = merge_node(ssh_up(), PROM, 9.0, config({"host": "prometheus"}))
    assert host_from_prom.host == PROM_HOST and host_from_prom.gpus == SSH_GPUS
    everything = merge_node(ssh_up(), PROM, 9.0, config("prometheus"))
    assert (everything.host, everything.gpus, everything.status) == (PROM_HOST, PROM_GPUS, NodeStatus.UP)


def test_the_loser_fills_in_when_the_winner_has_nothing() -> None:
    hung = ssh_up(gpus=(), gpu_error="nvidia-smi timed out")
    filled = merge_node(hung, PROM, 9.0, config())
    assert filled.gpus == PROM_GPUS and filled.gpu_error is None
    no_dcgm = PromNode("gpu-a", targets=PROM.targets, host=PROM_HOST, gpus=None)
    kept = merge_node(ssh_up(), no_dcgm, 9.0, config("prometheus"))
    assert kept.gpus == SSH_GPUS and kept.host == PROM_HOST


def test_unreachable_over_ssh_but_exporting_is_up_with_an_ssh_warning() -> None:
    down = NodeState("gpu-a", NodeStatus.DOWN, error="connection refused", last_ok=1.0)
    merged = merge_node(down, PROM, 9.0, config())
    assert merged.status is NodeStatus.UP and merged.error is None and merged.last_ok == 9.0
    assert (merged.host, merged.gpus) == (PROM_HOST, PROM_GPUS)
    assert merged.probe_errors == ("ssh: connection refused (readings from Prometheus)",)


def test_down_in_both_or_unknown_to_prometheus_stays_as_ssh_says() -> None:
    down = NodeState("gpu-a", NodeStatus.DOWN, error="connection refused")
    scrape_failed = PromNode("gpu-a", targets=(Target("node", "gpu-a:9100", False),), host=PROM_HOST)
    assert merge_node(down, scrape_failed, 9.0, config()) is down
    assert merge_node(down, None, 9.0, config()) is down
    assert merge_node(down, PromNode("gpu-a"), 9.0, config()) is down


def test_discovered_nodes_are_listed_by_name_and_built_once_per_set() -> None:
    from cockpit.config import Cluster
    from cockpit.scale_reader import ScaleReader
    from cockpit.sources.prom_model import PromReading

    cluster = Cluster.model_validate(
        {
            "cluster": "c",
            "nodes": [],
            "prometheus": {"url": "http://127.0.0.1:9", "discover": {"job": "node"}},
        }
    )
    reader = ScaleReader(cluster)
    found = [PromNode(name, discovered=True) for name in ("node-0029", "node-0003", "bad name!", "node-0100")]
    reader.reading = PromReading(at=1.0, nodes=tuple(found))
    first = reader.discovered()
    assert [n.name for n in first] == ["node-0003", "node-0029", "node-0100"]
    reader.reading = PromReading(at=2.0, nodes=tuple(found))
    assert reader.discovered() is first
