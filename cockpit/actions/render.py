"""An action plus what it acts on plus the operator's inputs -> the exact command that will run.

Every value is put in with :func:`shlex.quote` (templates keep placeholders outside quotes, see
:mod:`cockpit.actions.template`), so a container called ``x; rm -rf /`` stays one argument. Names that
come from the nodes (containers, units) are remote text: control characters or a leading ``-`` (which
a tool would read as an option) are refused rather than quoted. The command shown to the operator and
recorded in the audit log is rendered a second time with every secret replaced by «redacted», so no
quoting of a secret's value can make it slip through a text search-and-replace.
"""

from __future__ import annotations

import math
import os
import re
import shlex
from collections.abc import Mapping
from dataclasses import dataclass, field

from cockpit.actions.schema import NODE_BOUND, ActionConfig, InputSpec
from cockpit.actions.template import Placeholder, Secret, parse
from cockpit.config import Cluster, NodeConfig
from cockpit.secrets import REDACTED, SecretError, redact

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_INT = re.compile(r"^[+-]?\d{1,18}$")
SUDO = "sudo -n"
"""``-n``: never prompt. A password prompt would hang the action; without NOPASSWD it fails at once."""


class RenderError(ValueError):
    """One line naming the value and what is wrong with it ("watts: 900 is above ...")."""


@dataclass(frozen=True, slots=True)
class NodeTarget:
    name: str
    host: str
    user: str | None = None
    """The SSH user the command runs as (root needs no sudo); None when ~/.ssh/config decides."""

    @classmethod
    def from_config(cls, node: NodeConfig, cluster: Cluster) -> NodeTarget:
        return cls(node.name, node.host, node.user or cluster.ssh.user)


@dataclass(frozen=True, slots=True)
class GpuTarget:
    index: int
    min_power_w: float | None = None
    """``power.min_limit`` as read from the node; None if it was not read."""
    max_power_w: float | None = None
    pids: tuple[int, ...] = ()
    """The compute processes the cockpit read on this GPU (and showed the operator)."""


@dataclass(frozen=True, slots=True)
class Subject:
    """What an action acts on; a scope needs its own field (and a node, to run there)."""

    node: NodeTarget | None = None
    gpu: GpuTarget | None = None
    container: str | None = None
    project: str | None = None
    """The container's compose project (label com.docker.compose.project)."""
    stack_dir: str | None = None
    """Where that project's compose file lives on the node (from config)."""
    unit: str | None = None
    service: str | None = None
    pod: str | None = None
    namespace: str | None = None
    """The pod's namespace."""
    deployment: str | None = None
    """The Deployment that owns the pod (None for a StatefulSet's, a Job's or a bare pod)."""
    kubectl: tuple[str, ...] = ("kubectl",)
    """kubectl and the flags that reach the cluster (kubeconfig, context), as separate words."""

    @property
    def label(self) -> str:
        """The target's own name: what a destructive action's confirmation asks to be typed back."""
        node = self.node.name if self.node else ""
        for value in (self.container, self.unit, self.service, self.pod):
            if value:
                return value
        if self.gpu is not None:
            return f"{node}/gpu{self.gpu.index}" if node else f"gpu{self.gpu.index}"
        return node or "cluster"


@dataclass(frozen=True, slots=True)
class Invocation:
    """One rendered action, ready to confirm, run and record."""

    action: str
    display: str
    """The command as shown and audited: exactly ``command`` with each secret as «redacted»."""
    run_on: str
    node: str | None
    host: str | None
    user: str | None
    """The SSH user it runs as; None for a local action (it runs as whoever runs the cockpit)."""
    danger: str
    target: str
    confirm: bool
    timeout: float | None
    sudo: bool
    """Whether ``sudo -n`` was put in front (the runner's stop signal needs it too)."""
    inputs: Mapping[str, str | int | float] = field(default_factory=dict)
    command: str = field(default="", repr=False)
    """What runs: remote, through the login shell; local, split into ``argv``. May hold secrets."""
    argv: tuple[str, ...] | None = field(default=None, repr=False)
    secrets: tuple[str, ...] = field(default=(), repr=False)
    """Revealed secret values, to redact from the output too."""


def _num(value: float) -> str:
    return str(value) if isinstance(value, int) else f"{value:.15g}"


