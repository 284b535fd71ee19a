"""Rows become action subjects, and alerts offer the runbook's remediation first, pre-filled."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from cockpit.actions.catalog import Catalog
from cockpit.actions.subjects import remediations, suggested_watts, target_for
from cockpit.config import load_cluster
from cockpit.model import Alert, GpuReading
from tests.states import sample_state

CLUSTER = load_cluster(Path(__file__).resolve().parents[2] / "cluster.yaml")


def _alert(subject: str, metric: str) -> Alert:
    return Alert("critical", subject, metric, f"{subject}: {metric}")


def test_gpu_row_carries_the_pids_read_on_that_gpu_and_its_power_range() -> None:
    state = sample_state()
    node = state.node("hydra-ai")
    gpu = replace(node.gpus[0], power_min_w=400.0, power_max_w=600.0)
    state = replace(state, nodes=(replace(node, gpus=(gpu,)), *state.nodes[1:]), _index={})
    target = target_for(state, CLUSTER, "gpus", ("hydra-ai", 0))
    assert target is not None and target.scope == "gpu"
    assert target.subject.gpu.pids == (4242, 5151)
    assert (target.subject.gpu.min_power_w, target.subject.gpu.max_power_w) == (400.0, 600.0)
    assert target.subject.node.user == "typhon"


def test_hot_gpu_alert_offers_the_runbooks_power_limit_first_clamped_to_the_card() -> None:
    state = sample_state()
    first, *rest = remediations(_alert("hydra-ai/gpu0", "gpu_temp"), state, CLUSTER)
    assert first.action == "gpu-power-limit" and first.inputs == {"watts": 350}
    assert [s.action for s in rest] == ["gpu-kill-processes"]
    card = GpuReading(0, "NVIDIA GeForce RTX 5090", power_limit_w=575, power_min_w=400, power_max_w=600)
    assert suggested_watts(card) == 400, "the runbook's 350 W is below what a real 5090 accepts"
    h100 = GpuReading(0, "NVIDIA H100 80GB HBM3", power_limit_w=700, power_min_w=200, power_max_w=700)
    assert suggested_watts(h100) == 560


def test_rendered_remediation_is_the_runbooks_command_on_the_right_host() -> None:
    state = sample_state()
    node = state.node("hydra-ai")
    gpu = replace(node.gpus[0], power_min_w=300.0, power_max_w=600.0)
    state = replace(state, nodes=(replace(node, gpus=(gpu,)), *state.nodes[1:]), _index={})
    suggestion = remediations(_alert("hydra-ai/gpu0", "gpu_temp"), state, CLUSTER)[0]
    invocation = Catalog.from_config().render(suggestion.action, suggestion.target.subject, suggestion.inputs)
    assert invocation.command.endswith("nvidia-smi -i 0 -pl 350")
    assert invocation.node == "hydra-ai" and invocation.user == "typhon"


def test_crash_loop_disk_unit_and_service_alerts_map_to_their_runbook_steps() -> None:
    state = sample_state()
    crash = remediations(_alert("hydra-storage/container:litellm", "crash_loop"), state, CLUSTER)
    assert [s.action for s in crash] == ["container-logs", "container-restart"]
    assert crash[0].target.subject.container == "litellm"
    disk = remediations(_alert("hydra-storage", "disk"), state, CLUSTER)
    assert [s.action for s in disk] == ["docker-system-prune", "logs-truncate"]
    unit = remediations(_alert("hydra-compute/unit:ollama", "unit_failed"), state, CLUSTER)
    assert [s.action for s in unit] == ["unit-logs", "unit-restart"]
    service = remediations(_alert("service:tabbyapi", "service_down"), state, CLUSTER)
    assert service[1].action == "unit-restart" and service[1].target.subject.unit == "tabbyapi"
    assert service[1].target.subject.node.name == "hydra-ai"


def test_rows_that_are_not_actionable_give_nothing() -> None:
    state = sample_state()
    assert target_for(state, CLUSTER, "gpus", ("no-such-node", 0)) is None
    assert target_for(state, CLUSTER, "alerts", ("x", "y")) is None
    assert remediations(_alert("hydra-ai", "cpu"), state, CLUSTER) == []


def test_a_container_whose_name_docker_could_not_make_is_acted_on_by_id() -> None:
    from cockpit.model import Container

    state = sample_state()
    node = state.node("hydra-ai")
    hostile = Container("c" * 64, "web", "img", "running", "Up", ref="c" * 64)  # read as "web\x1b[0m"
    honest = Container("d" * 64, "litellm", "img", "running", "Up", ref="litellm")
    state = replace(state, nodes=(replace(node, containers=(hostile, honest)), *state.nodes[1:]), _index={})
    catalog = Catalog.from_config()
    for name, expected in (("web", "c" * 64), ("litellm", "litellm")):
        target = target_for(state, CLUSTER, "containers", ("hydra-ai", name))
        assert target is not None and target.subject.container == expected
        assert catalog.render("container-restart", target.subject, {}).command == f"docker restart {expected}"
