"""The demo's Kubernetes: kubectl on ``kube.via_node`` only, the k8s and kv-cache scenarios, and
runbook 002's remedies (delete, scale, rollout undo) answered by the simulated kubectl."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from cockpit.config import Cluster, KubeConfig, NodeConfig, NvmlConfig, SimNode, load_cluster
from cockpit.model import ProbeError
from cockpit.sim import SimCluster, SimError, kubectl_write
from cockpit.sim.commands import run_command
from cockpit.sim.remap import on_loopback
from cockpit.sim.scenarios import apply, hint
from cockpit.sim.shell import Shell
from cockpit.sources.kube import parse_pods, scan_cuda_oom

ROOT = Path(__file__).resolve().parents[2]


def _sim(namespace: str | None = "default") -> SimCluster:
    nodes = [
        NodeConfig(
            name="control", host="127.0.0.1", probes=["host"], sim=SimNode(gpus=[], nvidia_smi="missing")
        ),
        NodeConfig(name="gpu-1", host="127.0.0.1", sim=SimNode(gpus=["NVIDIA A100-SXM4-80GB"] * 2, busy=0.6)),
        NodeConfig(name="gpu-2", host="127.0.0.1", sim=SimNode(gpus=["NVIDIA A100-SXM4-80GB"], busy=0.4)),
    ]
    cluster = Cluster(cluster="k", nodes=nodes, kube=KubeConfig(via_node="control", namespace=namespace))
    return SimCluster(cluster, ephemeral_ports=True)


async def _kubectl(sim: SimCluster, args: str, node: str = "control") -> tuple[str, str, int]:
    return await run_command(sim.world(node), f"kubectl {args}", "ubuntu")


def _pods(text: str) -> dict:
    pods = parse_pods(text)
    assert not isinstance(pods, ProbeError), pods
    return {p.name: p for p in pods}


async def test_kubectl_exists_only_on_the_via_node() -> None:
    sim = _sim()
    _, err, status = await _kubectl(sim, "get pods", node="gpu-1")
    assert (status, err) == (127, "sh: 1: kubectl: not found\n")
    out, _, status = await _kubectl(sim, "get pods -o json")
    assert status == 0 and all(p.namespace == "default" for p in _pods(out).values())


async def test_k8s_scenario_crash_loop_and_cuda_oom_then_the_runbooks_remedies() -> None:
    sim = _sim()
    await apply(sim, "k8s")
    out, _, _ = await _kubectl(sim, "get pods --output=json")
    pods = _pods(out)
    crashed = [p for p in pods.values() if p.crash_loop]
    assert {p.name for p in crashed} == {"trainer-0", min(n for n in pods if n.startswith("vllm-"))}
    serving = next(p for p in crashed if p.name.startswith("vllm-"))
    assert serving.oom_killed and serving.status == "CrashLoopBackOff"
    log, _, status = await _kubectl(sim, "logs trainer-0 --container train --tail=50 --previous")
    assert status == 0 and scan_cuda_oom(log) is not None

    # "Restart affected pods": the Deployment replaces it with a healthy pod.
    out, _, status = await _kubectl(sim, f"delete pod {serving.name} --namespace default")
    assert (status, out) == (0, f'pod "{serving.name}" deleted\n')
    pods = _pods((await _kubectl(sim, "get pods -o json"))[0])
    assert serving.name not in pods
    app = serving.name.rsplit("-", 2)[0]
    assert [p.healthy for n, p in pods.items() if n.startswith(app)] == [True]
    out, _, _ = await _kubectl(sim, "delete pods -l app=trainer")
    assert out == 'pod "trainer-0" deleted\n'
    assert _pods((await _kubectl(sim, "get pods -o json"))[0])["trainer-0"].healthy  # StatefulSet: same name


async def test_scale_rollout_and_get_deployments() -> None:
    sim = _sim()
    app = next(iter(sim.kube.deployments))
    out, _, status = await _kubectl(sim, f"scale deployment {app} --replicas=3")
    assert (status, out) == (0, f"deployment.apps/{app} scaled\n")
    pods = [p for n, p in _pods((await _kubectl(sim, f"get pods -l app={app} -o json"))[0]).items()]
    assert len(pods) == 3 and sorted(p.phase for p in pods) == ["Pending", "Pending", "Running"]  # GPUs taken
    table, _, _ = await _kubectl(sim, "get deployments")
    assert table.splitlines()[0].split() == ["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"]
    assert f"{app} " in table and " 1/3 " in table
    sim.set_pod(min(p.name for p in pods if p.phase == "Running"), "crash-loop")
    out, _, status = await _kubectl(sim, f"rollout undo deployment/{app}")
    assert (status, out) == (0, f"deployment.apps/{app} rolled back\n")
    assert not any(p.crash_loop for p in _pods((await _kubectl(sim, "get pods -o json"))[0]).values())
    await _kubectl(sim, f"scale deployment/{app} --replicas=0")
    assert sim.kube.members(app) == []
    _, err, status = await _kubectl(sim, "scale deployment hdc-toolkit --replicas=6")
    assert (status, err) == (1, 'Error from server (NotFound): deployments.apps "hdc-toolkit" not found\n')
    _, err, status = await _kubectl(sim, f"scale deployment {app}")
    assert (status, err) == (1, 'error: required flag(s) "replicas" not set\n')
    _, err, status = await _kubectl(sim, "delete pod nope")
    assert (status, err) == (1, 'Error from server (NotFound): pods "nope" not found\n')


async def test_kv_cache_scenario_pins_the_vllm_page_and_needs_a_serving_node() -> None:
    sim = _sim()
    await apply(sim, "kv-cache")
    node = next(iter(sim.exporter.inference))
    page = sim.exporter.vllm(node)
    assert "vllm:gpu_cache_usage_perc{" in page and '"} 0.93\n' in page
    assert 'vllm:num_requests_waiting{model_name="' in page and '"} 6.0\n' in page
    with pytest.raises(SimError, match="runs no inference server"):
        sim.set_vllm("control", kv_cache=0.5)


def test_hints_name_the_missing_section() -> None:
    sim = _sim()
    assert hint(sim.cluster, "k8s") is None
    assert hint(sim.cluster, "kv-cache") == (
        "scenario kv-cache shows only with prometheus: in the config (try examples/gpu-platform.yaml)"
    )
    assert hint(sim.cluster, "gpu-overheat") is None


def test_remap_keeps_kubectl_on_a_node_and_drops_what_would_read_this_machine() -> None:
    cluster = load_cluster(ROOT / "examples" / "hdc-k8s.yaml")
    assert on_loopback(cluster).kube == cluster.kube
    local = cluster.model_copy(update={"kube": KubeConfig(), "nvml": NvmlConfig(node="hdc-gpu-1")})
    remapped = on_loopback(local)
    assert (remapped.kube, remapped.nvml) == (None, None)


async def test_logs_follow_keeps_writing_until_cancelled(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(kubectl_write, "FOLLOW_EVERY_S", 0.01)
    sim = _sim()
    pod = next(p for p in sim.kube.pods.values() if p.kind == "serve")
    out: list[str] = []
    shell = Shell(
        sim.world("control"), "ubuntu", __import__("cockpit.sim.commands", fromlist=["resolve"]).resolve
    )
    task = asyncio.create_task(
        shell.run(f"kubectl logs {pod.name} -n default --tail=100 -f", out.append, out.append)
    )
    while sum(text.count("\n") for text in out) < 5:
        await asyncio.sleep(0.01)
    assert not task.done()
    assert "Avg generation throughput" in "".join(out)
    sim.kube.delete(pod.name)  # the pod goes: kubectl logs -f ends
    assert await asyncio.wait_for(task, 2) == 0


async def test_pod_actions_run_kubectl_on_the_control_node_and_the_pods_view_shows_the_effect(
    tmp_path: Path,
) -> None:
    """Runbook 002 from the Pods view: the crash-looping pod's alert offers its previous logs, a
    restart (delete) and a rollback; each renders kubectl for the control node and really acts."""
    from cockpit.actions.catalog import Catalog
    from cockpit.actions.runner import run
    from cockpit.actions.subjects import remediations, target_for
    from cockpit.engine import Engine

    base = _sim().cluster
    cluster = base.model_copy(
        update={"ssh": base.ssh.model_copy(update={"known_hosts": str(tmp_path / "kh")})}
    )
    sim = SimCluster(cluster, state_dir=tmp_path / "sim", known_hosts=tmp_path / "kh", ephemeral_ports=True)
    await sim.start()
    effective = sim.effective_cluster()
    engine = Engine(effective)
    catalog = Catalog.from_config(kube=effective.kube)
    lines: list[str] = []

    async def act(name: str, target, **inputs: object):  # type: ignore[no-untyped-def]
        invocation = catalog.render(name, target.subject, inputs)
        result = await run(invocation, engine.pool, lambda _s, line: lines.append(line), audit=None)
        return invocation, result

    try:
        await apply(sim, "k8s")
        state = await engine.cycle()
        assert state.scale is not None and state.scale.pods
        crashed = next(p for p in state.scale.pods if p.crash_loop and p.deployment)
        alert = next(a for a in state.alerts if a.subject == f"pod:default/{crashed.name}")
        offered = remediations(alert, state, effective)
        assert [s.action for s in offered] == ["pod-logs-previous", "pod-delete", "deployment-rollout-undo"]
        target = target_for(state, effective, "pods", ("default", crashed.name))
        assert target is not None and target.scope == "pod" and target.label == f"default/{crashed.name}"

        invocation, result = await act("pod-logs-previous", target)
        assert invocation.node == "control" and invocation.run_on == "node"
        assert invocation.display == (
            f"kubectl logs --namespace default {crashed.name} --all-containers --previous --tail=200"
        )
        assert result.ok and lines, lines

        invocation, result = await act("pod-delete", target)
        assert invocation.confirm and invocation.danger == "destructive" and invocation.target == crashed.name
        assert result.ok and f'pod "{crashed.name}" deleted' in lines
        pods = {p.name: p for p in (await engine.cycle()).scale.pods}  # type: ignore[union-attr]
        assert crashed.name not in pods
        replacement = [p for p in pods.values() if p.deployment == crashed.deployment]
        assert len(replacement) == 1 and replacement[0].healthy

        again = target_for(await engine.cycle(), effective, "pods", ("default", replacement[0].name))
        assert again is not None
        invocation, result = await act("deployment-scale", again, replicas=2)
        assert invocation.display == (
            f"kubectl scale --namespace default deployment/{crashed.deployment} --replicas=2"
        )
        assert result.ok
        scaled = [p for p in (await engine.cycle()).scale.pods if p.deployment == crashed.deployment]  # type: ignore[union-attr]
        assert len(scaled) == 2

        # A StatefulSet's pod has no Deployment: scaling it is refused before anything runs.
        trainer = target_for(state, effective, "pods", ("default", "trainer-0"))
        assert trainer is not None and trainer.subject.deployment is None
        with pytest.raises(Exception, match="belongs to no Deployment"):
            catalog.render("deployment-scale", trainer.subject, {"replicas": 1})
    finally:
        await engine.close()
        await sim.stop()


def test_pod_actions_run_here_when_kubectl_is_local_and_are_hidden_without_kube() -> None:
    from cockpit.actions.catalog import Catalog
    from cockpit.actions.render import Subject

    assert Catalog.from_config().visible("pod") == ()
    local = Catalog.from_config(kube=KubeConfig(kubeconfig="~/k3s/config.yaml", context="oceanid"))
    assert {a.run_on for a in local.visible("pod")} == {"local"}
    subject = Subject(
        pod="vllm-7d9f8b6c5d-x2k4p; rm -rf ~",
        namespace="inference",
        deployment="vllm",
        kubectl=("kubectl", "--kubeconfig=/home/op/k3s/config.yaml", "--context=oceanid"),
    )
    invocation = local.render("pod-delete", subject, {})
    assert invocation.argv == (
        "kubectl", "--kubeconfig=/home/op/k3s/config.yaml", "--context=oceanid",
        "delete", "pod", "--namespace", "inference", "vllm-7d9f8b6c5d-x2k4p; rm -rf ~",
    )  # fmt: skip
    assert invocation.node is None and invocation.run_on == "local"
