"""Kubernetes pods from ``kubectl get pods -o json``: here with a kubeconfig, or on a node over SSH.

kubectl rather than a client library: it is what the runbooks use, it already knows every auth
plugin the operator's kubeconfig needs, and over SSH it runs where the credentials live. The JSON is
parsed into :class:`Pod` (phase, ready, restarts, kubectl's STATUS column, ``OOMKilled`` in a
container's state or last state, ``CrashLoopBackOff``, ``nvidia.com/gpu`` requested, node). GPU pods'
recent logs are scanned for 'CUDA out of memory' (runbook: "Error logs: CUDA out of memory").

The command builders return argv lists; :func:`shell_command` quotes one for SSH. A runner is any
``async (argv, timeout) -> (stdout, stderr, status)``: :func:`run_local` here, the SSH pool's
for ``via_node``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import shlex
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

import cockpit.config  # noqa: F401  (config imports prom_config at its end: load it first)
from cockpit.model import ProbeError
from cockpit.prom_config import KubeConfig
from cockpit.sanitize import clean
from cockpit.sources.prom_map import parse_rfc3339

GPU_RESOURCE = "nvidia.com/gpu"
CUDA_OOM = re.compile(
    r"CUDA out of memory|CUDA error: out of memory|OutOfMemoryError|CUDA_ERROR_OUT_OF_MEMORY", re.IGNORECASE
)
_K8S_NAME = re.compile(r"^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$")
"""A DNS-1123 subdomain, what Kubernetes accepts as an object name (and never an option)."""
MAX_LOG_READS = 8
"""GPU pods whose logs are read concurrently; the rest wait their turn."""
Runner = Callable[[list[str], float], Awaitable[tuple[str, str, int]]]


@dataclass(frozen=True, slots=True)
class Pod:
    """One pod as ``kubectl get pods`` shows it, plus what matters on a GPU cluster."""

    namespace: str
    name: str
    phase: str
    """Pending, Running, Succeeded, Failed or Unknown."""
    status: str
    """kubectl's STATUS column: Running, CrashLoopBackOff, OOMKilled, Completed, Init:0/1, Terminating..."""
    ready: int
    containers: int
    restarts: int
    node: str | None = None
    gpus: int = 0
    """``nvidia.com/gpu`` requested by its containers (limits, which is what the device plugin uses)."""
    gpu_containers: tuple[str, ...] = ()
    oom_killed: bool = False
    """A container is, or last was, terminated with reason OOMKilled (host memory limit)."""
    crash_loop: bool = False
    started_at: float | None = None
    cuda_oom: str | None = None
    """The log line that said 'CUDA out of memory', if a recent log of a GPU container did."""
    deployment: str | None = None
    """The Deployment that owns it (through its ReplicaSet): what scale and rollout act on."""

    @property
    def ready_text(self) -> str:
        return f"{self.ready}/{self.containers}"

    @property
    def healthy(self) -> bool:
        if self.phase == "Succeeded":
            return True
        return (
            self.phase == "Running"
            and self.ready == self.containers
            and not (self.crash_loop or self.oom_killed or self.cuda_oom)
        )


# -- commands ------------------------------------------------------------------------------------


def _base(config: KubeConfig, *, local: bool) -> list[str]:
    argv = ["kubectl"]
    if config.kubeconfig:
        path = os.path.expanduser(config.kubeconfig) if local else config.kubeconfig
        argv.append(f"--kubeconfig={path}")
    if config.context:
        argv.append(f"--context={config.context}")
    argv.append(f"--request-timeout={max(1, int(config.timeout))}s")
    return argv


def pods_argv(config: KubeConfig, *, local: bool = True) -> list[str]:
    """``kubectl get pods -o json`` in the namespace, or all namespaces."""
    scope = ["--namespace", config.namespace] if config.namespace else ["--all-namespaces"]
    return [*_base(config, local=local), "get", "pods", *scope, "--output=json"]


def logs_argv(
    config: KubeConfig, pod: Pod, container: str, *, previous: bool = False, local: bool = True
) -> list[str]:
    argv = [*_base(config, local=local), "logs", "--namespace", pod.namespace, pod.name]
    argv += ["--container", container, f"--tail={config.log_lines}"]
    return [*argv, "--previous"] if previous else argv


