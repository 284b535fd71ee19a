"""The ``k8s`` scenario: pods placed on the simulated nodes, and the ``kubectl`` that lists them.

:class:`KubeSim` holds the cluster's pods: a vLLM pod on every GPU node (all its GPUs), a training
pod ``trainer-0`` on the first GPU node, and a finished Job pod; scenario hooks put a pod into
``crash-loop`` (OOMKilled, CrashLoopBackOff), ``cuda-oom`` (crashes with torch's CUDA out-of-memory
error in its previous log), ``pending`` (Insufficient nvidia.com/gpu) or back to ``ok``.

:func:`kubectl` answers ``kubectl [--kubeconfig=..] [--context=..] [--request-timeout=..]
get pods [-n NS | -A] [-o json]`` in the real JSON layout (Go's MarshalIndent: four spaces, sorted
keys) or its table, ``kubectl logs [-n NS] POD [-c C | --all-containers] [--tail=N] [--previous] [-f]``, and the verbs
that change the cluster (:mod:`cockpit.sim.kubectl_write`: delete, scale, rollout, get deployments),
with kubectl's own error messages. It is installed only on a node whose world has a ``kube``
attribute: :class:`~cockpit.sim.SimCluster` sets it on ``kube.via_node``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from cockpit.sim import kubectl_write
from cockpit.sim.kubectl_write import age, app_of
from cockpit.sim.noise import hash_hex, name_key
from cockpit.sim.shell import Call
from cockpit.sim.world import Clock, NodeWorld

STATES = ("ok", "crash-loop", "cuda-oom", "pending")
VALUED = ("-n", "--namespace", "-o", "--output", "-c", "--container", "-l", "--selector", "--replicas", "--tail",
          "--since")  # fmt: skip
WORKLOAD_GETS = (["get", "deployments"], ["get", "deployment"], ["get", "deploy"])
VLLM_IMAGE = "vllm/vllm-openai:v0.6.4.post1"
TRAIN_IMAGE = "nvcr.io/nvidia/pytorch:24.10-py3"
JOB_IMAGE = "python:3.11-slim"
TORCH_OOM = (
    "torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB. GPU 0 has a total capacity of "
    "79.10 GiB of which 1.06 GiB is free. Process 2114 has 78.03 GiB memory in use. Of the allocated memory "
    "76.51 GiB is allocated by PyTorch, and 1.02 GiB is reserved by PyTorch but unallocated. If reserved but "
    "unallocated memory is large try setting PYTORCH_CUDA_ALLOC_CONF=expandable_segments:True to avoid "
    "fragmentation.  See documentation for Memory Management  "
    "(https://pytorch.org/docs/stable/notes/cuda.html#environment-variables)"
)


@dataclass(slots=True)
class SimPod:
    namespace: str
    name: str
    container: str
    image: str
    node: str | None
    gpus: int
    created: float
    kind: str = "serve"
    """serve (a Deployment's pod), train (StatefulSet) or job (a finished Job)."""
    state: str = "ok"
    since: float = 0.0


def _stamp(t: float) -> str:
    return datetime.fromtimestamp(int(t), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _owned(pod: SimPod) -> dict:
    """Labels and ownerReferences as the controllers set them: a Deployment's pod belongs to
    ReplicaSet NAME-HASH (HASH also in ``pod-template-hash``), a StatefulSet's and a Job's directly."""
    if pod.kind == "serve":
        owner, template_hash = pod.name.rsplit("-", 1)[0], pod.name.rsplit("-", 2)[1]
        kind, labels = "ReplicaSet", {"pod-template-hash": template_hash}
    elif pod.kind == "train":
        owner, kind = pod.name.rsplit("-", 1)[0], "StatefulSet"
        labels = {"apps.kubernetes.io/pod-index": pod.name.rsplit("-", 1)[1],
                  "controller-revision-hash": f"{owner}-{hash_hex(10, name_key(owner))[:10]}",
                  "statefulset.kubernetes.io/pod-name": pod.name}  # fmt: skip
    else:
        owner, kind = pod.name.rsplit("-", 1)[0], "Job"
        labels = {"batch.kubernetes.io/job-name": owner, "job-name": owner}
    uid = "-".join(hash_hex(n, name_key(owner), i) for i, n in enumerate((8, 4, 4, 4, 12)))
    api = "batch/v1" if kind == "Job" else "apps/v1"
    reference = {"apiVersion": api, "blockOwnerDeletion": True, "controller": True, "kind": kind, "name": owner,
                 "uid": uid}  # fmt: skip
    return {"labels": {"app": app_of(pod.name), **labels}, "ownerReferences": [reference]}


class KubeSim:
    """The pods of the simulated cluster; ``clock`` is the worlds' clock."""

    def __init__(self, worlds: Mapping[str, NodeWorld], clock: Clock, namespace: str | None = None) -> None:
        """``namespace``: put every pod there (the one a config's ``kube.namespace`` watches)."""
        self.clock = clock
        start = clock()
        self.pods: dict[str, SimPod] = {}
        self.capacity = {name: len(w.gpus) for name, w in worlds.items()}
        """GPUs per node: a scaled-up pod that does not fit stays Pending."""
        self.deployments: dict[str, SimPod] = {}
        """Deployment name -> the pod template its pods are made from (kept when scaled to 0)."""
        self._serial = 0
        gpu_nodes = [name for name, w in worlds.items() if w.gpus]
        serving, training = namespace or "inference", namespace or "ml"
        for name in gpu_nodes:
            suffix = f"{hash_hex(10, name_key(name))[:9]}-{hash_hex(5, name_key(name), 1)}"
            pod = SimPod(serving, f"vllm-{name}-{suffix}", "vllm", VLLM_IMAGE, name,
                         len(worlds[name].gpus), start - 86400 * 2)  # fmt: skip
            self.pods[pod.name] = pod
            self.deployments[app_of(pod.name)] = pod
        if gpu_nodes:
            self.pods["trainer-0"] = SimPod(training, "trainer-0", "train", TRAIN_IMAGE, gpu_nodes[0], 1,
                                            start - 7200, kind="train")  # fmt: skip
        first = next(iter(worlds), None)
        job = SimPod(
            training, "data-prep-29402880-5xv8k", "prep", JOB_IMAGE, first, 0, start - 3600, kind="job"
        )
        self.pods[job.name] = job

    def set_pod(self, name: str, state: str) -> None:
        if state not in STATES:
            raise ValueError(f"pod state must be one of {', '.join(STATES)}, not {state!r}")
        if name not in self.pods:
            raise ValueError(f"no simulated pod named {name!r}")
        pod = self.pods[name]
        pod.state, pod.since = state, self.clock()

    # -- what kubectl delete, scale and rollout do ------------------------------------------

    def delete(self, name: str) -> None:
        """A Deployment replaces its pod with a new one, a StatefulSet recreates it under the same
        name; a Job's finished pod is simply gone. The new pod starts healthy."""
        pod = self.pods.pop(name)
        now = self.clock()
        if pod.kind == "serve":
            self._spawn(app_of(name), now, replacing=pod.state != "pending")
        elif pod.kind == "train":
            pod.created, pod.state, pod.since = now, "ok", now
            self.pods[name] = pod

    def members(self, deployment: str) -> list[SimPod]:
        return [p for p in self.pods.values() if p.kind == "serve" and app_of(p.name) == deployment]

    def scale(self, deployment: str, replicas: int) -> None:
        pods = sorted(self.members(deployment), key=lambda p: p.created)
        now = self.clock()
        for pod in pods[replicas:]:
            del self.pods[pod.name]
        for _ in range(replicas - len(pods)):
            self._spawn(deployment, now)

    def rollout(self, deployment: str) -> None:
        """``rollout undo`` or ``restart``: every pod replaced by a new, healthy one."""
        pods = self.members(deployment)
        now = self.clock()
        for pod in pods:
            del self.pods[pod.name]
        for pod in pods:
            self._spawn(deployment, now, replacing=pod.state != "pending")

    def _spawn(self, deployment: str, now: float, *, replacing: bool = False) -> SimPod:
        """A new pod of ``deployment``; a replacement takes the freed GPUs, an extra replica stays
        Pending when its node's GPUs are all requested (Insufficient nvidia.com/gpu)."""
        template = self.deployments[deployment]
        self._serial += 1
        key = name_key(deployment)
        name = f"{deployment}-{hash_hex(10, key, self._serial)[:9]}-{hash_hex(5, key, self._serial, 1)}"
        node = template.node
        held = (
            p.gpus for p in self.pods.values() if p.node == node and p.state != "pending" and p.kind != "job"
        )
        fits = replacing or sum(held) + template.gpus <= self.capacity.get(node or "", 0)
        pod = SimPod(template.namespace, name, template.container, template.image, node, template.gpus, now,
                     state="ok" if fits else "pending", since=now)  # fmt: skip
        self.pods[name] = pod
        return pod

    # -- the API objects -----------------------------------------------------------------------

    def restarts(self, pod: SimPod, now: float) -> int:
        """CrashLoopBackOff restarts after 10, 20, 40 ... 300 s of back-off, each run ~20 s."""
        if pod.state not in ("crash-loop", "cuda-oom"):
            return 0
        elapsed, count, delay = now - pod.since, 0, 10.0
        while elapsed > 20.0 + delay and count < 1000:
            elapsed -= 20.0 + delay
            count += 1
            delay = min(300.0, delay * 2)
        return count + 1

    def item(self, pod: SimPod, now: float) -> dict:
        uid = "-".join(hash_hex(n, name_key(pod.name), i) for i, n in enumerate((8, 4, 4, 4, 12)))
        limits = {"memory": "64Gi", "nvidia.com/gpu": str(pod.gpus)} if pod.gpus else {}
        resources = {"limits": limits, "requests": {"cpu": "4", **limits}} if pod.gpus else {}
        container = {"image": pod.image, "imagePullPolicy": "IfNotPresent", "name": pod.container,
                     "resources": resources, "terminationMessagePath": "/dev/termination-log",
                     "terminationMessagePolicy": "File"}  # fmt: skip
        spec = {"containers": [container], "dnsPolicy": "ClusterFirst", "enableServiceLinks": True,
                "restartPolicy": "OnFailure" if pod.kind == "job" else "Always",
                "schedulerName": "default-scheduler", "securityContext": {}, "serviceAccount": "default",
                "serviceAccountName": "default", "terminationGracePeriodSeconds": 30}  # fmt: skip
        meta = {"creationTimestamp": _stamp(pod.created), "labels": {"app": app_of(pod.name)},
                "name": pod.name, "namespace": pod.namespace, "resourceVersion": str(int(pod.created) % 9999991),
                "uid": uid, **_owned(pod)}  # fmt: skip
        if pod.state == "pending":
            message = (f"0/{max(1, pod.gpus)} nodes are available: {max(1, pod.gpus)} Insufficient nvidia.com/gpu. "
                       "preemption: 0/1 nodes are available: 1 No preemption victims found for incoming pod.")  # fmt: skip
            status = {"conditions": [{"lastProbeTime": None, "lastTransitionTime": _stamp(pod.since), "message": message,
                                      "reason": "Unschedulable", "status": "False", "type": "PodScheduled"}],
                      "phase": "Pending", "qosClass": "Burstable"}  # fmt: skip
            return {"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": spec, "status": status}
        spec["nodeName"] = pod.node
        cid = hash_hex(64, name_key(pod.name), int(pod.since))
        started = pod.created + 4
        ready, phase, last = True, "Running", {}
        state: dict = {"running": {"startedAt": _stamp(started)}}
        if pod.kind == "job":
            ready, phase = False, "Succeeded"
            state = {"terminated": {"containerID": f"containerd://{cid}", "exitCode": 0, "finishedAt": _stamp(started + 44),
                                    "reason": "Completed", "startedAt": _stamp(started)}}  # fmt: skip
        elif pod.state in ("crash-loop", "cuda-oom"):
            ready = False
            oom = pod.state == "crash-loop"
            state = {"waiting": {"message": f"back-off 5m0s restarting failed container={pod.container} "
                                            f"pod={pod.name}_{pod.namespace}({uid})", "reason": "CrashLoopBackOff"}}  # fmt: skip
            last = {"terminated": {"containerID": f"containerd://{cid}", "exitCode": 137 if oom else 1,
                                   "finishedAt": _stamp(now - 5), "reason": "OOMKilled" if oom else "Error",
                                   "startedAt": _stamp(now - 25)}}  # fmt: skip
        cstatus = {"containerID": f"containerd://{cid}", "image": pod.image,
                   "imageID": f"{pod.image.split(':')[0]}@sha256:{hash_hex(64, name_key(pod.image))}",
                   "lastState": last, "name": pod.container, "ready": ready, "restartCount": self.restarts(pod, now),
                   "started": "running" in state, "state": state}  # fmt: skip
        condition = "True" if ready else "False"
        status = {"conditions": [{"lastProbeTime": None, "lastTransitionTime": _stamp(started), "status": condition,
                                  "type": "Ready"}],
                  "containerStatuses": [cstatus], "hostIP": "127.0.0.1", "phase": phase,
                  "qosClass": "Burstable" if pod.gpus else "BestEffort", "startTime": _stamp(pod.created)}  # fmt: skip
        return {"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": spec, "status": status}

    def pods_json(self, namespace: str | None, now: float, selector: str | None = None) -> str:
        items = [self.item(p, now) for p in self._listed(namespace, selector)]
        doc = {"apiVersion": "v1", "items": items, "kind": "List", "metadata": {"resourceVersion": ""}}
        return json.dumps(doc, indent=4, sort_keys=True) + "\n"

    def _listed(self, namespace: str | None, selector: str | None = None) -> list[SimPod]:
        """Pods in ``namespace`` (None: all), matching ``app=NAME`` when a selector is given (any
        other selector matches nothing: these pods carry only the ``app`` label)."""
        pods = [p for p in self.pods.values() if namespace is None or p.namespace == namespace]
        if selector is not None:
            pods = [p for p in pods if selector == f"app={app_of(p.name)}"]
        return sorted(pods, key=lambda p: (p.namespace, p.name))

    def logs(self, pod: SimPod, previous: bool, now: float) -> str:
        if previous and pod.state == "cuda-oom":
            return ("epoch 0 step 120 loss 2.4127 lr 3.0e-04 tok/s 11824\nTraceback (most recent call last):\n"
                    '  File "/workspace/train.py", line 188, in main\n    loss = model(batch).loss\n'
                    f"{TORCH_OOM}\n")  # fmt: skip
        if previous:
            return "epoch 0 step 130 loss 2.3981 lr 3.0e-04 tok/s 11790\n"
        if pod.container == "vllm":
            return ("INFO 11-20 08:14:41 api_server.py:585] vLLM API server version 0.6.4.post1\n"
                    "INFO:     Uvicorn running on http://0.0.0.0:8000 (Press CTRL+C to quit)\n")  # fmt: skip
        return "epoch 0 step 10 loss 2.9312 lr 3.0e-04 tok/s 11802\n"


async def kubectl(call: Call) -> int:
    kube: KubeSim | None = getattr(call.shell.world, "kube", None)
    if kube is None:
        call.err(
            "The connection to the server localhost:8080 was refused - did you specify the right host or port?\n"
        )
        return 1
    now = kube.clock()
    words: list[str] = []
    opts: dict = {"namespace": None, "all": False, "output": "", "container": None, "tail": None,
                  "previous": False, "follow": False, "selector": None, "replicas": None}  # fmt: skip
    args = call.argv[1:]
    i = 0
    while i < len(args):
        a = args[i]
        key, _, value = a.partition("=")
        if key in VALUED and not value:
            i += 1
            value = args[i] if i < len(args) else ""
        if key in ("-n", "--namespace"):
            opts["namespace"] = value
        elif key in ("-o", "--output"):
            opts["output"] = value
        elif key in ("-c", "--container"):
            opts["container"] = value
        elif key in ("-l", "--selector"):
            opts["selector"] = value
        elif key == "--replicas":
            opts["replicas"] = int(value) if value.isdigit() else -1
        elif key == "--tail":
            opts["tail"] = int(value) if value.lstrip("-").isdigit() else None
        elif key in ("-A", "--all-namespaces"):
            opts["all"] = True
        elif key in ("-p", "--previous"):
            opts["previous"] = True
        elif key in ("-f", "--follow"):
            opts["follow"] = True
        elif key == "--all-containers":
            opts["container"] = opts["container"] or "*"
        elif key in ("--kubeconfig", "--context", "--request-timeout", "--since"):
            pass
        elif a.startswith("-"):
            call.err(f"error: unknown flag: {key}\nSee 'kubectl --help' for usage.\n")
            return 1
        else:
            words.append(a)
        i += 1
    namespace = None if opts["all"] else (opts["namespace"] or "default")
    if words[:1] in (["delete"], ["scale"], ["rollout"]) or words[:2] in WORKLOAD_GETS:
        return await kubectl_write.run(call, kube, words, namespace, opts)
    if words[:2] in (["get", "pods"], ["get", "pod"], ["get", "po"]):
        if opts["output"] == "json":
            call.out(kube.pods_json(namespace, now, opts["selector"]))
            return 0
        pods = kube._listed(namespace, opts["selector"])
        if not pods:
            call.err(
                f"No resources found in {namespace} namespace.\n" if namespace else "No resources found\n"
            )
            return 0
        rows = [(p.namespace, p.name, kube.item(p, now), p) for p in pods]
        lines = [("NAMESPACE " if namespace is None else "") + "NAME READY STATUS RESTARTS AGE"]
        for ns, name, item, p in rows:
            cs = item["status"].get("containerStatuses", [{}])[0]
            state = cs.get("state", {})
            status = (state.get("waiting") or state.get("terminated") or {}).get("reason") or item["status"][
                "phase"
            ]
            ready = f"{1 if cs.get('ready') else 0}/1"
            lines.append(("" if namespace is not None else f"{ns} ") + f"{name} {ready} {status} "
                         f"{cs.get('restartCount', 0)} {age(now - p.created)}")  # fmt: skip
        widths = [max(len(r.split()[c]) for r in lines) for c in range(len(lines[0].split()))]
        for line in lines:
            call.out(
                "   ".join(w.ljust(n) for w, n in zip(line.split(), widths, strict=True)).rstrip() + "\n"
            )
        return 0
    if words[:1] == ["logs"] and len(words) == 2:
        pod = kube.pods.get(words[1])
        if pod is None or pod.namespace != (opts["namespace"] or "default"):
            call.err(f'Error from server (NotFound): pods "{words[1]}" not found\n')
            return 1
        container = pod.container if opts["container"] in (None, "*") else opts["container"]
        if container != pod.container:
            call.err(f"error: container {container} is not valid for pod {pod.name}\n")
            return 1
        if opts["previous"] and kube.restarts(pod, now) == 0:
            call.err(f'Error from server (BadRequest): previous terminated container "{container}" in pod '
                     f'"{pod.name}" not found\n')  # fmt: skip
            return 1
        text = kube.logs(pod, opts["previous"], now)
        if opts["tail"] is not None and opts["tail"] >= 0:
            text = "".join(text.splitlines(keepends=True)[-opts["tail"] :]) if opts["tail"] else ""
        call.out(text)
        if opts["follow"] and not opts["previous"]:
            await kubectl_write.follow(call, kube, pod)
        return 0
    what = " ".join(words) or ""
    call.err(
        f'error: unknown command "{what}" for "kubectl"\n'
        if words
        else "kubectl controls the Kubernetes cluster manager.\n"
    )
    return 1
