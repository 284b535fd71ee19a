"""The built-in actions, taken from the runbooks, merged with cluster.yaml's ``actions:``.

Each built-in cites the runbook section it comes from (runbooks/000 is Hydra's, 003 Oceanid's, 004
the GPU Cluster Platform's). They are :class:`ActionConfig` values, so they pass the checks a
config entry does. A config entry that reuses a built-in's name, or its key in the same scope,
replaces it only with ``override: true``; without it that is a config error naming both entries.
``--read-only`` hides every action that is not safe and refuses it if it is asked for by name.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from cockpit.actions.render import Invocation, Subject, render
from cockpit.actions.schema import ActionConfig, Scope
from cockpit.prom_config import KubeConfig
from cockpit.yaml_source import Loc


def _action(**fields: Any) -> ActionConfig:
    return ActionConfig.model_validate(fields)


BUILTINS: tuple[ActionConfig, ...] = (
    # 000 "Restart Services" / "Emergency Commands": sudo systemctl restart tabbyapi (ollama).
    # 003 "Using Triton": sudo systemctl restart tritonserver.
    _action(
        name="unit-restart",
        key="r",
        scope="unit",
        danger="disruptive",
        sudo=True,
        timeout=120,
        description="Restart the systemd unit",
        command="systemctl restart {unit}",
    ),
    # 000 "GPU Overheating": stop inference temporarily (sudo systemctl stop tabbyapi).
    _action(
        name="unit-stop",
        key="s",
        scope="unit",
        danger="disruptive",
        sudo=True,
        timeout=120,
        description="Stop the systemd unit",
        command="systemctl stop {unit}",
    ),
    # 000 "GPU Overheating": the way back after a stop.
    _action(
        name="unit-start",
        key="S",
        scope="unit",
        danger="disruptive",
        sudo=True,
        timeout=120,
        description="Start the systemd unit",
        command="systemctl start {unit}",
    ),
    # 000 "View Service Logs": journalctl -u tabbyapi -f --no-pager -n 100.
    _action(
        name="unit-logs",
        key="l",
        scope="unit",
        danger="safe",
        timeout=None,
        description="Follow the unit's journal",
        command="journalctl -u {unit} -f --no-pager -n 100",
    ),
    # 000 "Restart Services": docker restart <container_name>.
    _action(
        name="container-restart",
        key="r",
        scope="container",
        danger="disruptive",
        timeout=120,
        description="Restart the container",
        command="docker restart {container}",
    ),
    # 000 "Service Crash Loop" / Recovery: docker stop <container>.
    _action(
        name="container-stop",
        key="s",
        scope="container",
        danger="disruptive",
        timeout=120,
        description="Stop the container",
        command="docker stop {container}",
    ),
    # 000 "Service Crash Loop": start again once the cause is fixed.
    _action(
        name="container-start",
        key="S",
        scope="container",
        danger="disruptive",
        timeout=120,
        description="Start the container",
        command="docker start {container}",
    ),
    # 000 "View Service Logs": docker logs <container_name> --tail 100 -f; 004 "Docker Logs".
    _action(
        name="container-logs",
        key="l",
        scope="container",
        danger="safe",
        timeout=None,
        description="Follow the container's logs",
        command="docker logs {container} --tail 100 -f",
    ),
    # 000 "Restart Services": cd /mnt/user/appdata/hydra-stack && docker-compose restart;
    # 004 "Service Unavailable": docker compose restart. The stack dir comes from config.
    _action(
        name="compose-restart",
        key="R",
        scope="container",
        danger="disruptive",
        timeout=300,
        description="Restart every container of the compose project",
        command="cd {stack_dir} && docker compose -p {project} restart",
    ),
    # 000 "GPU Overheating": sudo nvidia-smi -pl 350, here for one GPU and within its own limits.
    _action(
        name="gpu-power-limit",
        key="p",
        scope="gpu",
        danger="disruptive",
        sudo=True,
        timeout=30,
        description="Set the GPU's power limit",
        inputs=[
            {
                "name": "watts",
                "type": "int",
                "min": "gpu.min_power_limit",
                "max": "gpu.max_power_limit",
                "description": "new power limit in watts",
            },
        ],
        command="nvidia-smi -i {gpu} -pl {input.watts}",
    ),
    # 000 "Emergency Commands": kill runaway GPU process. Not the runbook's blind
    # `nvidia-smi ... | xargs kill`: only the PIDs the cockpit read and showed for this GPU.
    _action(
        name="gpu-kill-processes",
        key="K",
        scope="gpu",
        danger="destructive",
        sudo=True,
        timeout=30,
        description="Kill the compute processes shown on this GPU",
        command="kill {pids}",
    ),
    # 000 "Disk Full": docker system prune (-af there; without -a here: tagged images stay).
    _action(
        name="docker-system-prune",
        scope="node",
        danger="destructive",
        timeout=600,
        concurrency=4,
        description="Remove stopped containers, unused networks, dangling images and build cache",
        command="docker system prune -f",
    ),
    # 000 "Weekly: Docker Cleanup": docker image prune -f.
    _action(
        name="docker-image-prune",
        scope="node",
        danger="destructive",
        timeout=600,
        concurrency=4,
        description="Remove dangling images",
        command="docker image prune -f",
    ),
    # 000 "Weekly: Docker Cleanup": docker builder prune -f.
    _action(
        name="docker-builder-prune",
        scope="node",
        danger="destructive",
        timeout=600,
        concurrency=4,
        description="Remove the build cache",
        command="docker builder prune -f",
    ),
    # 000 "Weekly: Log Rotation" and "Disk Full": find ... -name "*.log" -size +100M -exec truncate -s 0.
    _action(
        name="logs-truncate",
        scope="node",
        danger="destructive",
        sudo=True,
        timeout=300,
        concurrency=4,
        description="Empty the *.log files over a size under a directory",
        inputs=[
            {"name": "path", "type": "str", "default": "/mnt/user/appdata", "description": "directory"},
            {
                "name": "size_mb",
                "type": "int",
                "min": 1,
                "max": 1_000_000,
                "default": 100,
                "description": "truncate files larger than this many MB",
            },
        ],
        command="find {input.path} -type f -name '*.log' -size +{input.size_mb}M -exec truncate -s 0 {} +",
    ),
    # 000 "High Memory Usage": sync && echo 3 | sudo tee /proc/sys/vm/drop_caches.
    _action(
        name="drop-caches",
        scope="node",
        danger="disruptive",
        sudo=True,
        timeout=120,
        description="Write dirty pages and drop the page cache",
        command="sync && echo 3 > /proc/sys/vm/drop_caches",
    ),
    # 000 "Node Down" resolution table: kernel panic -> reboot.
    _action(
        name="node-reboot",
        scope="node",
        danger="destructive",
        sudo=True,
        timeout=60,
        concurrency=1,
        description="Reboot the node",
        command="systemctl reboot",
    ),
    # 002 "Startup Failures": kubectl logs hdc-toolkit-pod --previous (why did it crash?).
    _action(
        name="pod-logs-previous",
        key="L",
        scope="pod",
        danger="safe",
        timeout=60,
        description="The crashed container's last logs (kubectl logs --previous)",
        command="{kubectl} logs --namespace {namespace} {pod} --all-containers --previous --tail=200",
    ),
    # 002 "CUDA Out of Memory": kubectl logs hdc-gpu-pod | grep -i cuda; here followed.
    _action(
        name="pod-logs",
        key="l",
        scope="pod",
        danger="safe",
        timeout=None,
        description="Follow the pod's logs",
        command="{kubectl} logs --namespace {namespace} {pod} --all-containers --tail=100 -f",
    ),
    # 002 "Memory Leak" / "CUDA Out of Memory": kubectl delete pods (its controller recreates it).
    _action(
        name="pod-delete",
        key="d",
        scope="pod",
        danger="destructive",
        timeout=120,
        description="Delete the pod; its Deployment or StatefulSet starts a new one",
        command="{kubectl} delete pod --namespace {namespace} {pod}",
    ),
    # 002 "High Latency": kubectl scale deployment hdc-toolkit --replicas=6.
    _action(
        name="deployment-scale",
        key="s",
        scope="pod",
        danger="disruptive",
        timeout=60,
        description="Scale the pod's Deployment",
        inputs=[
            {"name": "replicas", "type": "int", "min": 0, "max": 1000, "description": "replicas wanted"},
        ],
        command="{kubectl} scale --namespace {namespace} deployment/{deployment} --replicas={input.replicas}",
    ),
    # 002 "Startup Failures": kubectl rollout undo deployment/hdc-toolkit.
    _action(
        name="deployment-rollout-undo",
        key="u",
        scope="pod",
        danger="disruptive",
        timeout=120,
        description="Roll the pod's Deployment back to its previous revision",
        command="{kubectl} rollout undo --namespace {namespace} deployment/{deployment}",
    ),
    # 002 "Memory Leak": restart affected pods (kubectl delete pods -l app=...), the way that keeps
    # the Deployment serving while it happens.
    _action(
        name="deployment-rollout-restart",
        key="R",
        scope="pod",
        danger="disruptive",
        timeout=120,
        description="Replace every pod of the pod's Deployment (rollout restart)",
        command="{kubectl} rollout restart --namespace {namespace} deployment/{deployment}",
    ),
    # 000 "Node Down" diagnosis: ping the node, from here.
    _action(
        name="node-ping",
        scope="node",
        run_on="local",
        danger="safe",
        timeout=30,
        description="Ping the node from this machine",
        command="ping -c 3 {host}",
    ),
)


def builtins_for(kube: KubeConfig | None) -> tuple[ActionConfig, ...]:
    """Pod actions run kubectl where the cockpit reads the pods: on ``kube.via_node`` over SSH,
    or here when ``kube:`` names no node; without ``kube:`` there are no pods to act on."""
    if kube is None:
        return tuple(a for a in BUILTINS if a.scope != "pod")
    if kube.via_node is not None:
        return BUILTINS
    return tuple(a.model_copy(update={"run_on": "local"}) if a.scope == "pod" else a for a in BUILTINS)


class ActionConflict(ValueError):
    """A config entry that collides with another; ``loc`` is its place in cluster.yaml."""

    def __init__(self, loc: Loc, message: str) -> None:
        super().__init__(message)
        self.loc = loc
        self.message = message


class ReadOnlyError(PermissionError):
    """An action that is not safe, asked for while the cockpit is read-only."""


def refuse_if_read_only(name: str, danger: str, read_only: bool) -> None:
    if read_only and danger != "safe":
        raise ReadOnlyError(
            f"read-only mode: {name!r} is {danger} and will not run (only safe actions run with --read-only)"
        )


def _describe(entry: ActionConfig, index: int | None) -> str:
    return f"built-in {entry.name}" if index is None else f"actions[{index}] ({entry.name})"


def merge(
    configured: Sequence[ActionConfig], builtins: Iterable[ActionConfig] = BUILTINS
) -> tuple[ActionConfig, ...]:
    """Built-ins, then config entries; an override replaces every built-in it collides with."""
    merged: list[tuple[ActionConfig, int | None]] = [(b, None) for b in builtins]
    for i, entry in enumerate(configured):
        clashes = [
            (other, where)
            for other, where in merged
            if other.name == entry.name
            or (entry.key is not None and other.key == entry.key and other.scope == entry.scope)
        ]
        for other, where in clashes:
            field = "name" if other.name == entry.name else "key"
            what = f"name {entry.name!r}" if field == "name" else f"key {entry.key!r} in scope {entry.scope}"
            if where is not None:
                raise ActionConflict(
                    ("actions", i, field),
                    f"{what} is already used by {_describe(other, where)} (expected unique names and keys)",
                )
            if not entry.override:
                raise ActionConflict(
                    ("actions", i, field),
                    f"{what} is already used by {_describe(other, None)} (set override: true to replace it)",
                )
        if entry.override and not clashes:
            raise ActionConflict(
                ("actions", i, "override"),
                f"override: true but no built-in action is named {entry.name!r}"
                + (f" or uses key {entry.key!r} in scope {entry.scope}" if entry.key else "")
                + " (expected a built-in's name or key, or no override)",
            )
        replaced = {id(other) for other, _ in clashes}
        merged = [(a, w) for a, w in merged if id(a) not in replaced]
        merged.append((entry, i))
    return tuple(a for a, _ in merged)


class Catalog:
    """The actions this cockpit offers; the one place read-only mode hides and refuses them."""

    def __init__(self, actions: Sequence[ActionConfig], *, read_only: bool = False) -> None:
        self._all = tuple(actions)
        self._by_name = {a.name: a for a in self._all}
        self.read_only = read_only

    @classmethod
    def from_config(
        cls,
        configured: Sequence[ActionConfig] = (),
        *,
        read_only: bool = False,
        kube: KubeConfig | None = None,
    ) -> Catalog:
        return cls(merge(configured, builtins_for(kube)), read_only=read_only)

    def visible(self, scope: Scope | None = None) -> tuple[ActionConfig, ...]:
        """What may be offered (palette, bindings, help): safe ones only when read-only."""
        return tuple(
            a
            for a in self._all
            if (scope is None or a.scope == scope) and not (self.read_only and a.danger != "safe")
        )

    def by_key(self, scope: Scope, key: str) -> ActionConfig | None:
        for action in self.visible(scope):
            if action.key == key:
                return action
        return None

    def get(self, name: str) -> ActionConfig:
        """The action called ``name``; KeyError if there is none, ReadOnlyError if it may not run."""
        action = self._by_name.get(name)
        if action is None:
            raise KeyError(f"no action named {name!r}")
        refuse_if_read_only(action.name, action.danger, self.read_only)
        return action

    def render(
        self, action: str | ActionConfig, subject: Subject, inputs: Mapping[str, object] | None = None
    ) -> Invocation:
        """Render through the read-only gate: the way the UI and the CLI should render."""
        if isinstance(action, str):
            action = self.get(action)
        refuse_if_read_only(action.name, action.danger, self.read_only)
        return render(action, subject, inputs or {})