def action_argv(config: KubeConfig, *, local: bool) -> tuple[str, ...]:
    """kubectl with the config's kubeconfig and context, for actions: no request timeout, which
    would cut ``logs -f`` off (the action's own timeout bounds it instead)."""
    return tuple(a for a in _base(config, local=local) if not a.startswith("--request-timeout="))


def shell_command(argv: Sequence[str]) -> str:
    """One argv as a POSIX shell command line (for a node's ``sh -c`` over SSH)."""
    return shlex.join(argv)


# -- parsing -------------------------------------------------------------------------------------


def parse_pods(text: str) -> tuple[Pod, ...] | ProbeError:
    """``kubectl get pods -o json`` (a ``List`` of pods) -> pods, in kubectl's order."""
    try:
        doc = json.loads(text)
    except ValueError:
        return ProbeError("kube", "kubectl did not answer JSON")
    items = doc.get("items") if isinstance(doc, dict) else None
    if not isinstance(items, list):
        return ProbeError("kube", "kubectl's answer has no items list")
    return tuple(pod for pod in (_pod(item) for item in items) if pod is not None)


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _s(value: Any, limit: int = 253) -> str:
    return clean(value, limit=limit) if isinstance(value, str) else ""


def _gpu_count(value: Any) -> int:
    text = str(value) if isinstance(value, str | int) and not isinstance(value, bool) else ""
    return int(text) if text.isascii() and text.isdigit() else 0


def _pod(item: Any) -> Pod | None:
    meta, spec, status = (
        _dict(_dict(item).get("metadata")),
        _dict(_dict(item).get("spec")),
        _dict(_dict(item).get("status")),
    )
    name = _s(meta.get("name"))
    if not name:
        return None
    containers = [_dict(c) for c in _list(spec.get("containers"))]
    gpu_containers = []
    gpus = 0
    for c in containers:
        resources = _dict(c.get("resources"))
        wanted = max(_gpu_count(_dict(resources.get("limits")).get(GPU_RESOURCE)),
                     _gpu_count(_dict(resources.get("requests")).get(GPU_RESOURCE)))  # fmt: skip
        gpus += wanted
        if wanted:
            gpu_containers.append(_s(c.get("name")))
    statuses = [_dict(s) for s in _list(status.get("containerStatuses"))]
    oom = crash = False
    for s in statuses:
        state, last = _dict(s.get("state")), _dict(s.get("lastState"))
        crash |= _dict(state.get("waiting")).get("reason") == "CrashLoopBackOff"
        oom |= "OOMKilled" in (
            _dict(state.get("terminated")).get("reason"),
            _dict(last.get("terminated")).get("reason"),
        )
    restarts = sum(s["restartCount"] for s in statuses if isinstance(s.get("restartCount"), int))
    return Pod(
        namespace=_s(meta.get("namespace")) or "default",
        name=name,
        phase=_s(status.get("phase"), 32) or "Unknown",
        status=_status_column(meta, status, statuses, len(_list(spec.get("initContainers")))),
        ready=sum(1 for s in statuses if s.get("ready") is True),
        containers=len(containers),
        restarts=restarts,
        node=_s(spec.get("nodeName")) or None,
        gpus=gpus,
        gpu_containers=tuple(gpu_containers),
        oom_killed=oom,
        crash_loop=crash,
        started_at=parse_rfc3339(status.get("startTime")),
        deployment=_deployment(meta),
    )


def _deployment(meta: dict[str, Any]) -> str | None:
    """A Deployment's pod is owned by ReplicaSet ``DEPLOYMENT-HASH``, HASH being the pod's
    ``pod-template-hash`` label (what kubectl's own describe uses); anything else has none."""
    labels = _dict(meta.get("labels"))
    template_hash = labels.get("pod-template-hash")
    for owner in (_dict(o) for o in _list(meta.get("ownerReferences"))):
        name = owner.get("name")
        if (
            owner.get("kind") != "ReplicaSet"
            or owner.get("controller") is not True
            or not isinstance(name, str)
        ):
            continue
        if isinstance(template_hash, str) and template_hash and name.endswith(f"-{template_hash}"):
            deployment = name[: -len(template_hash) - 1]
            return deployment if _K8S_NAME.match(deployment) else None
    return None


