"""Fleet actions: the restart command as sh will read it, and audited API calls against the simulated API."""

from __future__ import annotations

import json
import re
import shlex
import subprocess
from pathlib import Path

import pytest

from cockpit.actions.audit import AuditLog, read_records
from cockpit.actions.catalog import ReadOnlyError, merge
from cockpit.actions.render import NodeTarget, Subject, render
from cockpit.actions.runner import Outcome
from cockpit.fleet_actions import (
    DESTROY_INSTANCE,
    RESTART_P2P_COMMAND,
    STOP_INSTANCE,
    plan_stop_idle,
    render_api,
    restart_p2p_action,
    run_api,
    stop_idle,
)
from cockpit.fleet_config import P2PConfig, VastConfig
from cockpit.fleet_model import InstancesReading
from cockpit.fleet_rules import IdleTracker
from cockpit.sim.vast import SIM_API_KEY, VastApiSim, demo_instances
from cockpit.sources.vast import VastClient

T = 1767225600.0
NODE = NodeTarget("vast-28889768", "ssh5.vast.ai", "root")


def test_restart_renders_the_runbook_command_with_node_and_peers() -> None:
    seeds = [
        P2PConfig(name="leader", url="http://100.107.168.125"),
        P2PConfig(name="h100", url="http://100.91.25.13"),
    ]
    action = restart_p2p_action(seeds)
    assert merge([], (action,)) == (action,)  # passes the checks a config entry does
    invocation = render(action, Subject(node=NODE), {})
    assert invocation.command == RESTART_P2P_COMMAND.replace("{node}", "vast-28889768").replace(
        "{input.port}", "8770"
    ).replace("{input.peers}", "100.107.168.125:8770,100.91.25.13:8770")
    assert (
        "--node-id vast-28889768 --port 8770 --peers 100.107.168.125:8770,100.91.25.13:8770"
        in invocation.display
    )
    assert not invocation.sudo and invocation.danger == "disruptive"


def test_restart_command_parses_as_sh_and_its_pkill_pattern_spares_the_shell() -> None:
    invocation = render(restart_p2p_action(), Subject(node=NODE), {"peers": "a:1;rm -rf /"})
    assert "'a:1;rm -rf /'" in invocation.command  # a hostile value stays one argument
    subprocess.run(["sh", "-n", "-c", invocation.command], check=True)
    pattern = "^[^ ]*python[^ ]* [^ ]*p2p_orchestrator"
    orchestrator = "python scripts/p2p_orchestrator.py --node-id x --port 8770"
    venv = "/root/ringrift/ai-service/venv/bin/python3 scripts/p2p_orchestrator.py --node-id x"
    shell = "sh -c " + shlex.quote(invocation.command)
    assert re.search(pattern, orchestrator) and re.search(pattern, venv) and not re.search(pattern, shell)


def test_api_actions_render_the_exact_call() -> None:
    client = VastClient(VastConfig(url="https://console.vast.ai", api_key="${env:VAST_API_KEY}"))
    (inst, *_) = [i for i in _instances() if i.id == 28890015]
    stop = render_api(STOP_INSTANCE, inst, client)
    assert stop.display == 'PUT https://console.vast.ai/api/v0/instances/28890015/ {"state": "stopped"}'
    assert (stop.target, stop.confirm, stop.danger) == ("vast-2080ti", True, "disruptive")
    destroy = render_api(DESTROY_INSTANCE, inst, client)
    assert destroy.display == "DELETE https://console.vast.ai/api/v0/instances/28890015/ {}"
    with pytest.raises(ReadOnlyError):
        render_api(DESTROY_INSTANCE, inst, client, read_only=True)


def _instances():  # type: ignore[no-untyped-def]
    from cockpit.sources.vast import parse_instances

    rows = [i.row(T) for i in demo_instances("ok", T)]
    parsed = parse_instances(json.dumps({"instances": rows}))
    assert isinstance(parsed, tuple)
    return parsed


async def test_run_api_is_audited_before_and_after(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VAST_API_KEY", SIM_API_KEY)
    server = VastApiSim(demo_instances("ok", T), clock=lambda: T)
    await server.start()
    audit = AuditLog(tmp_path / "audit.jsonl")
    lines: list[str] = []
    try:
        async with VastClient(VastConfig(url=server.base_url, api_key="${env:VAST_API_KEY}")) as client:
            (inst, *_) = [i for i in (await client.instances()).instances if i.id == 28918742]
            result = await run_api(
                render_api(DESTROY_INSTANCE, inst, client), client, audit=audit, sink=lines.append
            )
            again = await run_api(render_api(DESTROY_INSTANCE, inst, client), client, audit=audit)
    finally:
        await server.stop()
    assert result.outcome is Outcome.OK and result.exit_status == 200
    assert (again.outcome, again.exit_status, again.error) == (
        Outcome.FAILED,
        404,
        "HTTP 404: Instance 28918742 not found.",
    )
    assert lines == [
        f"$ DELETE {server.base_url}/api/v0/instances/28918742/ {{}}",
        "HTTP 200: instance 28918742: destroyed",
    ]
    records = read_records(tmp_path / "audit.jsonl")
    assert [r["event"] for r in records] == ["start", "end", "start", "end"]
    assert records[0]["action"] == "vast-destroy" and records[0]["target"] == "vast-a40"
    assert records[0]["run_on"] == "api" and records[1]["outcome"] == "ok"
    assert SIM_API_KEY not in (tmp_path / "audit.jsonl").read_text()


async def test_stop_all_idle(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VAST_API_KEY", SIM_API_KEY)
    server = VastApiSim(demo_instances("cost-spike", T), clock=lambda: T)
    await server.start()
    idle = IdleTracker(util_pct=10, after_s=600)
    try:
        async with VastClient(
            VastConfig(url=server.base_url, api_key="${env:VAST_API_KEY}"), clock=lambda: T
        ) as c:
            reading = await c.instances()
            idle.update(reading)
            idle.update(InstancesReading(at=T + 600, instances=reading.instances, data_at=T + 600))
            plan = plan_stop_idle(reading.instances, idle, T + 600)
            results = await stop_idle(plan, c)
            after = await c.instances()
    finally:
        await server.stop()
    assert len(plan.instances) == 7 and all(r.ok for r in results)
    assert plan.summary == f"stop 7 idle instances, saving ${plan.saves_usd_h:.2f}/h"
    assert plan.saves_usd_h == pytest.approx(sum(i.dph_total - i.storage_usd_h for i in plan.instances))  # type: ignore[operator]
    assert plan.lines()[0] == "28844401  vast-l40s  L40S x1  $0.560/h  idle 10 min"
    stopped = {i.id for i in after.instances if i.actual_status == "stopped"}
    assert stopped == {i.id for i in plan.instances}