def _bound(spec: InputSpec, which: str, gpu: GpuTarget | None) -> tuple[float | None, str]:
    """The limit and how to name it: a number, or the GPU's own power limit."""
    value = spec.min if which == "min" else spec.max
    if isinstance(value, str):
        if gpu is None:
            raise RenderError(f"{spec.name}: needs a GPU to check against (this action has none)")
        own = gpu.min_power_w if which == "min" else gpu.max_power_w
        if own is None:
            raise RenderError(
                f"{spec.name}: the GPU's {which} power limit was not read from the node, so the value"
                " cannot be checked (refusing to guess)"
            )
        return own, f"the GPU's {which} power limit {_num(own)} W"
    return (
        value,
        f"the {'minimum' if which == 'min' else 'maximum'} {_num(value)}" if value is not None else "",
    )


def _coerce(spec: InputSpec, raw: object) -> str | int | float:
    name = spec.name
    if spec.type == "int":
        if isinstance(raw, bool):
            raise RenderError(f"{name}: {raw} is not a whole number")
        if isinstance(raw, float) and raw.is_integer():
            raw = int(raw)
        if isinstance(raw, str) and _INT.match(raw.strip()):
            raw = int(raw.strip())
        if not isinstance(raw, int):
            raise RenderError(f"{name}: {str(raw)[:40]!r} is not a whole number")
        return raw
    if spec.type == "float":
        if isinstance(raw, bool):
            raise RenderError(f"{name}: {raw} is not a number")
        try:
            value = float(raw.strip()) if isinstance(raw, str) else float(raw)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            raise RenderError(f"{name}: {str(raw)[:40]!r} is not a number") from None
        if not math.isfinite(value):
            raise RenderError(f"{name}: {raw} is not a finite number")
        return value
    text = raw if isinstance(raw, str) else str(raw)
    if spec.type == "choice":
        options = [str(c) for c in spec.choices or ()]
        if text not in options:
            raise RenderError(f"{name}: {text[:40]!r} is not one of {', '.join(options)}")
        return text
    if _CONTROL.search(text):
        raise RenderError(f"{name}: control characters (newlines, escapes) are not allowed")
    return text


def validate_inputs(
    action: ActionConfig, given: Mapping[str, object], gpu: GpuTarget | None = None
) -> dict[str, str | int | float]:
    """The operator's inputs, typed and checked against the action's limits (and the GPU's)."""
    declared = {spec.name for spec in action.inputs}
    unknown = sorted(set(given) - declared)
    if unknown:
        expected = ", ".join(sorted(declared)) or "none"
        raise RenderError(f"{unknown[0]}: not an input of {action.name} (expected: {expected})")
    values: dict[str, str | int | float] = {}
    for spec in action.inputs:
        raw = given.get(spec.name)
        if raw is None or (isinstance(raw, str) and not raw.strip() and spec.type != "str"):
            raw = spec.default
        if raw is None:
            raise RenderError(f"{spec.name}: a value is required")
        value = _coerce(spec, raw)
        if isinstance(value, int | float):
            low, low_text = _bound(spec, "min", gpu)
            high, high_text = _bound(spec, "max", gpu)
            if low is not None and value < low:
                raise RenderError(f"{spec.name}: {_num(value)} is below {low_text}")
            if high is not None and value > high:
                raise RenderError(f"{spec.name}: {_num(value)} is above {high_text}")
        values[spec.name] = value
    return values


def _remote_name(what: str, value: str) -> str:
    if not value:
        raise RenderError(f"{what}: the name is empty")
    if _CONTROL.search(value):
        raise RenderError(f"{what}: {value[:40]!r} contains control characters; refusing to use it")
    if value.startswith("-"):
        raise RenderError(
            f"{what}: {value[:40]!r} starts with '-', which the command would read as an option"
        )
    return value


_REMOTE = ("container", "project", "stack_dir", "unit", "service", "pod", "namespace", "deployment")
"""Names read from the nodes (or typed in config for them): checked before they are used."""
_MISSING = {
    "container": "no container selected",
    "unit": "no unit selected",
    "service": "no service selected",
    "project": "the container belongs to no compose project",
    "stack_dir": "no stack directory is configured for this compose project",
    "pod": "no pod selected",
    "namespace": "the pod has no namespace",
    "deployment": "the pod belongs to no Deployment (a StatefulSet's, a Job's or a bare pod)",
}