def _status_column(
    meta: dict[str, Any], status: dict[str, Any], statuses: list[dict[str, Any]], inits: int
) -> str:
    """kubectl's printPod, the parts that matter: init progress, then the last container's reason."""
    reason = _s(status.get("reason"), 64) or _s(status.get("phase"), 32) or "Unknown"
    init_statuses = [_dict(s) for s in _list(status.get("initContainerStatuses"))]
    for i, s in enumerate(init_statuses):
        state = _dict(s.get("state"))
        terminated, waiting = _dict(state.get("terminated")), _dict(state.get("waiting"))
        if terminated and terminated.get("exitCode") == 0:
            continue
        if terminated:
            return "Init:" + (_s(terminated.get("reason"), 64) or f"ExitCode:{terminated.get('exitCode')}")
        if waiting.get("reason") and waiting.get("reason") != "PodInitializing":
            return "Init:" + _s(waiting.get("reason"), 64)
        return f"Init:{i}/{inits or len(init_statuses)}"
    running = False
    for s in reversed(statuses):
        state = _dict(s.get("state"))
        waiting, terminated = _dict(state.get("waiting")), _dict(state.get("terminated"))
        if waiting.get("reason"):
            reason = _s(waiting.get("reason"), 64)
        elif terminated.get("reason"):
            reason = _s(terminated.get("reason"), 64)
        elif terminated:
            signal = terminated.get("signal")
            reason = f"Signal:{signal}" if signal else f"ExitCode:{terminated.get('exitCode')}"
        elif "running" in state and s.get("ready") is True:
            running = True
    if reason == "Completed" and running:
        reason = "Running"
    if meta.get("deletionTimestamp"):
        reason = "Unknown" if status.get("reason") == "NodeLost" else "Terminating"
    return reason


def scan_cuda_oom(log: str) -> str | None:
    """The last log line reporting a CUDA out-of-memory error, cleaned for display; None if none."""
    found = None
    for line in log.splitlines():
        if CUDA_OOM.search(line):
            found = line
    return clean(found.strip(), limit=200) if found is not None else None


# -- running kubectl -----------------------------------------------------------------------------


async def run_local(argv: list[str], timeout: float) -> tuple[str, str, int]:
    """Run ``argv`` here, no shell; (stdout, stderr, status), 127 when kubectl is not installed."""
    try:
        proc = await asyncio.create_subprocess_exec(
            *argv,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
    except FileNotFoundError:
        return "", f"{argv[0]}: not found", 127
    try:
        out, err = await asyncio.wait_for(proc.communicate(), timeout)
    except TimeoutError:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        await proc.wait()
        return "", f"timed out after {timeout:g}s", 124
    return out.decode("utf-8", "replace"), err.decode("utf-8", "replace"), proc.returncode or 0


def kubectl_error(stderr: str, status: int) -> ProbeError:
    if status == 127:
        return ProbeError("kube", "kubectl not found")
    if status == 124:
        return ProbeError("kube", clean(stderr.strip() or "kubectl timed out", limit=200))
    line = next((ln for ln in stderr.splitlines() if ln.strip()), f"kubectl exited with status {status}")
    return ProbeError("kube", clean(line.strip(), limit=300))


class KubeSource:
    """Pods each cycle; ``run`` defaults to this machine (``via_node``: pass the SSH runner)."""

    def __init__(self, config: KubeConfig, run: Runner | None = None) -> None:
        self.config = config
        self.local = run is None
        self.run: Runner = run or run_local

    async def read(self) -> tuple[Pod, ...] | ProbeError:
        out, err, status = await self.run(pods_argv(self.config, local=self.local), self.config.timeout)
        if status != 0:
            return kubectl_error(err, status)
        pods = parse_pods(out)
        if isinstance(pods, ProbeError) or self.config.log_lines == 0:
            return pods
        gate = asyncio.Semaphore(MAX_LOG_READS)
        checked = await asyncio.gather(*(self._scan(pod, gate) for pod in pods))
        return tuple(checked)

    async def _scan(self, pod: Pod, gate: asyncio.Semaphore) -> Pod:
        if not pod.gpu_containers or pod.phase not in ("Running", "Failed"):
            return pod
        for container in pod.gpu_containers:
            for previous in (False, True) if pod.restarts else (False,):
                argv = logs_argv(self.config, pod, container, previous=previous, local=self.local)
                async with gate:
                    out, _, status = await self.run(argv, self.config.timeout)
                line = scan_cuda_oom(out) if status == 0 else None
                if line:
                    return replace(pod, cuda_oom=line)
        return pod
