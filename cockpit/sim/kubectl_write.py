"""The simulated kubectl's verbs that change the cluster: runbook 002's remedies, answered for real.

``kubectl delete pod NAME`` / ``delete pods -l app=NAME`` (a Deployment replaces its pods, a
StatefulSet recreates them), ``scale deployment NAME --replicas=N`` (new pods that do not fit on
their node's GPUs stay Pending), ``rollout undo|restart deployment/NAME`` (every pod replaced by a
healthy one), ``get deployments``, and the follow of ``logs -f``. Messages are kubectl's own.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from cockpit.sim.noise import hash01, name_key
from cockpit.sim.shell import Call

if TYPE_CHECKING:
    from cockpit.sim.kubectl import KubeSim, SimPod

KINDS = {"pod": "pods", "pods": "pods", "po": "pods",
         "deployment": "deployments", "deployments": "deployments", "deploy": "deployments"}  # fmt: skip
FOLLOW_EVERY_S = 5.0
"""vLLM logs its throughput line every five seconds; a trainer logs a step about as often."""


def app_of(name: str) -> str:
    """A Deployment's pod is NAME-RSHASH-PODHASH: its ``app`` label (and Deployment) is NAME."""
    return name.rsplit("-", 2)[0]


def age(seconds: float) -> str:
    s = int(max(0, seconds))
    if s < 120:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m"
    if s < 86400:
        h, m = divmod(s // 60, 60)
        return f"{h}h{m}m" if h < 10 and m else f"{h}h"
    d, h = divmod(s // 3600, 24)
    return f"{d}d{h}h" if d < 10 and h else f"{d}d"


def _resource(words: list[str]) -> tuple[str, list[str]]:
    """``pod a b``, ``pods/a``, ``deployment/x`` -> (plural kind, names); kind "" when none given."""
    if not words:
        return "", []
    head, _, name = words[0].partition("/")
    kind = KINDS.get(head, head)
    names = [name] if name else []
    for word in words[1:]:
        names.append(word.partition("/")[2] if "/" in word else word)
    return kind, names


async def run(
    call: Call, kube: KubeSim, words: list[str], namespace: str | None, opts: dict[str, Any]
) -> int:
    verb = words[0]
    if verb == "get":
        return _get_deployments(call, kube, namespace)
    if verb == "rollout":
        if len(words) < 2 or words[1] not in ("undo", "restart"):
            what = " ".join(words[:2])
            call.err(f'error: unknown command "{what}" for "kubectl"\n')
            return 1
        return _rollout(call, kube, words[1], words[2:], namespace)
    kind, names = _resource(words[1:])
    if not kind:
        call.err("error: You must provide one or more resources by argument or filename.\n")
        return 1
    if verb == "delete":
        return _delete(call, kube, kind, names, namespace, opts.get("selector"))
    return _scale(call, kube, kind, names, namespace, opts.get("replicas"))


def _in(pod: SimPod, namespace: str | None) -> bool:
    return namespace is None or pod.namespace == namespace


def _delete(
    call: Call, kube: KubeSim, kind: str, names: list[str], namespace: str | None, selector: str | None
) -> int:
    if kind != "pods":
        call.err(f'error: the server doesn\'t have a resource type "{kind}"\n')
        return 1
    if selector is not None:
        key, _, value = selector.partition("=")
        names = sorted(
            p.name
            for p in kube.pods.values()
            if key == "app" and app_of(p.name) == value and _in(p, namespace)
        )
        if not names:
            call.err(
                f"No resources found in {namespace} namespace.\n" if namespace else "No resources found\n"
            )
            return 0
    elif not names:
        call.err("error: resource(s) were provided, but no name was specified\n")
        return 1
    status = 0
    for name in names:
        pod = kube.pods.get(name)
        if pod is None or not _in(pod, namespace):
            call.err(f'Error from server (NotFound): pods "{name}" not found\n')
            status = 1
            continue
        kube.delete(name)
        call.out(f'pod "{name}" deleted\n')
    return status


def _deployment(call: Call, kube: KubeSim, name: str, namespace: str | None) -> bool:
    template = kube.deployments.get(name)
    if template is None or not _in(template, namespace):
        call.err(f'Error from server (NotFound): deployments.apps "{name}" not found\n')
        return False
    return True


def _scale(
    call: Call, kube: KubeSim, kind: str, names: list[str], namespace: str | None, replicas: int | None
) -> int:
    if replicas is None:
        call.err('error: required flag(s) "replicas" not set\n')
        return 1
    if replicas < 0:
        call.err(
            "error: The --replicas=COUNT flag is required, and COUNT must be greater than or equal to 0\n"
        )
        return 1
    if kind != "deployments":
        call.err(f'error: the server doesn\'t have a resource type "{kind}"\n')
        return 1
    if not names:
        call.err("error: resource(s) were provided, but no name was specified\n")
        return 1
    status = 0
    for name in names:
        if not _deployment(call, kube, name, namespace):
            status = 1
            continue
        kube.scale(name, replicas)
        call.out(f"deployment.apps/{name} scaled\n")
    return status


def _rollout(call: Call, kube: KubeSim, how: str, words: list[str], namespace: str | None) -> int:
    kind, names = _resource(words)
    if kind != "deployments" or len(names) != 1:
        call.err("error: required resource not specified\n" if not kind else
                 f'error: no rollout history found for {kind} "{names[0] if names else ""}"\n')  # fmt: skip
        return 1
    name = names[0]
    if not _deployment(call, kube, name, namespace):
        return 1
    kube.rollout(name)
    call.out(f"deployment.apps/{name} {'rolled back' if how == 'undo' else 'restarted'}\n")
    return 0


def _get_deployments(call: Call, kube: KubeSim, namespace: str | None) -> int:
    now = kube.clock()
    rows = []
    for name, template in sorted(kube.deployments.items(), key=lambda kv: (kv[1].namespace, kv[0])):
        if not _in(template, namespace):
            continue
        pods = kube.members(name)
        ready = sum(1 for p in pods if p.state == "ok")
        row = [name, f"{ready}/{len(pods)}", str(len(pods)), str(ready), age(now - template.created)]
        rows.append(([template.namespace] if namespace is None else []) + row)
    if not rows:
        call.err(f"No resources found in {namespace} namespace.\n" if namespace else "No resources found\n")
        return 0
    head = (["NAMESPACE"] if namespace is None else []) + ["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"]
    table = [head, *rows]
    widths = [max(len(r[c]) for r in table) for c in range(len(head))]
    for row in table:
        call.out("   ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() + "\n")
    return 0


async def follow(call: Call, kube: KubeSim, pod: SimPod) -> None:
    """``logs -f``: a line every few seconds while the pod runs; ends when it is deleted or crashes."""
    step = 0
    while kube.pods.get(pod.name) is pod and pod.state == "ok":
        await asyncio.sleep(FOLLOW_EVERY_S)
        step += 1
        now = kube.clock()
        noise = hash01(name_key(pod.name), step)
        if pod.container == "vllm":
            stamp = datetime.fromtimestamp(now, UTC).strftime("%m-%d %H:%M:%S")
            call.out(f"INFO {stamp} metrics.py:351] Avg prompt throughput: {900 + 600 * noise:.1f} tokens/s, "
                     f"Avg generation throughput: {180 + 90 * noise:.1f} tokens/s, Running: {int(3 + 9 * noise)} reqs, "
                     "Swapped: 0 reqs, Pending: 0 reqs, GPU KV cache usage: "
                     f"{30 + 40 * noise:.1f}%, CPU KV cache usage: 0.0%.\n")  # fmt: skip
        else:
            call.out(f"epoch 0 step {10 + 10 * step} loss {2.9 - 0.004 * step - 0.05 * noise:.4f} lr 3.0e-04 "
                     f"tok/s {int(11700 + 200 * noise)}\n")  # fmt: skip
