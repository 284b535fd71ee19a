"""Runbook 001's remediations for the rented fleet: restart a P2P orchestrator, stop or destroy instances.

Two kinds, because two kinds of thing answer them:

- Restarting an orchestrator is a shell command on a node ("Scenario 1", step 3), so it is an
  ordinary :class:`ActionConfig` that the existing renderer quotes and the runner streams over SSH.
- Stopping and destroying an instance are REST calls ("Scenario 2": ``vastai stop instance ID``).
  An argv for ``run_on: local`` would need the ``vastai`` CLI and the key in its environment; instead
  :class:`ApiAction` is data like ActionConfig, :func:`render_api` turns it into an
  :class:`ApiInvocation` (the exact request line shown on the confirm screen, the target's name to
  type back), and :func:`run_api` makes the call through :class:`VastClient` and writes the audit
  log before and after, with the same records and :class:`Result` as a shell action. The key is
  never in the request line, nor in the audit log.

"Stop all idle instances" is a bulk plan: the idle instances, their $/h saved, one call each.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import cockpit.config  # noqa: F401  (config loads fleet_config at its end: it must come first)
from cockpit.actions.audit import AuditLog
from cockpit.actions.catalog import refuse_if_read_only
from cockpit.actions.runner import Outcome, Result
from cockpit.actions.schema import ActionConfig
from cockpit.fleet_config import P2P_DEFAULT_PORT, P2PConfig
from cockpit.fleet_model import Instance
from cockpit.fleet_rules import IdleTracker
from cockpit.sources.vast import ApiResult, VastClient

RESTART_P2P_COMMAND = (
    "cd ~/ringrift/ai-service || exit 1; mkdir -p logs; "
    "pkill -f '^[^ ]*python[^ ]* [^ ]*p2p_orchestrator'; "
    "nohup python scripts/p2p_orchestrator.py --node-id {node} --port {input.port} --peers {input.peers}"
    " > logs/p2p.log 2>&1 < /dev/null & "
    "sleep 4; curl -s --max-time 5 http://localhost:{input.port}/health"
)
"""Runbook 001, Scenario 1 step 3, made safe to run through ``sh -c``:

``cd ~/ringrift/ai-service && pkill -f p2p_orchestrator; nohup python scripts/p2p_orchestrator.py
--node-id vast-INSTANCE_ID --port 8770 --peers 100.107.168.125:8770 > logs/p2p.log 2>&1 &``

- ``pkill -f p2p_orchestrator`` matches the remote shell's own command line (it contains that
  word), so it would kill the shell before ``nohup`` runs; the anchored pattern matches only a
  command line that *starts* with python, as the orchestrator's does;
- ``|| exit 1`` instead of ``&&``: with ``&&;`` a failed ``cd`` would still kill and restart;
- ``< /dev/null`` so the orchestrator holds no end of the SSH channel; ``sleep 4; curl .../health``
  is how ``vast_p2p_sync.py`` confirms the start, and shows the answer in the log pane.
"""


def restart_p2p_action(seeds: Sequence[P2PConfig] = (), *, port: int = P2P_DEFAULT_PORT) -> ActionConfig:
    """The restart action; ``--peers`` defaults to every configured orchestrator (``host:port``)."""
    peers = ",".join(dict.fromkeys(c.host_port for c in seeds)) or f"127.0.0.1:{port}"
    return ActionConfig.model_validate(
        {
            "name": "p2p-restart",
            "key": "P",
            "scope": "node",
            "danger": "disruptive",
            "timeout": 60,
            "concurrency": 4,
            "description": "Restart the P2P orchestrator on the node (runbook 001, Scenario 1)",
            "inputs": [
                {
                    "name": "port",
                    "type": "int",
                    "min": 1,
                    "max": 65535,
                    "default": port,
                    "description": "orchestrator port",
                },
                {
                    "name": "peers",
                    "type": "str",
                    "default": peers,
                    "description": "bootstrap peers, host:port,host:port",
                },
            ],
            "command": RESTART_P2P_COMMAND,
        }
    )


# -- API actions --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ApiAction:
    """An action that is one REST call on a rented instance."""

    name: str
    key: str | None
    description: str
    danger: str
    method: str
    path: str
    """With ``{id}`` for the instance id."""
    body: Mapping[str, Any] | None
    timeout: float = 30.0
    scope: str = "instance"

    @property
    def needs_confirm(self) -> bool:
        return self.danger != "safe"


STOP_INSTANCE = ApiAction(
    name="vast-stop",
    key="s",
    description="Stop the instance: GPU billing ends, the disk stays (runbook 001, Scenario 2)",
    danger="disruptive",
    method="PUT",
    path="/api/v0/instances/{id}/",
    body={"state": "stopped"},
)
DESTROY_INSTANCE = ApiAction(
    name="vast-destroy",
    key="D",
    description="Destroy the instance and its disk (irreversible)",
    danger="destructive",
    method="DELETE",
    path="/api/v0/instances/{id}/",
    body={},
)
API_ACTIONS: tuple[ApiAction, ...] = (STOP_INSTANCE, DESTROY_INSTANCE)


@dataclass(frozen=True, slots=True)
class ApiInvocation:
    """A rendered API action; has every field :class:`AuditLog` reads from an ``Invocation``."""

    action: str
    display: str
    """``PUT https://console.vast.ai/api/v0/instances/123/ {"state": "stopped"}``: shown and audited."""
    host: str
    danger: str
    target: str
    """What a destructive action's confirmation asks to be typed back: the label, else the id."""
    confirm: bool
    timeout: float
    instance_id: int
    method: str
    path: str
    body: Mapping[str, Any] | None
    run_on: str = "api"
    node: str | None = None
    user: str | None = None
    sudo: bool = False
    inputs: Mapping[str, str | int | float] = field(default_factory=dict)
    secrets: tuple[str, ...] = field(default=(), repr=False)