def _subject_values(subject: Subject) -> dict[str, str]:
    values: dict[str, str] = {}
    if subject.node is not None:
        values.update(node=subject.node.name, host=subject.node.host)
        if subject.node.user:
            values["user"] = subject.node.user
    if subject.gpu is not None:
        values["gpu"] = str(subject.gpu.index)
    for what in _REMOTE:
        value = getattr(subject, what)
        if value is not None:
            values[what] = value
    return values


def _fill(
    action: ActionConfig, subject: Subject, values: Mapping[str, str], reveal: bool
) -> tuple[str, list[str]]:
    secrets: list[str] = []
    out: list[str] = []
    for part in parse(action.command).parts:
        if isinstance(part, str):
            out.append(part)
        elif isinstance(part, Secret):
            if reveal:
                try:
                    value = part.ref.reveal()
                except SecretError as exc:
                    raise RenderError(f"command: {exc}") from None
                secrets.append(value)
                out.append(shlex.quote(value))
            else:
                out.append(shlex.quote(REDACTED))
        elif part.name == "kubectl":
            out.append(shlex.join(subject.kubectl))
        elif part.name == "pids":
            pids = subject.gpu.pids if subject.gpu else ()
            if not pids:
                raise RenderError(
                    "pids: no compute processes were read on this GPU, so there is nothing to kill"
                )
            out.append(" ".join(shlex.quote(str(int(pid))) for pid in pids))
        else:
            out.append(shlex.quote(_value(part, values)))
    return "".join(out), secrets


def _value(part: Placeholder, values: Mapping[str, str]) -> str:
    if part.name not in values:
        raise RenderError(f"{part.name}: {_MISSING.get(part.name, 'no value for it')}")
    value = values[part.name]
    return _remote_name(part.name, value) if part.name in _REMOTE else value


def applies(action: ActionConfig, subject: Subject) -> bool:
    """Whether the subject has every name the command needs, so a menu offers only what can run:
    no "scale the Deployment" on a StatefulSet's pod, no "restart the compose project" on a
    container of none."""
    values = _subject_values(subject)
    return all(
        p.input_name is not None or p.name in ("kubectl", "pids") or p.name in values
        for p in parse(action.command).placeholders
    )


def _scope_check(action: ActionConfig, subject: Subject) -> None:
    needs = {
        "gpu": subject.gpu,
        "container": subject.container,
        "unit": subject.unit,
        "service": subject.service,
        "pod": subject.pod,
    }
    if action.scope in needs and needs[action.scope] is None:
        raise RenderError(f"{action.name} acts on a {action.scope}, and none was given")
    if (action.run_on == "node" or action.scope in NODE_BOUND) and subject.node is None:
        raise RenderError(f"{action.name} runs on a node, and none was given")


def _with_sudo(command: str, simple: bool) -> str:
    return f"{SUDO} {command}" if simple else f"{SUDO} sh -c {shlex.quote(command)}"


def render(action: ActionConfig, subject: Subject, inputs: Mapping[str, object]) -> Invocation:
    """Fill the template; raises :class:`RenderError` (one line) on any value it will not run."""
    _scope_check(action, subject)
    typed = validate_inputs(action, inputs, subject.gpu)
    values = _subject_values(subject)
    values.update({f"input.{k}": v if isinstance(v, str) else _num(v) for k, v in typed.items()})
    command, secrets = _fill(action, subject, values, reveal=True)
    shown, _ = _fill(action, subject, values, reveal=False)
    node = subject.node
    local = action.run_on == "local"
    as_root = os.geteuid() == 0 if local else bool(node and node.user == "root")
    sudo = action.sudo and not as_root
    if sudo:
        simple = parse(action.command).simple
        command, shown = _with_sudo(command, simple), _with_sudo(shown, simple)
    return Invocation(
        action=action.name,
        display=redact(shown, secrets),
        run_on=action.run_on,
        node=node.name if node else None,
        host=node.host if node else None,
        user=node.user if node and not local else None,
        danger=action.danger,
        target=subject.label,
        confirm=action.needs_confirm,
        timeout=action.timeout,
        sudo=sudo,
        inputs=typed,
        command=command,
        argv=tuple(shlex.split(command)) if local else None,
        secrets=tuple(secrets),
    )
