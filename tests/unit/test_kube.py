"""kubectl pods: commands, the parser on kubectl's real JSON layout, CUDA OOM scan, and the sim's kubectl."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from cockpit.config import NodeConfig, SimNode
from cockpit.model import ProbeError
from cockpit.prom_config import KubeConfig
from cockpit.sim import commands
from cockpit.sim.kubectl import KubeSim, kubectl
from cockpit.sim.shell import Shell
from cockpit.sim.world import NodeWorld
from cockpit.sources.kube import (
    KubeSource,
    Pod,
    kubectl_error,
    logs_argv,
    parse_pods,
    pods_argv,
    run_local,
    scan_cuda_oom,
    shell_command,
)

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "kube"


def fixture_pods() -> dict[str, Pod]:
    pods = parse_pods((FIXTURES / "get_pods.json").read_text())
    assert not isinstance(pods, ProbeError)
    return {p.name: p for p in pods}


def test_pods_from_kubectl_json() -> None:
    pods = fixture_pods()
    assert list(pods) == [
        "vllm-llama-70b-7d9f8b6c5d-x2k4p",
        "trainer-0",
        "embed-worker-5c8d94b7f-q7wz2",
        "data-prep-29402880-5xv8k",
        "nvidia-dcgm-exporter-8xq2m",
        "gateway-6f7b8c9d4-lm3np",
    ]
    vllm = pods["vllm-llama-70b-7d9f8b6c5d-x2k4p"]
    assert (vllm.namespace, vllm.phase, vllm.status, vllm.ready_text, vllm.restarts) == (
        "inference", "Running", "Running", "1/1", 0,
    )  # fmt: skip
    assert (vllm.node, vllm.gpus, vllm.gpu_containers, vllm.healthy) == ("gpu-node-1", 4, ("vllm",), True)
    assert vllm.started_at == 1795162438.0  # 2026-11-20T08:13:58Z


def test_a_deployments_pod_names_its_deployment_through_the_replica_set() -> None:
    pods = fixture_pods()
    assert pods["vllm-llama-70b-7d9f8b6c5d-x2k4p"].deployment == "vllm-llama-70b"
    assert pods["embed-worker-5c8d94b7f-q7wz2"].deployment == "embed-worker"
    # A StatefulSet's, a Job's and a DaemonSet's pods have no Deployment to scale or roll back.
    assert {
        pods[n].deployment for n in ("trainer-0", "data-prep-29402880-5xv8k", "nvidia-dcgm-exporter-8xq2m")
    } == {None}


def test_crash_loop_with_an_oom_killed_last_state() -> None:
    trainer = fixture_pods()["trainer-0"]
    assert (trainer.status, trainer.crash_loop, trainer.oom_killed) == ("CrashLoopBackOff", True, True)
    assert (trainer.restarts, trainer.ready_text, trainer.gpus, trainer.healthy) == (7, "0/1", 1, False)


def test_pending_completed_init_and_terminating_pods() -> None:
    pods = fixture_pods()
    pending = pods["embed-worker-5c8d94b7f-q7wz2"]
    assert (pending.phase, pending.status, pending.node, pending.gpus, pending.ready_text) == (
        "Pending", "Pending", None, 2, "0/1",
    )  # fmt: skip
    done = pods["data-prep-29402880-5xv8k"]
    assert (done.status, done.healthy, done.gpus) == ("Completed", True, 0)
    dcgm = pods["nvidia-dcgm-exporter-8xq2m"]
    assert (dcgm.status, dcgm.restarts, dcgm.oom_killed) == ("Running", 1, False)
    assert pods["gateway-6f7b8c9d4-lm3np"].status == "Terminating"


@pytest.mark.parametrize("text", ["", "not json", "[]", '{"items": 3}', '{"kind": "List"}'])
def test_bad_answers_are_one_line_errors(text: str) -> None:
    assert isinstance(parse_pods(text), ProbeError)


def test_hostile_items_are_skipped_or_cleaned() -> None:
    text = '{"items": [3, {"metadata": {}}, {"metadata": {"name": "x\\u001b[2Jy"}, "status": {"phase": 7}}]}'
    pods = parse_pods(text)
    assert not isinstance(pods, ProbeError)
    assert [(p.name, p.phase) for p in pods] == [("xy", "Unknown")]


def test_cuda_oom_is_found_in_the_previous_log_only() -> None:
    line = scan_cuda_oom((FIXTURES / "trainer_previous.log").read_text())
    assert line is not None and line.startswith(
        "torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB"
    )
    assert len(line) <= 200
    assert scan_cuda_oom((FIXTURES / "vllm_current.log").read_text()) is None
    assert (
        scan_cuda_oom("RuntimeError: CUDA error: out of memory\n")
        == "RuntimeError: CUDA error: out of memory"
    )


def test_commands() -> None:
    config = KubeConfig(
        namespace="inference", context="prod", kubeconfig="~/.kube/gpu", log_lines=50, timeout=5
    )
    argv = pods_argv(config, local=False)
    assert argv == [
        "kubectl", "--kubeconfig=~/.kube/gpu", "--context=prod", "--request-timeout=5s",
        "get", "pods", "--namespace", "inference", "--output=json",
    ]  # fmt: skip
    assert pods_argv(config)[1].startswith("--kubeconfig=/")  # expanded here, not on a remote node
    assert "--all-namespaces" in pods_argv(KubeConfig())
    pod = fixture_pods()["trainer-0"]
    assert logs_argv(config, pod, "train", previous=True, local=False)[-5:] == [
        "trainer-0", "--container", "train", "--tail=50", "--previous",
    ]  # fmt: skip
    assert shell_command(["kubectl", "logs", "a b"]) == "kubectl logs 'a b'"


def test_kubectl_errors_in_its_own_words() -> None:
    refused = (
        "The connection to the server localhost:8080 was refused - did you specify the right host or port?\n"
    )
    assert kubectl_error(refused, 1).reason == refused.strip()
    assert kubectl_error("", 127).reason == "kubectl not found"


async def test_local_runner_reports_a_missing_kubectl() -> None:
    out, _err, status = await run_local(["/nonexistent/kubectl", "get", "pods"], 2.0)
    assert status == 127 and out == ""
    source = KubeSource(KubeConfig(), run=lambda argv, t: run_local(["/nonexistent/kubectl", *argv[1:]], t))
    assert await source.read() == ProbeError("kube", "kubectl not found")


# -- the simulator's kubectl, through the sim shell --------------------------------------------


@pytest.fixture
def kube_world() -> NodeWorld:
    clock = time.time
    worlds = {
        "gpu-a": NodeWorld(NodeConfig(name="gpu-a", host="127.0.0.1", units=["vllm"],
                                      sim=SimNode(gpus=["NVIDIA H100 80GB HBM3"] * 2)), 3, clock),
        "cpu-b": NodeWorld(NodeConfig(name="cpu-b", host="127.0.0.1", sim=SimNode(gpus=[])), 3, clock),
    }  # fmt: skip
    world = worlds["gpu-a"]
    world.kube = KubeSim(worlds, clock)  # type: ignore[attr-defined]
    return world


def sim_runner(world: NodeWorld):
    def resolve(shell: Shell, name: str):
        return kubectl if name == "kubectl" else commands.resolve(shell, name)

    async def run(argv: list[str], timeout: float) -> tuple[str, str, int]:
        out: list[str] = []
        err: list[str] = []
        status = await Shell(world, "root", resolve).run(shell_command(argv), out.append, err.append)
        return "".join(out), "".join(err), status

    return run


async def test_sim_kubectl_answers_in_the_real_layout(kube_world: NodeWorld) -> None:
    run = sim_runner(kube_world)
    out, err, status = await run(pods_argv(KubeConfig()), 5)
    assert status == 0 and err == ""
    assert out.startswith('{\n    "apiVersion": "v1",\n    "items": [\n')
    pods = parse_pods(out)
    assert not isinstance(pods, ProbeError)
    by_name = {p.name: p for p in pods}
    vllm = next(p for p in pods if p.name.startswith("vllm-gpu-a-"))
    assert (vllm.gpus, vllm.node, vllm.status, vllm.healthy) == (2, "gpu-a", "Running", True)
    assert by_name["data-prep-29402880-5xv8k"].status == "Completed"


async def test_sim_scenarios_end_to_end_through_the_source(kube_world: NodeWorld) -> None:
    kube: KubeSim = kube_world.kube  # type: ignore[attr-defined]
    kube.set_pod("trainer-0", "cuda-oom")
    vllm = next(name for name in kube.pods if name.startswith("vllm-"))
    kube.set_pod(vllm, "crash-loop")
    pods = await KubeSource(KubeConfig(log_lines=100), run=sim_runner(kube_world)).read()
    assert not isinstance(pods, ProbeError)
    by_name = {p.name: p for p in pods}
    trainer = by_name["trainer-0"]
    assert trainer.crash_loop and not trainer.oom_killed and trainer.restarts == 1
    assert trainer.cuda_oom is not None and "CUDA out of memory" in trainer.cuda_oom
    crashed = by_name[vllm]
    assert (crashed.status, crashed.oom_killed, crashed.cuda_oom) == ("CrashLoopBackOff", True, None)
    kube.set_pod("trainer-0", "pending")
    pending = {p.name: p for p in parse_pods(kube.pods_json(None, time.time()))}["trainer-0"]  # type: ignore[union-attr]
    assert (pending.phase, pending.node) == ("Pending", None)


async def test_sim_kubectl_errors_and_table(kube_world: NodeWorld) -> None:
    run = sim_runner(kube_world)
    out, err, status = await run(["kubectl", "logs", "-n", "ml", "nope"], 5)
    assert (status, err) == (1, 'Error from server (NotFound): pods "nope" not found\n')
    out, err, status = await run(["kubectl", "logs", "-n", "ml", "trainer-0", "--previous"], 5)
    assert status == 1 and "previous terminated container" in err
    out, err, status = await run(["kubectl", "get", "pods", "-A"], 5)
    assert status == 0 and out.split("\n")[0].split() == [
        "NAMESPACE",
        "NAME",
        "READY",
        "STATUS",
        "RESTARTS",
        "AGE",
    ]
    out, err, status = await run(["kubectl", "frobnicate"], 5)
    assert (status, err) == (1, 'error: unknown command "frobnicate" for "kubectl"\n')
    with pytest.raises(ValueError):
        kube_world.kube.set_pod("trainer-0", "exploded")  # type: ignore[attr-defined]