def render_api(
    action: ApiAction, instance: Instance, client: VastClient, *, read_only: bool = False
) -> ApiInvocation:
    """The exact call, for the confirm screen; refuses anything but a safe action when read-only."""
    refuse_if_read_only(action.name, action.danger, read_only)
    path = action.path.format(id=int(instance.id))
    body = dict(action.body) if action.body is not None else None
    return ApiInvocation(
        action=action.name,
        display=client.request_line(action.method, path, body),
        host=client.base,
        danger=action.danger,
        target=instance.label or str(instance.id),
        confirm=action.needs_confirm,
        timeout=action.timeout,
        instance_id=instance.id,
        method=action.method,
        path=path,
        body=body,
        inputs={"instance": instance.id},
    )


def _result(invocation: ApiInvocation, outcome: ApiResult) -> Result:
    if outcome.ok:
        state = Outcome.OK
    elif outcome.status_code is None and outcome.message.startswith("timeout"):
        state = Outcome.TIMED_OUT
    elif outcome.status_code is None:
        state = Outcome.UNREACHABLE
    else:
        state = Outcome.FAILED
    return Result(
        action=invocation.action,
        node=None,
        outcome=state,
        exit_status=outcome.status_code,
        duration_s=outcome.duration_s,
        bytes_out=len(json.dumps(outcome.body)) if outcome.body is not None else 0,
        error=None if outcome.ok else outcome.message,
    )


async def run_api(
    invocation: ApiInvocation,
    client: VastClient,
    *,
    audit: AuditLog | None = None,
    sink: Callable[[str], None] | None = None,
    read_only: bool = False,
) -> Result:
    """Make the call: audit record first (no record, no call), then the request, then the end record.

    ``exit_status`` of the result is the HTTP status. ``sink`` gets the log pane's lines.
    """
    refuse_if_read_only(invocation.action, invocation.danger, read_only)
    record = audit.start(invocation) if audit is not None else None  # type: ignore[arg-type]
    if sink:
        sink(f"$ {invocation.display}")
    try:
        async with asyncio.timeout(invocation.timeout):
            outcome = await client.call(
                invocation.method, invocation.path, invocation.body and dict(invocation.body)
            )
    except TimeoutError:
        outcome = ApiResult(False, None, f"timeout after {invocation.timeout:g}s")
    result = _result(invocation, outcome)
    if sink:
        status = f"HTTP {outcome.status_code}" if outcome.status_code is not None else "no answer"
        sink(f"{status}: {outcome.message}")
    if audit is not None and record is not None:
        audit.end(record, invocation, result)  # type: ignore[arg-type]
    return result


# -- bulk: stop every idle instance -------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class IdlePlan:
    """What "stop all idle" will do: which instances, and the $/h it saves (their GPU price)."""

    instances: tuple[Instance, ...]
    saves_usd_h: float
    idle_for_s: Mapping[int, float]

    @property
    def summary(self) -> str:
        n = len(self.instances)
        return f"stop {n} idle instance{'s' if n != 1 else ''}, saving ${self.saves_usd_h:.2f}/h"

    def lines(self) -> list[str]:
        """One line per instance for the confirm screen."""
        out = []
        for inst in self.instances:
            gpus = f"{inst.gpu_name or '?'} x{inst.num_gpus or '?'}"
            idle = self.idle_for_s.get(inst.id, 0.0) / 60
            out.append(f"{inst.id}  {inst.name}  {gpus}  ${inst.dph_total or 0:.3f}/h  idle {idle:.0f} min")
        return out


def plan_stop_idle(instances: Iterable[Instance], idle: IdleTracker, now: float) -> IdlePlan:
    """Running instances idle for at least the tracker's ``after_s``; storage keeps billing after."""
    chosen = idle.idle_instances(instances, now)
    saved = sum((i.dph_total or 0.0) - (i.storage_usd_h or 0.0) for i in chosen)
    return IdlePlan(chosen, max(0.0, saved), {i.id: idle.idle_for(i.id, now) or 0.0 for i in chosen})


async def stop_idle(
    plan: IdlePlan,
    client: VastClient,
    *,
    audit: AuditLog | None = None,
    sink: Callable[[str], None] | None = None,
    read_only: bool = False,
    concurrency: int = 4,
) -> tuple[Result, ...]:
    """Stop each planned instance (at most ``concurrency`` calls at once); one audited call each."""
    refuse_if_read_only(STOP_INSTANCE.name, STOP_INSTANCE.danger, read_only)
    gate = asyncio.Semaphore(max(1, concurrency))

    async def one(inst: Instance) -> Result:
        async with gate:
            invocation = render_api(STOP_INSTANCE, inst, client, read_only=read_only)
            return await run_api(invocation, client, audit=audit, sink=sink, read_only=read_only)

    return tuple(await asyncio.gather(*(one(i) for i in plan.instances)))
