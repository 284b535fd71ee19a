"""Alert rules as tables: value sequences in, alerts out, with hold and hysteresis."""

from __future__ import annotations

import pytest

from cockpit.alerts import AlertTracker, findings
from cockpit.config import Cluster, Limit, LimitOverrides, Thresholds
from cockpit.model import Disk, GpuReading, HostReading, NodeStatus
from cockpit.state import ClusterState, History, HistoryView, NodeState


def node(
    name: str = "hydra-ai",
    *,
    temp: float | None = 50,
    power: float | None = 100,
    gpu_name: str = "NVIDIA GeForce RTX 5090",
    limit: float = 575,
    cpu: float | None = 10,
    mem_pct: float = 20,
    disk: float | None = 40,
    status: NodeStatus = NodeStatus.UP,
    error: str | None = None,
    tags: tuple[str, ...] = (),
    gpu_error: str | None = None,
) -> NodeState:
    total = 100 * 2**30
    host = HostReading(
        load1=1.0,
        cpu_pct=cpu,
        mem_total_bytes=total,
        mem_available_bytes=int(total * (1 - mem_pct / 100)),
        disks=() if disk is None else (Disk("/mnt/user", "/dev/md1", 100, int(disk), 0, disk),),
    )
    gpu = GpuReading(index=0, name=gpu_name, temp_c=temp, power_w=power, power_limit_w=limit)
    if status is NodeStatus.DOWN:
        return NodeState(name=name, status=status, error=error)
    return NodeState(
        name=name,
        status=status,
        error=error,
        last_ok=0.0,
        host=host,
        gpus=(gpu,),
        tags=tags,
        gpu_error=gpu_error,
    )


def state(*nodes: NodeState, at: float = 0.0, thresholds: Thresholds | None = None) -> ClusterState:
    return ClusterState(
        cluster="t",
        seq=1,
        at=at,
        nodes=nodes,
        history=HistoryView(History(10), 1),
        thresholds=thresholds or Thresholds(hold_s=0),
    )


def keys(alerts) -> list[tuple[str, str, str]]:
    return [(a.subject, a.metric, a.severity) for a in alerts]


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({"temp": 69}, []),
        ({"temp": 70}, [("hydra-ai/gpu0", "gpu_temp", "warning")]),
        ({"temp": 80}, [("hydra-ai/gpu0", "gpu_temp", "warning")]),
        ({"temp": 81}, [("hydra-ai/gpu0", "gpu_temp", "critical")]),
        ({"temp": None}, []),
        ({"power": 399}, []),
        ({"power": 400}, [("hydra-ai/gpu0", "gpu_power", "warning")]),
        ({"power": 451}, [("hydra-ai/gpu0", "gpu_power", "critical")]),
        (
            {"power": 290, "gpu_name": "NVIDIA GeForce RTX 4090", "limit": 450},
            [("hydra-ai/gpu0", "gpu_power", "warning")],
        ),
        (
            {"power": 301, "gpu_name": "NVIDIA GeForce RTX 4090", "limit": 450},
            [("hydra-ai/gpu0", "gpu_power", "critical")],
        ),
        # Other models: relative to their own limit (90 % / 97 % of 700 W = 630 / 679 W).
        ({"power": 629, "gpu_name": "NVIDIA H100 80GB HBM3", "limit": 700}, []),
        (
            {"power": 640, "gpu_name": "NVIDIA H100 80GB HBM3", "limit": 700},
            [("hydra-ai/gpu0", "gpu_power", "warning")],
        ),
        ({"cpu": 60}, [("hydra-ai", "cpu", "warning")]),
        ({"cpu": 81}, [("hydra-ai", "cpu", "critical")]),
        ({"mem_pct": 86}, [("hydra-ai", "ram", "critical")]),
        ({"disk": 93}, [("hydra-ai", "disk", "critical")]),
        ({"status": NodeStatus.DOWN, "error": "timeout"}, [("hydra-ai", "node_down", "critical")]),
        (
            {"status": NodeStatus.STALE, "error": "command timed out after 5s"},
            [("hydra-ai", "stale", "warning")],
        ),
        ({"status": NodeStatus.STALE, "error": "connecting…"}, []),
        ({"gpu_error": "nvidia-smi timed out"}, [("hydra-ai", "gpu_probe", "warning")]),
    ],
)
def test_runbook_thresholds(kwargs: dict, expected: list) -> None:
    alerts = AlertTracker(Thresholds(hold_s=0)).update(state(node(**kwargs)))
    assert keys(alerts) == expected


