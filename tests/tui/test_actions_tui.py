"""Pilot tests of the action flow against a real SSH server (the simulator on loopback):
menu -> confirm -> streamed output -> exit status, the audit trail, cancel, read-only refusal,
and the typed-name confirmation of a destructive action."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from textual.widgets import Button

from cockpit.app import CockpitApp, Options
from cockpit.config import Cluster
from cockpit.sim import SimCluster
from screens.action_menu import ActionMenu
from screens.confirm import ConfirmScreen
from widgets.live_table import LiveTable
from widgets.log_pane import LogPane


def _cluster(tmp_path: Path, **extra: object) -> Cluster:
    return Cluster.model_validate(
        {
            "cluster": "t",
            "refresh": 1,
            "ssh": {
                "user": "typhon",
                "known_hosts": str(tmp_path / "known_hosts"),
                "config_file": None,
                "agent": False,
                "command_timeout": 5,
            },
            "nodes": [
                {
                    "name": "box",
                    "host": "127.0.0.1",
                    "port": 1,
                    "units": ["tabbyapi"],
                    "sim": {
                        "gpus": ["NVIDIA GeForce RTX 4090"],
                        "containers": [{"name": "litellm", "image": "litellm:main", "state": "crash-loop"}],
                    },
                }
            ],
            **extra,
        }
    )


async def _until(pilot, check, timeout: float = 15.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not check():
        assert loop.time() < deadline, "timed out"
        await pilot.pause(0.1)


def _log_text(app: CockpitApp) -> str:
    log = app.dashboard.query_one(LogPane).log
    return "\n".join(line.text for line in log.lines)


@pytest.fixture
async def sim(tmp_path: Path):
    sim = SimCluster(_cluster(tmp_path), state_dir=tmp_path / "sim", ephemeral_ports=True)
    await sim.start()
    yield sim
    await sim.stop()


async def test_restart_a_crash_looping_container_streams_and_audits(sim, tmp_path: Path) -> None:
    audit = tmp_path / "audit.jsonl"
    app = CockpitApp(sim.effective_cluster(), Options(audit_path=audit))
    async with app.run_test(size=(140, 45)) as pilot:
        await _until(pilot, lambda: app.dashboard.state and app.dashboard.state.node("box").crash_looping)
        await pilot.press("c")
        table = app.dashboard.query_one("#containers", LiveTable)
        await _until(pilot, lambda: table.cursor_key == ("box", "litellm"))
        await pilot.press("a")
        assert isinstance(app.screen, ActionMenu)
        await pilot.press("r")
        assert isinstance(app.screen, ConfirmScreen)
        assert app.screen.focused.id == "cancel", "focus starts on Cancel"
        assert "docker restart litellm" in app.screen.invocations[0].display
        await pilot.press("tab", "enter")
        await _until(pilot, lambda: not app.actions.running and "──" in _log_text(app))
        text = _log_text(app)
        assert "$ docker restart litellm" in text and "litellm" in text.splitlines()[1]
        assert "ok" in text.splitlines()[-1]
        records = [json.loads(line) for line in audit.read_text().splitlines()]
        assert [r["event"] for r in records] == ["start", "end"]
        assert records[0]["node"] == "box" and records[1]["exit_status"] == 0
        assert sim.world("box").services.states()["container:litellm"] != "crash-loop"
        # The dashboard sees the fix: the crash loop leaves the state (and with it the alert).
        await _until(pilot, lambda: not app.dashboard.state.node("box").crash_looping)


async def test_cancel_stops_a_following_log_and_is_audited(sim, tmp_path: Path) -> None:
    audit = tmp_path / "audit.jsonl"
    app = CockpitApp(sim.effective_cluster(), Options(audit_path=audit))
    async with app.run_test(size=(140, 45)) as pilot:
        await _until(pilot, lambda: app.dashboard.state and app.dashboard.state.node("box").containers)
        await pilot.press("c")
        await pilot.press("a", "l")
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("tab", "enter")
        await _until(pilot, lambda: app.actions.running and _log_text(app).count("\n") >= 2)
        await pilot.press("ctrl+c")
        await _until(pilot, lambda: not app.actions.running)
        assert "cancelled" in _log_text(app).splitlines()[-1]
        end = json.loads(audit.read_text().splitlines()[-1])
        assert end["event"] == "end" and end["cancelled"] is True


async def test_read_only_hides_disruptive_actions(sim, tmp_path: Path) -> None:
    app = CockpitApp(sim.effective_cluster(), Options(audit_path=tmp_path / "a.jsonl", read_only=True))
    async with app.run_test(size=(140, 45)) as pilot:
        await _until(pilot, lambda: app.dashboard.state and app.dashboard.state.node("box").containers)
        await pilot.press("c", "a")
        assert isinstance(app.screen, ActionMenu)
        assert {e.action.danger for e in app.screen.entries} == {"safe"}
        assert "read-only" in app.screen.title_text


async def test_destructive_action_needs_the_target_typed_back(sim, tmp_path: Path) -> None:
    app = CockpitApp(sim.effective_cluster(), Options(audit_path=tmp_path / "a.jsonl"))
    async with app.run_test(size=(140, 45)) as pilot:
        await _until(
            pilot, lambda: app.dashboard.state and app.dashboard.state.node("box").status.value == "up"
        )
        await pilot.press("n", "a")
        menu = app.screen
        assert isinstance(menu, ActionMenu)
        index = next(i for i, e in enumerate(menu.entries) if e.action.name == "docker-system-prune")
        menu.dismiss(menu.entries[index])
        await pilot.pause()
        confirm = app.screen
        assert isinstance(confirm, ConfirmScreen)
        run = confirm.query_one("#run")
        assert run.disabled
        confirm.query_one("#confirm-typed").value = "wrong"
        await pilot.pause()
        assert run.disabled
        confirm.query_one("#confirm-typed").value = "box"
        await pilot.pause()
        assert not run.disabled


async def test_delete_a_crash_looping_pod_from_the_pods_view(tmp_path: Path) -> None:
    """Kubernetes (runbook 002): O for pods, a on the pod, d, the pod's name typed back, and
    kubectl on the control node replaces it; the Pods view shows the new, healthy pod."""
    from cockpit.sim.scenarios import apply

    cluster = _cluster(tmp_path, kube={"via_node": "control", "namespace": "default"})
    control = {"name": "control", "host": "127.0.0.1", "port": 1, "probes": ["host"],
               "sim": {"gpus": [], "nvidia_smi": "missing"}}  # fmt: skip
    cluster = Cluster.model_validate(
        {**cluster.model_dump(exclude_defaults=True), "nodes": [control, *cluster.model_dump()["nodes"]]}
    )
    sim = SimCluster(cluster, state_dir=tmp_path / "sim", ephemeral_ports=True)
    await sim.start()
    try:
        await apply(sim, "k8s")
        audit = tmp_path / "audit.jsonl"
        app = CockpitApp(sim.effective_cluster(), Options(audit_path=audit))
        async with app.run_test(size=(140, 45)) as pilot:

            def crashed() -> list:
                scale = app.dashboard.state.scale if app.dashboard.state else None
                return [p for p in scale.pods if p.crash_loop and p.deployment] if scale else []

            await _until(pilot, lambda: bool(crashed()))
            pod = crashed()[0]
            await pilot.press("O")
            table = app.dashboard.query_one("#pods", LiveTable)
            await _until(pilot, lambda: table.cursor_key is not None)
            while table.cursor_key != (pod.namespace, pod.name):
                await pilot.press("j")
            await pilot.press("a")
            menu = app.screen
            assert isinstance(menu, ActionMenu)
            assert [e.action.name for e in menu.entries][:3] == [
                "pod-logs-previous",
                "pod-logs",
                "pod-delete",
            ]
            await pilot.press("d")
            confirm = app.screen
            assert isinstance(confirm, ConfirmScreen)
            assert confirm.invocations[0].display == f"kubectl delete pod --namespace default {pod.name}"
            assert confirm.invocations[0].node == "control"
            confirm.query_one("#confirm-typed").value = f"{pod.namespace}/{pod.name}"
            await pilot.pause()
            confirm.query_one("#run", Button).press()
            await _until(pilot, lambda: not app.actions.running and "──" in _log_text(app))
            assert f'pod "{pod.name}" deleted' in _log_text(app), _log_text(app)
            await _until(pilot, lambda: pod.name not in [key[1] for key in table.row_keys])
            records = [json.loads(line) for line in audit.read_text().splitlines()]
            assert records[-1]["event"] == "end" and records[-1]["exit_status"] == 0
            assert records[0]["node"] == "control" and pod.name in records[0]["command"]
    finally:
        await sim.stop()
