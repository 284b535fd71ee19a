"""``cockpit action NAME --node N [...]``: one action from a shell or a script, same rules as the TUI.

It reads the node first (one engine cycle), so a GPU's power range and PIDs are the ones the
cockpit saw, then shows the exact command and host, asks (``--yes`` skips; a destructive action
wants the target's name typed), streams the output, records the audit trail, and exits with the
command's own exit status. Read-only mode refuses anything that is not safe, saying so.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
from collections.abc import Callable
from dataclasses import dataclass, field

from cockpit.actions.audit import AuditLog
from cockpit.actions.catalog import Catalog, ReadOnlyError
from cockpit.actions.render import RenderError
from cockpit.actions.runner import run
from cockpit.actions.subjects import Target, node_target, pod_target, target_for
from cockpit.config import Cluster
from cockpit.engine import Engine
from cockpit.sanitize import clean

EXIT_USAGE = 2
EXIT_NOT_RUN = 3


@dataclass
class Request:
    action: str
    node: str | None
    """None only with ``pod``: a pod's kubectl runs on ``kube.via_node`` (or here)."""
    gpu: int | None = None
    container: str | None = None
    unit: str | None = None
    inputs: dict[str, str] = field(default_factory=dict)
    yes: bool = False
    read_only: bool = False
    pod: str | None = None
    """``NAMESPACE/NAME``."""


def parse_inputs(pairs: list[str]) -> dict[str, str]:
    out = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name:
            raise ValueError(f"--set {pair!r}: expected NAME=VALUE")
        out[name.strip()] = value
    return out


async def _target(cluster: Cluster, request: Request) -> Target | None:
    """What the cockpit reads of the node (or the pods) now, as the action's subject."""
    engine = Engine(cluster.model_copy(update={"nodes": _with_jumps(cluster, request.node), "services": []}))
    try:
        state = await engine.cycle(wait=cluster.ssh.connect_timeout + cluster.ssh.command_timeout + 2)
    finally:
        await engine.close()
    if request.pod is not None:
        namespace, _, name = request.pod.partition("/")
        return pod_target(state, cluster, namespace, name)
    if request.node is None:
        return None
    if request.gpu is not None:
        return target_for(state, cluster, "gpus", (request.node, request.gpu))
    if request.container is not None:
        return target_for(state, cluster, "containers", (request.node, request.container))
    if request.unit is not None:
        return target_for(state, cluster, "units", (request.node, request.unit))
    return node_target(state, cluster, request.node)


def _with_jumps(cluster: Cluster, name: str | None) -> list:  # type: ignore[type-arg]
    """The node and the jump hosts it is reached through (they must be in the pool)."""
    if name is None:
        return []
    chain = [cluster.node(name)]
    while chain[-1].jump is not None:
        try:
            chain.append(cluster.node(chain[-1].jump))
        except KeyError:
            break
    return chain


def _confirm(prompt: Callable[[str], str], target: str, destructive: bool) -> bool:
    try:
        if destructive:
            return prompt(f"destructive: type {target} to run it: ").strip() == target
        return prompt("run it? [y/N] ").strip().lower() in ("y", "yes")
    except EOFError:
        return False


async def run_action(
    cluster: Cluster,
    request: Request,
    *,
    out: Callable[[str], None] = print,
    err: Callable[[str], None] = lambda line: print(line, file=sys.stderr),
    prompt: Callable[[str], str] = input,
    audit: AuditLog | None = None,
) -> int:
    catalog = Catalog.from_config(
        cluster.actions, read_only=request.read_only or cluster.read_only, kube=cluster.kube
    )
    if request.pod is not None:
        if cluster.kube is None:
            err("cockpit action: --pod needs a kube: section in the config")
            return EXIT_USAGE
        request.node = cluster.kube.via_node
    elif request.node is None:
        err("cockpit action: give --node (or --pod NAMESPACE/NAME for a pod action)")
        return EXIT_USAGE
    try:
        action = catalog.get(request.action)
        if request.node is not None:
            cluster.node(request.node)
    except ReadOnlyError as exc:
        err(f"cockpit action: {exc}")
        return EXIT_USAGE
    except KeyError as exc:
        err(f"cockpit action: {exc.args[0] if exc.args else exc}")
        return EXIT_USAGE
    target = await _target(cluster, request)
    if target is None and request.pod is not None:
        err(clean(f"cockpit action: no pod {request.pod} in what kubectl listed (give --pod NAMESPACE/NAME)"))
        return EXIT_USAGE
    if target is None or target.scope != action.scope:
        wanted = {
            "gpu": "--gpu",
            "container": "--container",
            "unit": "--unit",
            "pod": "--pod NAMESPACE/NAME",
        }.get(action.scope, "")
        err(
            f"cockpit action: {action.name} acts on a {action.scope}"
            + (f" (give {wanted})" if wanted else "")
        )
        return EXIT_USAGE
    try:
        invocation = catalog.render(action, target.subject, request.inputs)
    except (RenderError, ReadOnlyError) as exc:
        err(f"cockpit action: {exc}")
        return EXIT_USAGE
    where = (
        f"{invocation.user}@{invocation.node} ({invocation.host})"
        if invocation.run_on == "node"
        else "this machine"
    )
    out(clean(f"{action.description or action.name} [{action.danger}] on {where}:"))
    out(clean(f"  $ {invocation.display}"))
    if not request.yes and not _confirm(prompt, invocation.target, action.danger == "destructive"):
        err("cockpit action: not confirmed; nothing ran")
        return EXIT_NOT_RUN
    cancel = asyncio.Event()
    loop = asyncio.get_running_loop()
    with contextlib.suppress(NotImplementedError, RuntimeError):
        loop.add_signal_handler(signal.SIGINT, cancel.set)
    engine = Engine(cluster.model_copy(update={"nodes": _with_jumps(cluster, request.node), "services": []}))
    try:
        result = await run(
            invocation,
            engine.pool,
            lambda stream, line: (err if stream == "stderr" else out)(line),
            audit=audit if audit is not None else AuditLog(),
            cancel=cancel,
            read_only=catalog.read_only,
        )
    finally:
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.remove_signal_handler(signal.SIGINT)
        await engine.close()
    err(f"cockpit action: {result.summary}")
    if result.ok:
        return 0
    return result.exit_status if result.exit_status not in (None, 0) else 1