def test_messages_name_value_and_threshold() -> None:
    (alert,) = AlertTracker(Thresholds(hold_s=0)).update(state(node(temp=86)))
    assert alert.message == "hydra-ai/gpu0: GPU temperature 86°C > 80°C"
    assert (alert.value, alert.threshold) == (86, 80)
    (disk,) = AlertTracker(Thresholds(hold_s=0)).update(state(node(disk=93)))
    assert disk.message == "hydra-ai: disk /mnt/user 93% > 90%"


def test_hold_means_a_one_cycle_spike_never_fires() -> None:
    tracker = AlertTracker(Thresholds(hold_s=10))
    sequence = [(0, 85), (2, 60), (4, 85), (6, 85), (8, 85), (10, 85), (14, 85)]
    fired = [
        bool(tracker.update(state(node(temp=t), at=at, thresholds=tracker.thresholds))) for at, t in sequence
    ]
    # The spike at 0 s clears at 2 s; the run from 4 s fires once it has lasted 10 s (at 14 s).
    assert fired == [False, False, False, False, False, False, True]
    since = tracker.update(state(node(temp=85), at=16, thresholds=tracker.thresholds))[0].since
    assert since == 4


def test_hysteresis_keeps_an_alert_hovering_at_its_threshold() -> None:
    """Critical above 80 °C clears only below 80 × 0.97 = 77.6 °C; warning only below 67.9 °C."""
    tracker = AlertTracker(Thresholds(hold_s=0))
    levels = []
    for temp in (82, 79.9, 78, 77.7, 77.0, 69, 67):
        alerts = tracker.update(state(node(temp=temp)))
        levels.append(alerts[0].severity if alerts else "ok")
    assert levels == ["critical", "critical", "critical", "critical", "warning", "warning", "ok"]


def test_overrides_per_tag_and_per_model() -> None:
    thresholds = Thresholds(
        hold_s=0,
        by_tag={"storage": LimitOverrides(disk=Limit(warning=95, critical=98))},
        by_model={"H100": LimitOverrides(gpu_temp=Limit(warning=83, critical=87))},
    )
    storage = node("nas", disk=93, tags=("storage",))
    h100 = node("lambda", temp=85, gpu_name="NVIDIA H100 80GB HBM3", power=100, limit=700)
    assert keys(AlertTracker(thresholds).update(state(storage, h100, thresholds=thresholds))) == [
        ("lambda/gpu0", "gpu_temp", "warning")
    ]


def test_alerts_sort_critical_first_then_oldest() -> None:
    tracker = AlertTracker(Thresholds(hold_s=0))
    tracker.update(state(node("a", cpu=65), at=0))
    alerts = tracker.update(state(node("a", cpu=65), node("b", temp=90), node("c", cpu=65), at=5))
    assert keys(alerts) == [
        ("b/gpu0", "gpu_temp", "critical"),
        ("a", "cpu", "warning"),
        ("c", "cpu", "warning"),
    ]


def test_thresholds_from_cluster_yaml(tmp_path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(
        "cluster: t\nnodes: [{name: a, host: 127.0.0.1}]\n"
        "thresholds:\n  gpu_temp: {warning: 75, critical: 85}\n  hold_s: 4\n"
    )
    from cockpit.config import load_cluster

    cluster: Cluster = load_cluster(path)
    assert cluster.thresholds.gpu_temp == Limit(warning=75, critical=85)
    assert cluster.thresholds.hold_s == 4
    assert "RTX 5090" in cluster.thresholds.by_model
    assert findings(state(node(temp=80), thresholds=cluster.thresholds))[0].severity.name == "WARNING"


def test_warning_above_critical_is_a_config_error(tmp_path) -> None:
    from cockpit.config import load_cluster
    from cockpit.yaml_source import ConfigError

    path = tmp_path / "c.yaml"
    path.write_text(
        "cluster: t\nnodes: [{name: a, host: 127.0.0.1}]\nthresholds:\n  cpu: {warning: 90, critical: 80}\n"
    )
    with pytest.raises(ConfigError) as err:
        load_cluster(path)
    assert (
        err.value.line
        == f"{path}:4:8: thresholds.cpu: warning 90 is above critical 80 (expected warning ≤ critical)"
    )
